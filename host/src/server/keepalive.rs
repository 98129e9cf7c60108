//! Keepalive: pings for a quiet client, a close for an idle one, and the
//! end of a dead one, driven by when each connection was last heard from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::runtime::outbox::{Outbound, Outbox};

/// When the client was last heard from, in ms since the connection began.
pub(super) struct Activity {
    /// When the connection began.
    start: Instant,
    /// Any frame, pongs included.
    pub(super) frame: AtomicU64,
    /// Data messages only.
    pub(super) data: AtomicU64,
}

impl Activity {
    /// Heard from at the start: the connection just opened.
    pub(super) fn new() -> Activity {
        Activity {
            start: Instant::now(),
            frame: AtomicU64::new(0),
            data: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the connection began: the clock of the fields.
    pub(super) fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// Why the keepalive gave up on a connection.
pub(super) enum Silence {
    /// No data message for the idle timeout.
    Idle,
    /// No frame at all within the ping timeout after a ping.
    Dead,
}

/// Ping a quiet client, notice a dead one, close an idle one. Never
/// resolves when keepalive and the idle timeout are both off.
pub(super) async fn keepalive(activity: &Activity, outbox: &Outbox, limits: &Limits) -> Silence {
    let ms = |d: Duration| d.as_millis() as u64;
    let interval = limits.ping_interval.map_or(0, ms);
    let timeout = ms(limits.ping_timeout);
    let idle = limits.idle_timeout.map_or(0, ms);
    if interval == 0 && idle == 0 {
        return std::future::pending().await;
    }
    let mut ping_sent: Option<u64> = None;
    loop {
        let now = activity.now();
        let seen = activity.frame.load(Ordering::Relaxed);
        let data = activity.data.load(Ordering::Relaxed);
        if idle > 0 && now.saturating_sub(data) >= idle {
            return Silence::Idle;
        }
        // Sleep until the next moment something could be due: one wake-up
        // per interval for a quiet connection, none for a busy one.
        let mut next = u64::MAX;
        if idle > 0 {
            next = data + idle;
        }
        if interval > 0 {
            match ping_sent {
                Some(sent) if seen >= sent => ping_sent = None,
                Some(sent) if now.saturating_sub(sent) >= timeout => return Silence::Dead,
                _ => {}
            }
            if ping_sent.is_none()
                && now.saturating_sub(seen) >= interval
                && outbox.push(Outbound::Ping).is_ok()
            {
                ping_sent = Some(now);
            }
            next = next.min(match ping_sent {
                Some(sent) => sent + timeout,
                None => seen + interval,
            });
        }
        tokio::time::sleep(Duration::from_millis(next.saturating_sub(now).max(10))).await;
    }
}
