//! The channel layer: groups of connections, for broadcast.
//!
//! [`Groups`] is the membership of this host's connections, per plugin and
//! group, and the list a broadcast fans out over: directly, with one shared
//! payload and no wasm call per member. It knows nothing of outboxes or
//! sockets (it is generic over what a member is), so it sits below the
//! runtime, which fills it from the `groups` import. A backend that carries
//! groups across hosts (Redis) will publish and subscribe beside it; local
//! delivery never waits on one.

mod local;

pub use local::{Groups, JoinError};

/// Longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 100;

/// Groups one connection may be in at once: a plugin that joins in a loop
/// cannot grow the host's tables without bound.
pub const MAX_GROUPS_PER_CONNECTION: usize = 64;

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

#[cfg(test)]
mod tests {
    use super::*;

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
