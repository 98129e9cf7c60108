//! Write a wasmsock plugin as a type with one value per connection.
//!
//! The raw WIT world (`wit/consumer.wit`) hands a plugin three free functions
//! and a connection id, and leaves it to keep its own map from ids to state.
//! This crate does that bookkeeping, in the spirit of Django Channels'
//! consumer classes: implement [`Consumer`] on a struct, and
//! [`export_consumer!`] makes a component of it. `connect` builds the value
//! for a new connection (or rejects it), `receive` gets each message with
//! `&mut self`, `disconnect` consumes it.
//!
//! ```ignore
//! use wasmsock_sdk::{log, CloseInfo, Connection, Consumer, Message, Reject, Scope};
//!
//! struct Echo;
//!
//! impl Consumer for Echo {
//!     fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
//!         log::info(format!("connect {conn} path={}", scope.path));
//!         Ok(Echo)
//!     }
//!     fn receive(&mut self, conn: &Connection, msg: Message) {
//!         let _ = conn.send(&msg);
//!     }
//! }
//!
//! wasmsock_sdk::export_consumer!(Echo);
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2`; the `.wasm` it makes is
//! a plugin.
//!
//! One instance may serve many connections (shared shards), but calls into it
//! never overlap, so the state map needs no lock: it is a `thread_local!`
//! declared by [`export_consumer!`]. A panic traps the instance, and the host
//! then closes every connection it served and starts a fresh instance with an
//! empty map, so no state outlives a failure.

#![deny(missing_docs)]

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings;

pub mod config;
pub mod log;

mod message;
mod scope;

mod connection;
mod consumer;

pub use connection::{Connection, ConnectionId, SendError};
pub use consumer::{Accept, CloseInfo, Consumer, Reject};
pub use message::Message;
pub use scope::Scope;

#[cfg(feature = "json")]
mod json;
#[cfg(feature = "json")]
pub use json::JsonError;

/// Used by [`export_consumer!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::thread::LocalKey;

    use super::*;

    /// The per-connection values of one instance, by connection id.
    pub type States<T> = LocalKey<RefCell<HashMap<ConnectionId, T>>>;

    pub fn on_connect<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        scope: Scope,
    ) -> Result<Accept, Reject> {
        let conn = Connection::new(id);
        let value = T::connect(&conn, &scope)?;
        let accept = value.accept(&scope);
        states.with(|s| s.borrow_mut().insert(id, value));
        Ok(accept)
    }

    pub fn on_message<T: Consumer>(states: &'static States<T>, id: ConnectionId, msg: Message) {
        // Taken out while the consumer runs, so no borrow is held across
        // plugin code (which may, for instance, look at other connections).
        let Some(mut value) = states.with(|s| s.borrow_mut().remove(&id)) else {
            return; // not accepted by this instance: nothing to deliver to
        };
        value.receive(&Connection::new(id), msg);
        states.with(|s| s.borrow_mut().insert(id, value));
    }

    pub fn on_disconnect<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        close: CloseInfo,
    ) {
        if let Some(value) = states.with(|s| s.borrow_mut().remove(&id)) {
            value.disconnect(&Connection::new(id), close);
        }
    }
}

/// Make a component of a [`Consumer`] type: generates the WIT `handler`
/// export and the per-connection state map. Invoke once, at the crate root
/// of a `cdylib`: `wasmsock_sdk::export_consumer!(MyConsumer);`.
#[macro_export]
macro_rules! export_consumer {
    ($ty:ty) => {
        const _: () = {
            ::std::thread_local! {
                static STATES: ::std::cell::RefCell<
                    ::std::collections::HashMap<$crate::ConnectionId, $ty>,
                > = ::std::cell::RefCell::new(::std::collections::HashMap::new());
            }

            struct WasmsockExport;

            impl $crate::bindings::exports::wasmsock::plugin::handler::Guest for WasmsockExport {
                fn on_connect(
                    conn: $crate::ConnectionId,
                    scope: $crate::Scope,
                ) -> ::core::result::Result<$crate::Accept, $crate::Reject> {
                    $crate::__private::on_connect::<$ty>(&STATES, conn, scope)
                }

                fn on_message(conn: $crate::ConnectionId, message: $crate::Message) {
                    $crate::__private::on_message::<$ty>(&STATES, conn, message)
                }

                fn on_disconnect(conn: $crate::ConnectionId, info: $crate::CloseInfo) {
                    $crate::__private::on_disconnect::<$ty>(&STATES, conn, info)
                }
            }

    $crate::bindings::export!(WasmsockExport with_types_in $crate::bindings);
        };
    };
}

// The helpers are plain Rust over the generated types, so they are tested
// on the host target (`cargo test --all-features` in this folder); the WIT
// imports themselves only exist inside a wasm instance.
#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "json")]
    #[test]
    fn json_decodes_text_and_binary_and_reports_errors() {
        let v: Vec<u32> = Message::Text("[1,2]".into()).json().expect("text JSON");
        assert_eq!(v, vec![1, 2]);
        let v: Vec<u32> = Message::Binary(b"[3]".to_vec())
            .json()
            .expect("binary JSON");
        assert_eq!(v, vec![3]);
        let e = Message::Text("{".into())
            .json::<Vec<u32>>()
            .expect_err("bad JSON");
        assert!(e.to_string().starts_with("invalid JSON"), "{e}");
    }
}
