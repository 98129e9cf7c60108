//! [`Consumer`], the trait a plugin implements, and the values its methods
//! take and give back: [`Accept`] and [`Reject`] for a new connection,
//! [`CloseInfo`] for one that ended.

use crate::{Connection, Message, Scope};

/// How a connection ended: close code, reason, and whether the client
/// started it.
pub use crate::bindings::wasmsock::plugin::types::CloseInfo;

/// Accept a connection: the subprotocol to answer with and extra response
/// headers. [`Accept::default()`] accepts with neither.
pub use crate::bindings::wasmsock::plugin::types::Accept;

/// Refuse a connection with a plain HTTP response, sent before the upgrade.
/// Build one with [`Reject::new`].
pub use crate::bindings::wasmsock::plugin::types::Reject;

/// A WebSocket consumer: one value of the implementing type per connection.
///
/// Only [`connect`](Consumer::connect) and [`receive`](Consumer::receive)
/// are required; the rest have defaults that accept plainly and forget the
/// connection quietly.
pub trait Consumer: Sized + 'static {
    /// A client asks to connect (before the HTTP upgrade). Return the state
    /// for this connection, or a [`Reject`] to answer with an HTTP error.
    /// Messages sent from here go out right after the upgrade.
    fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject>;

    /// How to accept once [`connect`](Consumer::connect) succeeded: the
    /// subprotocol and extra headers. The default picks neither.
    fn accept(&self, scope: &Scope) -> Accept {
        let _ = scope;
        Accept::default()
    }

    /// A complete message arrived.
    fn receive(&mut self, conn: &Connection, message: Message);

    /// An event for this connection: from
    /// [`channel::group_send`](crate::channel::group_send) to `group`, or
    /// from [`channel::send`](crate::channel::send) to its address
    /// (`group` is `None`). Django Channels calls the consumer's method
    /// named by the event's `type`; here the plugin decides. The default
    /// logs a warning, as Channels fails on an event it has no handler for.
    fn event(&mut self, conn: &Connection, group: Option<&str>, event: Message) {
        let _ = event;
        crate::log::warn(format!(
            "connection {}: an event for group {:?} arrived, but the consumer does not handle events (implement Consumer::event)",
            conn.id(),
            group.unwrap_or("-")
        ));
    }

    /// `lost` messages or events for `group`, sent from another server,
    /// never reached this connection (the channel layer counted a gap).
    /// The default does nothing; a consumer that keeps state from group
    /// traffic can resync here.
    fn gap(&mut self, conn: &Connection, group: &str, lost: u64) {
        let _ = (conn, group, lost);
    }

    /// This connection was accepted by an earlier instance, and this one
    /// takes it over: after a reload (the new version's instance), or
    /// after another connection's call failed the instance that served it.
    /// `self` was rebuilt from the value kept in the connection's
    /// attachment; `path` and `params` are from its request (the rest of
    /// the [`Scope`] is not kept). Rebuild here what the value does not
    /// carry (fields marked `#[serde(skip)]`, the instance's own maps) and
    /// return true to keep serving it, or false to have the host close it
    /// with 1012 (service restart), without a
    /// [`disconnect`](Consumer::disconnect).
    ///
    /// Called only for a consumer exported with
    /// [`export_consumer!(T, adopt)`](crate::export_consumer!); the default
    /// keeps every connection as it was.
    fn adopted(&mut self, conn: &Connection, path: &str, params: &[(String, String)]) -> bool {
        let _ = (conn, path, params);
        true
    }

    /// The connection ended, whoever closed it; the state is dropped after
    /// this. Called exactly once per accepted connection.
    fn disconnect(self, conn: &Connection, close: CloseInfo) {
        let _ = (conn, close);
    }
}

// The type is generated, so it cannot carry a derive.
#[allow(clippy::derivable_impls)]
impl Default for Accept {
    fn default() -> Accept {
        Accept {
            subprotocol: None,
            headers: Vec::new(),
        }
    }
}

impl Accept {
    /// Answer with `protocol`, which must be one the client offered
    /// ([`Scope::subprotocols`]); otherwise the host refuses the handshake.
    pub fn with_subprotocol(mut self, protocol: impl Into<String>) -> Accept {
        self.subprotocol = Some(protocol.into());
        self
    }

    /// Add a header to the 101 response (not hop-by-hop or
    /// `sec-websocket-*`: those belong to the host).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Accept {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Reject {
    /// Refuse with `status` (400 to 599; the host answers anything else with
    /// 500) and an empty body.
    pub fn new(status: u16) -> Reject {
        Reject {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Set the response body (sent as `text/plain` unless a `content-type`
    /// header is added).
    pub fn with_body(mut self, body: impl Into<String>) -> Reject {
        self.body = body.into();
        self
    }

    /// Add a response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reject {
        self.headers.push((name.into(), value.into()));
        self
    }
}

// The builders are plain Rust over the generated types, so they are tested
// on the host target (`cargo test --all-features` in sdk/rust).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_and_reject_builders() {
        let a = Accept::default()
            .with_subprotocol("json")
            .with_header("x-a", "1");
        assert_eq!(a.subprotocol.as_deref(), Some("json"));
        assert_eq!(a.headers, vec![("x-a".to_string(), "1".to_string())]);
        let r = Reject::new(403).with_body("no").with_header("x-r", "2");
        assert_eq!((r.status, r.body.as_str(), r.headers.len()), (403, "no", 1));
    }
}
