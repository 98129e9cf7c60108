//! [`Connection`]: a handle on one connection, and the `connection`
//! interface's calls on it (`send`, `close`) with their [`SendError`].

use std::fmt;

use crate::bindings::wasmsock::plugin::connection as wit_connection;
use crate::Message;

/// Why the host refused a `send` or `close`: unknown or closed connection,
/// message too large, invalid close code or reason, or a full outbound
/// queue. The host never traps a plugin for these; they are plain values.
pub use crate::bindings::wasmsock::plugin::types::Error as SendError;

/// A connection id: unique for the life of the server process, never reused.
pub type ConnectionId = u64;

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
    /// 3000-4999) and `reason` (at most 123 bytes).
    /// [`Consumer::disconnect`](crate::Consumer::disconnect) follows once the
    /// connection is gone.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        wit_connection::close(self.id, code, reason)
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.id, f)
    }
}

// `send` and `close` are WIT imports, which only exist inside a wasm
// instance; the rest is tested on the host target.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_displays_as_its_id() {
        assert_eq!(Connection::new(7).to_string(), "7");
        assert_eq!(Connection::new(7).id(), 7);
    }
}
