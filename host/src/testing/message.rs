//! What passes between the test client and the plugin: data messages, the
//! close the plugin starts, and each item of the outbound queue.

use std::fmt;

use crate::runtime::bindings;

/// A WebSocket data message, as the plugin sends or receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl From<Message> for bindings::Message {
    fn from(m: Message) -> bindings::Message {
        match m {
            Message::Text(t) => bindings::Message::Text(t),
            Message::Binary(b) => bindings::Message::Binary(b),
        }
    }
}

/// A close the plugin started (`connection.close`), or the host's 1011 when
/// the plugin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Close code.
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

/// One item from the connection's outbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A data message.
    Message(Message),
    /// The close handshake starts: nothing follows.
    Close(CloseFrame),
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Message(Message::Text(t)) => write!(f, "text {t:?}"),
            Output::Message(Message::Binary(b)) => write!(f, "binary ({} bytes)", b.len()),
            Output::Close(c) => write!(f, "close {} {:?}", c.code, c.reason),
        }
    }
}
