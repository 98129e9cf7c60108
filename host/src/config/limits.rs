//! Limits every connection is held to, with defaults that suit a public
//! server.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{check_range, ConfigError};

/// The `[limits]` table as written: sizes in bytes, times in milliseconds.
/// Checked and turned into [`Limits`] once, where it is parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsFile {
    /// Largest complete message accepted from a client or a plugin, in bytes.
    pub max_message_size: u64,
    /// Largest single frame accepted from a client, in bytes.
    pub max_frame_size: u64,
    /// Time a client has to send a complete upgrade request, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Largest upgrade request head (request line and headers), in bytes.
    pub max_header_bytes: u64,
    /// Messages that may wait in one connection's outbound queue.
    pub outbound_queue_messages: u64,
    /// Bytes that may wait in one connection's outbound queue.
    pub outbound_queue_bytes: u64,
    /// Initial read buffer of each connection, in bytes. Small keeps idle
    /// connections cheap; it grows for large frames.
    pub read_buffer_bytes: u64,
    /// Time a close handshake may take before the socket is dropped, in ms.
    pub close_timeout_ms: u64,
    /// Connections held at once, all plugins together (handshakes included);
    /// over it a client gets HTTP 503.
    pub max_connections: u64,
    /// A ping is sent after this long without a frame from the client, in
    /// ms; 0 turns keepalive off.
    pub ping_interval_ms: u64,
    /// A client that sends nothing (not even the pong) this long after a
    /// ping is taken for dead and dropped, in ms.
    pub ping_timeout_ms: u64,
    /// Close a connection after this long without a data message from the
    /// client (1001, "idle timeout"), in ms; 0 (the default) never does.
    pub idle_timeout_ms: u64,
    /// What group traffic (broadcasts and messages from other hosts) does
    /// to a member whose outbound queue is full.
    pub group_queue_full: GroupQueueFull,
    /// Connections held at once from one address (an IPv4 address, or an
    /// IPv6 /64), handshakes included once past routing; over it a client
    /// gets HTTP 429. 0 turns the cap off.
    pub max_connections_per_ip: u64,
    /// Handshakes per second one address may start, refilling its bucket;
    /// over it a client gets HTTP 429 with `Retry-After`. 0 turns the rate
    /// limit off.
    pub handshake_rate_per_ip: u64,
    /// Handshakes one address may start at once before the rate applies
    /// (the bucket's size).
    pub handshake_burst_per_ip: u64,
}

/// What a group message does to a member whose outbound queue is full.
/// Either way the member's loss is counted and the other members are not
/// slowed down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupQueueFull {
    /// Close the member as a slow reader (1008): a member that stays
    /// connected has missed nothing.
    #[default]
    Close,
    /// Skip the message for that member and keep it connected.
    Drop,
}

impl Default for LimitsFile {
    fn default() -> Self {
        LimitsFile {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            handshake_timeout_ms: 10_000,
            max_header_bytes: 16 << 10,
            outbound_queue_messages: 1024,
            outbound_queue_bytes: 32 << 20,
            read_buffer_bytes: 1 << 10,
            close_timeout_ms: 5_000,
            max_connections: 100_000,
            ping_interval_ms: 30_000,
            ping_timeout_ms: 10_000,
            idle_timeout_ms: 0,
            group_queue_full: GroupQueueFull::Close,
            max_connections_per_ip: 256,
            handshake_rate_per_ip: 50,
            handshake_burst_per_ip: 100,
        }
    }
}

impl LimitsFile {
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let gib = 1u64 << 30;
        check_range(
            path,
            "limits.max_message_size",
            self.max_message_size,
            1,
            gib,
        )?;
        check_range(path, "limits.max_frame_size", self.max_frame_size, 1, gib)?;
        check_range(
            path,
            "limits.handshake_timeout_ms",
            self.handshake_timeout_ms,
            1,
            3_600_000,
        )?;
        check_range(
            path,
            "limits.max_header_bytes",
            self.max_header_bytes,
            256,
            1 << 20,
        )?;
        check_range(
            path,
            "limits.outbound_queue_messages",
            self.outbound_queue_messages,
            1,
            1 << 20,
        )?;
        check_range(
            path,
            "limits.outbound_queue_bytes",
            self.outbound_queue_bytes,
            1,
            4 * gib,
        )?;
        check_range(
            path,
            "limits.read_buffer_bytes",
            self.read_buffer_bytes,
            64,
            16 << 20,
        )?;
        check_range(
            path,
            "limits.close_timeout_ms",
            self.close_timeout_ms,
            1,
            600_000,
        )?;
        check_range(
            path,
            "limits.max_connections",
            self.max_connections,
            1,
            10_000_000,
        )?;
        check_range(
            path,
            "limits.ping_interval_ms",
            self.ping_interval_ms,
            0,
            86_400_000,
        )?;
        check_range(
            path,
            "limits.ping_timeout_ms",
            self.ping_timeout_ms,
            1,
            3_600_000,
        )?;
        check_range(
            path,
            "limits.idle_timeout_ms",
            self.idle_timeout_ms,
            0,
            86_400_000,
        )?;
        check_range(
            path,
            "limits.max_connections_per_ip",
            self.max_connections_per_ip,
            0,
            10_000_000,
        )?;
        check_range(
            path,
            "limits.handshake_rate_per_ip",
            self.handshake_rate_per_ip,
            0,
            1_000_000,
        )?;
        check_range(
            path,
            "limits.handshake_burst_per_ip",
            self.handshake_burst_per_ip,
            1,
            1_000_000,
        )
    }

    /// Check every value and convert it to the unit the server uses.
    pub(super) fn resolve(&self, path: &Path) -> Result<Limits, ConfigError> {
        self.validate(path)?;
        Ok(self.convert())
    }

    fn convert(&self) -> Limits {
        // Validated ranges fit in usize on the 64-bit targets the host runs on.
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let ms = Duration::from_millis;
        let off_if_zero = |v: u64| (v > 0).then(|| ms(v));
        Limits {
            max_message_size: size(self.max_message_size),
            max_frame_size: size(self.max_frame_size),
            handshake_timeout: ms(self.handshake_timeout_ms),
            max_header_bytes: size(self.max_header_bytes),
            outbound_queue_messages: size(self.outbound_queue_messages),
            outbound_queue_bytes: size(self.outbound_queue_bytes),
            read_buffer_bytes: size(self.read_buffer_bytes),
            close_timeout: ms(self.close_timeout_ms),
            max_connections: size(self.max_connections),
            ping_interval: off_if_zero(self.ping_interval_ms),
            ping_timeout: ms(self.ping_timeout_ms),
            idle_timeout: off_if_zero(self.idle_timeout_ms),
            group_queue_full: self.group_queue_full,
            per_ip: PerIpLimits {
                max_connections: u32::try_from(self.max_connections_per_ip).unwrap_or(u32::MAX),
                rate: u32::try_from(self.handshake_rate_per_ip).unwrap_or(u32::MAX),
                burst: u32::try_from(self.handshake_burst_per_ip).unwrap_or(u32::MAX),
            },
        }
    }
}

/// Limits every connection is held to, in the units the server uses.
/// Defaults suit a public server; `[limits]` in `wasmsock.toml` changes them
/// (see [`LimitsFile`] for each key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest complete message accepted from a client or a plugin.
    pub max_message_size: usize,
    /// Largest single frame accepted from a client.
    pub max_frame_size: usize,
    /// Time a client has to send a complete upgrade request.
    pub handshake_timeout: Duration,
    /// Largest upgrade request head, in bytes.
    pub max_header_bytes: usize,
    /// Messages that may wait in one connection's outbound queue.
    pub outbound_queue_messages: usize,
    /// Bytes that may wait in one connection's outbound queue.
    pub outbound_queue_bytes: usize,
    /// Initial read buffer of each connection, in bytes.
    pub read_buffer_bytes: usize,
    /// Time a close handshake may take before the socket is dropped.
    pub close_timeout: Duration,
    /// Connections held at once, handshakes included.
    pub max_connections: usize,
    /// A ping after this long without a frame from the client; `None`: no
    /// keepalive.
    pub ping_interval: Option<Duration>,
    /// A client silent this long after a ping is taken for dead.
    pub ping_timeout: Duration,
    /// Close after this long without a data message; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// What group traffic does to a member whose queue is full.
    pub group_queue_full: GroupQueueFull,
    /// What one client address may hold and start.
    pub per_ip: PerIpLimits,
}

/// Limits per client address (an IPv4 address or an IPv6 /64): they cut a
/// single flooder off before it costs a plugin call, while a NAT'd office
/// or a browser's reconnect storm stays under them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerIpLimits {
    /// Connections held at once from one address; 0: no cap.
    pub max_connections: u32,
    /// Handshakes per second from one address; 0: no rate limit.
    pub rate: u32,
    /// Handshakes one address may start at once (the bucket's size).
    pub burst: u32,
}

impl PerIpLimits {
    /// Neither a cap nor a rate: every address is let through.
    pub const OFF: PerIpLimits = PerIpLimits {
        max_connections: 0,
        rate: 0,
        burst: 1,
    };

    /// Whether either limit applies.
    pub fn enabled(&self) -> bool {
        self.max_connections > 0 || self.rate > 0
    }
}

impl Default for Limits {
    fn default() -> Self {
        LimitsFile::default().convert()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_turns_keepalive_and_idle_timeout_off() {
        let file = LimitsFile {
            ping_interval_ms: 0,
            idle_timeout_ms: 0,
            ..LimitsFile::default()
        };
        let limits = file.resolve(Path::new("w.toml")).expect("valid");
        assert_eq!(limits.ping_interval, None);
        assert_eq!(limits.idle_timeout, None);
        assert_eq!(
            Limits::default().ping_interval,
            Some(Duration::from_secs(30))
        );
        assert_eq!(Limits::default().max_message_size, 16 << 20);
    }

    #[test]
    fn per_ip_defaults_and_zero_turning_them_off() {
        let on = Limits::default().per_ip;
        assert_eq!((on.max_connections, on.rate, on.burst), (256, 50, 100));
        assert!(on.enabled());
        let file = LimitsFile {
            max_connections_per_ip: 0,
            handshake_rate_per_ip: 0,
            ..LimitsFile::default()
        };
        let off = file.resolve(Path::new("w.toml")).expect("valid").per_ip;
        assert!(!off.enabled());
        let file = LimitsFile {
            handshake_burst_per_ip: 0,
            ..LimitsFile::default()
        };
        let e = file.resolve(Path::new("w.toml")).expect_err("no bucket");
        assert!(
            e.to_string().contains("limits.handshake_burst_per_ip"),
            "{e}"
        );
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let file = LimitsFile {
            max_header_bytes: 10,
            ..LimitsFile::default()
        };
        let e = file.resolve(Path::new("w.toml")).expect_err("too small");
        assert!(e.to_string().contains("limits.max_header_bytes"), "{e}");
    }
}
