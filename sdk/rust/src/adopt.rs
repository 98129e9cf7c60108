//! Feature `adopt`: what `export_consumer!(T, adopt)` adds. Each
//! connection's value is written to its [`attachment`](crate::attachment)
//! as JSON after every call that changed it, and `on-adopt` rebuilds the
//! value from that attachment in the instance that takes the connection
//! over (a reload's new version, or the fresh instance after a failure).
//!
//! Serializing after every call is what makes it automatic; writing only
//! what changed is what keeps it cheap. The SDK remembers a 64-bit hash of
//! the bytes it last stored for each connection, not the bytes: a call
//! that left the value as it was costs one serialization into a reused
//! buffer and one hash, and no host call.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::attachment::{self, Error};
use crate::export::__private::{Keep, States};
use crate::{Connection, ConnectionId, Consumer};

/// What the SDK remembers about one connection's attachment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Kept {
    /// Hash of the bytes the host holds, once a `set` succeeded (or the
    /// connection was adopted with them).
    hash: Option<u64>,
    /// Whether the value was refused (too large, or not serializable) and
    /// that was logged: said once per connection, not once per message.
    warned: bool,
}

thread_local! {
    /// Per connection of this instance; an entry is dropped with its
    /// connection.
    static KEPT: RefCell<HashMap<ConnectionId, Kept>> = RefCell::new(HashMap::new());
    /// The buffer values are serialized into, reused across calls.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// What [`keep`] did with a value's bytes.
#[derive(Debug)]
enum Outcome {
    /// The host already holds these bytes: no call was made.
    Unchanged,
    /// The host now holds them.
    Stored,
    /// Over the cap of `max` bytes; the host keeps the previous ones.
    /// `first` when this connection had not been warned yet.
    TooLarge { max: u64, first: bool },
    /// Refused for another reason (the connection is closing or gone): no
    /// one will adopt it, so nothing to say above debug level.
    Refused(Error),
}

/// Store `bytes` for a connection through `set`, unless `kept` says the
/// host holds them already. Apart from the host call, so it can be tested.
fn keep(kept: &mut Kept, bytes: &[u8], set: impl FnOnce(&[u8]) -> Result<(), Error>) -> Outcome {
    let h = hash(bytes);
    if kept.hash == Some(h) {
        return Outcome::Unchanged;
    }
    match set(bytes) {
        Ok(()) => {
            kept.hash = Some(h);
            Outcome::Stored
        }
        Err(Error::TooLarge(max)) => Outcome::TooLarge {
            max,
            first: !std::mem::replace(&mut kept.warned, true),
        },
        Err(e) => Outcome::Refused(e),
    }
}

/// Keep each value in its connection's attachment: the [`Keep`] of
/// `export_consumer!(T, adopt)`.
pub enum Attach {}

impl<T: Serialize> Keep<T> for Attach {
    fn kept(id: ConnectionId, value: &T) {
        let mut buf = SCRATCH.take();
        buf.clear();
        match serde_json::to_writer(&mut buf, value) {
            Ok(()) => store(id, &buf),
            Err(e) => {
                // A map with non-string keys, say: JSON cannot hold it.
                let first = KEPT.with(|k| {
                    let mut k = k.borrow_mut();
                    !std::mem::replace(&mut k.entry(id).or_default().warned, true)
                });
                if first {
                    crate::warn!(
                        "connection {id}: its consumer value cannot be kept in its attachment \
                         ({e}); a reload or a failed instance will close it (said once per \
                         connection)"
                    );
                }
            }
        }
        SCRATCH.set(buf);
    }

    fn forget(id: ConnectionId) {
        KEPT.with(|k| k.borrow_mut().remove(&id));
    }
}

fn store(id: ConnectionId, bytes: &[u8]) {
    let conn = Connection::new(id);
    // `set` is a host call: it cannot call back into this instance, so the
    // borrow may be held across it.
    let outcome = KEPT.with(|k| {
        let mut k = k.borrow_mut();
        keep(k.entry(id).or_default(), bytes, |b| {
            attachment::set(&conn, b)
        })
    });
    match outcome {
        Outcome::Unchanged | Outcome::Stored | Outcome::TooLarge { first: false, .. } => {}
        Outcome::TooLarge { max, first: true } => crate::warn!(
            "connection {id}: its consumer value is {} bytes as JSON, over the attachment \
             cap of {max} (`attachment_max_bytes` in the manifest); the last value that fit is \
             what a reload or a failed instance will restore (said once per connection)",
            bytes.len()
        ),
        Outcome::Refused(e) => crate::debug!("connection {id}: attachment not kept: {e:?}"),
    }
}

/// Why an attachment did not give a value back.
#[derive(Debug)]
enum DecodeError {
    /// Nothing was kept: the connection was accepted by an instance that
    /// did not keep its value (another build, or its value never fit).
    Empty,
    /// The bytes are not JSON of the type's shape (a field was renamed or
    /// retyped since they were written).
    Json(serde_json::Error),
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    serde_json::from_slice(bytes).map_err(DecodeError::Json)
}

/// `adopt-handler.on-adopt`: rebuild connection `id`'s value from its
/// attachment, let [`Consumer::adopted`] accept it, and serve it from now
/// on. False (the host closes the connection with 1012) when the
/// attachment does not decode or `adopted` says no.
pub fn on_adopt<T: Consumer + Serialize + DeserializeOwned>(
    states: &'static States<T>,
    id: ConnectionId,
    path: String,
    params: Vec<(String, String)>,
    attachment: Vec<u8>,
) -> bool {
    let mut value: T = match decode(&attachment) {
        Ok(value) => value,
        Err(DecodeError::Empty) => {
            crate::warn!(
                "connection {id} ({path}): no value was kept in its attachment, so it cannot be \
                 adopted; the host closes it with 1012"
            );
            return false;
        }
        Err(DecodeError::Json(e)) => {
            crate::warn!(
                "connection {id} ({path}): its attachment ({} bytes) is not a value of this \
                 consumer ({e}), so it cannot be adopted; the host closes it with 1012",
                attachment.len()
            );
            return false;
        }
    };
    let conn = Connection::new(id);
    if !value.adopted(&conn, &path, &params) {
        return false;
    }
    // The host holds `attachment`: a value that `adopted` left as it was
    // is not written back.
    KEPT.with(|k| {
        k.borrow_mut().insert(
            id,
            Kept {
                hash: Some(hash(&attachment)),
                warned: false,
            },
        )
    });
    <Attach as Keep<T>>::kept(id, &value);
    states.with(|s| s.borrow_mut().insert(id, value));
    true
}

// The host calls only exist inside a wasm instance; what decides whether
// to make them is tested here on the host target.
#[cfg(test)]
mod tests {
    use super::*;

    fn set_ok(calls: &mut Vec<Vec<u8>>) -> impl FnOnce(&[u8]) -> Result<(), Error> + '_ {
        |b| {
            calls.push(b.to_vec());
            Ok(())
        }
    }

    #[test]
    fn stores_only_bytes_that_changed() {
        let mut kept = Kept::default();
        let mut calls = Vec::new();
        assert!(matches!(
            keep(&mut kept, b"{\"n\":1}", set_ok(&mut calls)),
            Outcome::Stored
        ));
        assert!(matches!(
            keep(&mut kept, b"{\"n\":1}", set_ok(&mut calls)),
            Outcome::Unchanged
        ));
        assert!(matches!(
            keep(&mut kept, b"{\"n\":2}", set_ok(&mut calls)),
            Outcome::Stored
        ));
        // Back to a value the host held before, but not now: written.
        assert!(matches!(
            keep(&mut kept, b"{\"n\":1}", set_ok(&mut calls)),
            Outcome::Stored
        ));
        assert_eq!(calls.len(), 3);
    }

    #[test]
    fn too_large_is_reported_once_and_retried_on_change() {
        let mut kept = Kept::default();
        let mut calls = Vec::new();
        keep(&mut kept, b"small", set_ok(&mut calls));
        let big = |_: &[u8]| Err(Error::TooLarge(8));
        assert!(matches!(
            keep(&mut kept, b"too big a value", big),
            Outcome::TooLarge {
                max: 8,
                first: true
            }
        ));
        assert!(matches!(
            keep(&mut kept, b"too big a value", big),
            Outcome::TooLarge {
                max: 8,
                first: false
            }
        ));
        // The host still holds "small": the same bytes are not written again.
        assert!(matches!(
            keep(&mut kept, b"small", set_ok(&mut calls)),
            Outcome::Unchanged
        ));
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn other_refusals_leave_the_value_to_be_written_again() {
        let mut kept = Kept::default();
        assert!(matches!(
            keep(&mut kept, b"x", |_| Err(Error::Closed)),
            Outcome::Refused(Error::Closed)
        ));
        let mut calls = Vec::new();
        assert!(matches!(
            keep(&mut kept, b"x", set_ok(&mut calls)),
            Outcome::Stored
        ));
    }

    #[test]
    fn decode_gives_the_value_back_or_says_why_not() {
        // A tuple stands in for a consumer's derived struct.
        type Value = (u64, String);
        let value: Value = (3, "lobby".into());
        let bytes = serde_json::to_vec(&value).expect("serialize");
        assert_eq!(decode::<Value>(&bytes).expect("decode"), value);
        assert!(matches!(decode::<Value>(b""), Err(DecodeError::Empty)));
        assert!(matches!(
            decode::<Value>(br#"["three","lobby"]"#),
            Err(DecodeError::Json(_))
        ));
    }
}
