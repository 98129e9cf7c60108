//! The channel layer: groups of connections, events, and sends by address,
//! on this host and across hosts.
//!
//! [`Groups`] is the membership of this host's connections, per plugin and
//! group, and the list a broadcast fans out over: directly, with one shared
//! payload and no wasm call per member. It knows nothing of outboxes or
//! sockets (it is generic over what a member is), so it sits below the
//! runtime, which fills it from the `groups` import.
//!
//! A [`Layer`] carries what other hosts must see: membership (for counts
//! and member lists), group traffic and sends to their connections. Local
//! delivery never waits on it. [`Memory`], the default, is one host alone;
//! the Redis backend (`redis.rs`) joins many hosts through one Redis.
//! What a layer receives for this host's connections it hands to an
//! [`Inbound`], which the runtime implements.

mod local;
mod redis;
mod view;
mod wire;

use bytes::Bytes;

pub use local::{GroupKey, Groups, JoinError};
pub use redis::{Redis, RedisError};

/// Longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 100;

/// Groups one connection may be in at once: a plugin that joins in a loop
/// cannot grow the host's tables without bound.
pub const MAX_GROUPS_PER_CONNECTION: usize = 64;

/// The address of connection `conn` of host `host`: what `groups.address`
/// gives a plugin, and what `channel.send` takes.
pub fn address(host: &str, conn: u64) -> String {
    format!("{host}.{conn}")
}

/// The host and connection an address names, if it is one.
pub fn parse_address(address: &str) -> Option<(&str, u64)> {
    let (host, conn) = address.rsplit_once('.')?;
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
    if host.is_empty() || host.len() > 64 || !host.bytes().all(plain) {
        return None;
    }
    if conn.is_empty() || !conn.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, conn.parse().ok()?))
}

/// True for a group name a plugin may use: 1 to [`MAX_GROUP_NAME`] bytes of
/// ASCII letters, digits and `-`, `_`, `.`, `:` (Channels allows the same
/// set but for `:`, which the rooms of a chat like to use).
pub fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_GROUP_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// What a payload becomes at its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message written to the recipient's socket.
    Message,
    /// An event for the recipient's plugin (`event-handler.on-event`).
    Event,
}

/// A message or event on its way to connections of other hosts: one buffer,
/// shared by every recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Message or event.
    pub kind: Kind,
    /// True for binary, false for text (UTF-8, checked by whoever turns
    /// received bytes into a text message).
    pub binary: bool,
    /// The bytes.
    pub data: Bytes,
}

/// What other hosts must learn from this one, and what this one knows of
/// them. Calls never block on the network: a backend queues what it
/// publishes and answers questions from what it has already received.
pub trait Layer: Send + Sync + std::fmt::Debug {
    /// Connection `conn` of this host joined `plugin`'s `group`.
    fn joined(&self, plugin: &str, group: &str, conn: u64);

    /// Connection `conn` of this host left `plugin`'s `group` (or closed).
    fn left(&self, plugin: &str, group: &str, conn: u64);

    /// Hand a group's message or event to the other hosts with members.
    fn publish(&self, plugin: &str, group: &str, payload: Payload);

    /// Hand a message or event from `plugin` to connection `conn` of host
    /// `host` (delivered only if `plugin` serves it); false when no host by
    /// that name is known.
    fn send_to(&self, host: &str, plugin: &str, conn: u64, payload: Payload) -> bool;

    /// Members of `plugin`'s `group` on other hosts, as addresses.
    fn remote_members(&self, plugin: &str, group: &str) -> Vec<String>;

    /// How many members `plugin`'s `group` has on other hosts.
    fn remote_count(&self, plugin: &str, group: &str) -> usize;

    /// Figures for `/status`.
    fn status(&self) -> LayerStatus;
}

/// Where a layer delivers what other hosts sent to this one's connections.
pub trait Inbound: Send + Sync {
    /// A message or event for this host's members of `plugin`'s `group`.
    fn to_group(&self, plugin: &str, group: &str, payload: Payload);

    /// A message or event from `plugin` for connection `conn` of this
    /// host; dropped unless `plugin` serves it.
    fn to_connection(&self, plugin: &str, conn: u64, payload: Payload);

    /// `lost` messages or events for `plugin`'s `group` from another host
    /// never arrived.
    fn gap(&self, plugin: &str, group: &str, lost: u64);
}

/// A layer's figures, for `/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LayerStatus {
    /// `memory` or `redis`.
    pub kind: &'static str,
    /// True while the layer reaches the other hosts (always, for memory).
    pub connected: bool,
    /// Other hosts seen alive.
    pub hosts: usize,
    /// Groups this host receives traffic of.
    pub subscriptions: usize,
    /// Messages and events published to other hosts.
    pub published: u64,
    /// Messages and events received from other hosts.
    pub received: u64,
    /// Messages and events other hosts sent that never arrived here
    /// (detected by gaps in their sequence numbers).
    pub gaps: u64,
    /// Messages and events this host could not publish (the layer was
    /// down or its queue full).
    pub unpublished: u64,
}

/// The default layer: this host alone. Nothing to publish, no one else to
/// count.
#[derive(Debug, Default)]
pub struct Memory;

impl Layer for Memory {
    fn joined(&self, _: &str, _: &str, _: u64) {}

    fn left(&self, _: &str, _: &str, _: u64) {}

    fn publish(&self, _: &str, _: &str, _: Payload) {}

    fn send_to(&self, _: &str, _: &str, _: u64, _: Payload) -> bool {
        false
    }

    fn remote_members(&self, _: &str, _: &str) -> Vec<String> {
        Vec::new()
    }

    fn remote_count(&self, _: &str, _: &str) -> usize {
        0
    }

    fn status(&self) -> LayerStatus {
        LayerStatus {
            kind: "memory",
            connected: true,
            ..LayerStatus::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_a_host_and_a_connection() {
        assert_eq!(
            parse_address(&address("ab12cd34", 7)),
            Some(("ab12cd34", 7))
        );
        for bad in [
            "",
            "7",
            ".7",
            "host.",
            "host.x",
            "ho st.1",
            "h.-1",
            "h.99999999999999999999",
        ] {
            assert_eq!(parse_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn group_names_are_short_and_plain() {
        for ok in ["a", "room:lobby", "chat.room-1_x", &"x".repeat(100)] {
            assert!(valid_group_name(ok), "{ok}");
        }
        for bad in ["", "has space", "é", "a/b", "a\0", &"x".repeat(101)] {
            assert!(!valid_group_name(bad), "{bad:?}");
        }
    }
}
