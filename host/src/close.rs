//! WebSocket close codes (RFC 6455 section 7.4) the host sends or reports,
//! and the rules for codes and reasons a plugin may send.
//!
//! They live on the bottom floor, beside [`crate::session`], because every
//! floor names them: the shard closes a failed instance's connections, the
//! connection task closes on shutdown or overflow, the session and the test
//! harness report how a connection ended.

/// Going away: the server shuts down, or the connection was idle too long.
pub const GOING_AWAY: u16 = 1001;
/// Reported when a close frame carried no code (never sent).
pub const NO_STATUS: u16 = 1005;
/// Reported when the transport ended without a close handshake (never sent).
pub const ABNORMAL: u16 = 1006;
/// Policy violation: the client does not read what it is sent, so its
/// outbound queue overflowed.
pub const QUEUE_FULL: u16 = 1008;
/// Internal error: the plugin instance serving the connection failed.
pub const INTERNAL_ERROR: u16 = 1011;
/// Service restart: a new version of the plugin did not take the
/// connection over (a drain ended, `on_reload = "close"`, or `on-adopt`
/// said no).
pub const SERVICE_RESTART: u16 = 1012;
/// Try again later: the host had no room for an instance to take the
/// connection over.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// Longest close reason allowed: a control frame payload is at most 125
/// bytes, two of which carry the code.
pub const MAX_REASON: usize = 123;

/// True for the close codes an endpoint may send (RFC 6455 section 7.4):
/// the plugin's `connection.close` refuses the others.
pub fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_reported_only_codes_cannot_be_sent() {
        for code in [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!sendable(code), "{code}");
        }
        for code in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(sendable(code), "{code}");
        }
    }
}
