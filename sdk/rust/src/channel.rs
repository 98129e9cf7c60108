//! The channel layer beyond broadcast: events to a group's members'
//! [`Consumer::event`](crate::Consumer::event) (Django Channels'
//! `group_send`), and events or messages to one connection by address
//! ([`Connection::address`]; Channels' `channel_layer.send`), on this
//! server or another one sharing its layer.
//!
//! ```ignore
//! use wasmsock_sdk::{channel, Message};
//!
//! let _ = channel::group_send("room", &Message::Text(r#"{"type":"chat.message"}"#.into()), None);
//! ```

use crate::bindings::wasmsock::plugin::channel as wit_channel;
use crate::{Connection, Message};

/// Why the host refused a channel call: an invalid group name or address,
/// a payload over the server's limit, or a plugin that takes no events.
/// Plain values, never traps.
pub use crate::bindings::wasmsock::plugin::channel::ChannelError;

/// Deliver `event` to the [`Consumer::event`](crate::Consumer::event) of
/// every member of `group` except `exclude`, on every server; returns how
/// many members on this server it was queued for.
pub fn group_send(
    group: &str,
    event: &Message,
    exclude: Option<&Connection>,
) -> Result<u32, ChannelError> {
    wit_channel::group_send(group, event, exclude.map(Connection::id))
}

/// Deliver `event` to the [`Consumer::event`](crate::Consumer::event) of
/// the connection at `address`, wherever it is. `Ok(false)`: that
/// connection (or its server) is gone.
pub fn send(address: &str, event: &Message) -> Result<bool, ChannelError> {
    wit_channel::send(address, event)
}

/// Write `message` to the socket of the connection at `address`, wherever
/// it is, with no plugin call. `Ok(false)`: that connection (or its server)
/// is gone.
pub fn send_message(address: &str, message: &Message) -> Result<bool, ChannelError> {
    wit_channel::send_message(address, message)
}
