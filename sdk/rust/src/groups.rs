//! Groups of connections, for broadcast: Django Channels' groups. A group
//! spans every instance and shard of the plugin; a plugin sees only its own
//! groups, and a connection leaves all of them when it closes.
//!
//! ```ignore
//! use wasmsock_sdk::{groups, Connection, Message};
//!
//! fn enter(conn: &Connection, room: &str) {
//!     let _ = conn.join(room);
//!     let _ = groups::broadcast(room, &Message::Text("someone joined".into()), Some(conn));
//! }
//! ```

use crate::bindings::wasmsock::plugin::groups as wit_groups;
use crate::{Connection, Message};

/// Why the host refused a group call: an invalid group name (1 to 100
/// bytes of ASCII letters, digits, `-`, `_`, `.`, `:`), a connection this
/// instance does not serve, a message over the server's limit, or too many
/// groups for one connection. Plain values, never traps.
pub use crate::bindings::wasmsock::plugin::groups::GroupError;

/// Queue `message` for every member of `group` except `exclude`; returns how
/// many members it was queued for. The host shares one buffer among them
/// and calls no plugin per member.
pub fn broadcast(
    group: &str,
    message: &Message,
    exclude: Option<&Connection>,
) -> Result<u32, GroupError> {
    wit_groups::broadcast(group, message, exclude.map(Connection::id))
}

/// Queue a text message for every member of `group` except `exclude`.
pub fn broadcast_text(
    group: &str,
    text: impl Into<String>,
    exclude: Option<&Connection>,
) -> Result<u32, GroupError> {
    broadcast(group, &Message::Text(text.into()), exclude)
}

/// How many connections are in `group`.
pub fn count(group: &str) -> Result<u32, GroupError> {
    wit_groups::count(group)
}

/// The members of `group`, as addresses ([`Connection::address`]), in the
/// order they joined.
pub fn members(group: &str) -> Result<Vec<String>, GroupError> {
    wit_groups::members(group)
}

#[cfg(feature = "json")]
pub use crate::json::broadcast_json;

impl Connection {
    /// Add this connection to `group`; joining twice is no error.
    pub fn join(&self, group: &str) -> Result<(), GroupError> {
        wit_groups::join(self.id(), group)
    }

    /// Take this connection out of `group`; no error if it was not in it.
    pub fn leave(&self, group: &str) -> Result<(), GroupError> {
        wit_groups::leave(self.id(), group)
    }

    /// This connection's address: a name valid on every host of a cluster
    /// (ids are unique within one server process only), as listed by
    /// [`members`]. Channels' `channel_name`.
    pub fn address(&self) -> Result<String, GroupError> {
        wit_groups::address(self.id())
    }
}
