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

use std::fmt;

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings;

mod message;
mod scope;

pub use message::Message;
pub use scope::Scope;

use bindings::wasmsock::plugin::{config as wit_config, connection as wit_connection};

/// How a connection ended: close code, reason, and whether the client
/// started it.
pub use bindings::wasmsock::plugin::types::CloseInfo;

/// Accept a connection: the subprotocol to answer with and extra response
/// headers. [`Accept::default()`] accepts with neither.
pub use bindings::wasmsock::plugin::types::Accept;

/// Refuse a connection with a plain HTTP response, sent before the upgrade.
/// Build one with [`Reject::new`].
pub use bindings::wasmsock::plugin::types::Reject;

/// Why the host refused a `send` or `close`: unknown or closed connection,
/// message too large, invalid close code or reason, or a full outbound
/// queue. The host never traps a plugin for these; they are plain values.
pub use bindings::wasmsock::plugin::types::Error as SendError;

/// A connection id: unique for the life of the server process, never reused.
pub type ConnectionId = u64;

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

/// A handle on one connection: its id and the calls that act on it. Cheap to
/// copy; displays as its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connection {
    id: ConnectionId,
}

impl Connection {
    /// A handle on connection `id`. Plugins get theirs from the SDK; this is
    /// for sending to another connection the instance serves (a chat room).
    pub fn new(id: ConnectionId) -> Connection {
        Connection { id }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Queue a message. Returns once queued, not once written.
    pub fn send(&self, message: &Message) -> Result<(), SendError> {
        wit_connection::send(self.id, message)
    }

    /// Queue a text message.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.send(&Message::Text(text.into()))
    }

    /// Queue a binary message.
    pub fn send_binary(&self, bytes: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.send(&Message::Binary(bytes.into()))
    }

    /// Start the close handshake with `code` (1000, 1001, 1003, 1007-1014 or
    /// 3000-4999) and `reason` (at most 123 bytes). [`Consumer::disconnect`]
    /// follows once the connection is gone.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        wit_connection::close(self.id, code, reason)
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.id, f)
    }
}

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

    /// The connection ended, whoever closed it; the state is dropped after
    /// this. Called exactly once per accepted connection.
    fn disconnect(self, conn: &Connection, close: CloseInfo) {
        let _ = (conn, close);
    }
}

/// Logging to the server's log, tagged with the plugin's name. Lines over
/// the plugin's rate limit are dropped (and counted) by the host.
pub mod log {
    use std::cell::Cell;

    pub use crate::bindings::wasmsock::plugin::log::Level;
    use crate::bindings::wasmsock::plugin::log::{enabled as host_enabled, log};

    thread_local! {
        /// The host's answer per level: 0 not asked yet, 1 no, 2 yes.
        static ENABLED: [Cell<u8>; 5] = const { [const { Cell::new(0) }; 5] };
    }

    /// Whether a line at `level` would reach the server's log. Asked of the
    /// host once per level (its filter is fixed for an instance's life), so
    /// checking before formatting a line costs next to nothing. The
    /// [`trace!`](crate::trace), [`debug!`](crate::debug),
    /// [`info!`](crate::info), [`warn!`](crate::warn) and
    /// [`error!`](crate::error) macros check it for you.
    pub fn enabled(level: Level) -> bool {
        ENABLED.with(|known| {
            let slot = &known[level as usize];
            match slot.get() {
                0 => {
                    let yes = host_enabled(level);
                    slot.set(if yes { 2 } else { 1 });
                    yes
                }
                answer => answer == 2,
            }
        })
    }

    /// Log at trace level.
    pub fn trace(message: impl AsRef<str>) {
        log(Level::Trace, message.as_ref());
    }
    /// Log at debug level.
    pub fn debug(message: impl AsRef<str>) {
        log(Level::Debug, message.as_ref());
    }
    /// Log at info level.
    pub fn info(message: impl AsRef<str>) {
        log(Level::Info, message.as_ref());
    }
    /// Log at warn level.
    pub fn warn(message: impl AsRef<str>) {
        log(Level::Warn, message.as_ref());
    }
    /// Log at error level.
    pub fn error(message: impl AsRef<str>) {
        log(Level::Error, message.as_ref());
    }
}

/// Log a line at trace level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Trace) {
            $crate::log::trace(::std::format!($($arg)+));
        }
    };
}

/// Log a line at debug level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::debug(::std::format!($($arg)+));
        }
    };
}

/// Log a line at info level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Info) {
            $crate::log::info(::std::format!($($arg)+));
        }
    };
}

/// Log a line at warn level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Warn) {
            $crate::log::warn(::std::format!($($arg)+));
        }
    };
}

/// Log a line at error level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Error) {
            $crate::log::error(::std::format!($($arg)+));
        }
    };
}

/// The plugin's own settings: the `[config]` table of its manifest.
pub mod config {
    use super::wit_config;

    /// The value for `key`, if set.
    pub fn get(key: &str) -> Option<String> {
        wit_config::get(key)
    }

    /// Every key and value, sorted by key.
    pub fn all() -> Vec<(String, String)> {
        wit_config::get_all()
    }
}

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

    #[test]
    fn builders_and_message_helpers() {
        let a = Accept::default()
            .with_subprotocol("json")
            .with_header("x-a", "1");
        assert_eq!(a.subprotocol.as_deref(), Some("json"));
        assert_eq!(a.headers, vec![("x-a".to_string(), "1".to_string())]);
        let r = Reject::new(403).with_body("no").with_header("x-r", "2");
        assert_eq!((r.status, r.body.as_str(), r.headers.len()), (403, "no", 1));

        assert_eq!(Connection::new(7).to_string(), "7");
    }

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
