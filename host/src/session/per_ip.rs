//! Per-address limits, admission's first step after routing: how many
//! connections one client address holds, and how fast it may start
//! handshakes (a token bucket). Over either, 429 with `Retry-After`, before
//! the origin, authentication or a plugin call costs anything.
//!
//! An address is an IPv4 address, or an IPv6 /64 (what one subscriber
//! usually gets: keying on the full IPv6 address would let one host walk
//! its prefix). IPv4-mapped IPv6 peers count as their IPv4 address.
//!
//! The table is sharded by address, each shard a `Mutex<HashMap>`. An
//! entry leaves when its address holds no connection and its bucket is
//! full again: at once when the last connection closes with a full bucket,
//! otherwise at a sweep, run when a shard has doubled since the last one.
//! A scan from many addresses thus leaves behind only the addresses seen
//! within one bucket refill (`burst / rate` seconds).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::answer::{Refusal, Refused};
use crate::config::PerIpLimits;

/// Shards of the table: enough that handshakes from different addresses
/// rarely wait on one lock.
const SHARDS: usize = 16;

/// A shard is swept when it reaches this many entries, or twice as many as
/// the last sweep left.
const MIN_SWEEP: usize = 256;

/// What one address holds and has used.
#[derive(Debug)]
struct Entry {
    /// Connections held (admitted past this step and not yet ended).
    open: u32,
    /// When its bucket is full again: each handshake pushes it one
    /// interval (1 / rate) later; a bucket that is full has it in the past.
    full_at: Instant,
}

/// One shard of the table.
#[derive(Debug, Default)]
struct Shard {
    /// Entries by address.
    entries: HashMap<IpAddr, Entry>,
    /// Size at which the next sweep runs.
    sweep_at: usize,
}

/// At most one warning a second per kind of refusal, saying how many were
/// refused since the last: a flood must not flood the log too.
#[derive(Debug, Default)]
struct WarnGate {
    /// Milliseconds after the table's start of the last warning, plus one
    /// (0: never warned).
    last: AtomicU64,
    /// Refusals since the last warning.
    refused: AtomicU64,
}

impl WarnGate {
    /// Count a refusal; `Some(n)` (refusals in the last second, this one
    /// included) when a warning is due.
    fn refused(&self, now_ms: u64) -> Option<u64> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now_ms + 1 >= last + 1000;
        if due
            && self
                .last
                .compare_exchange(last, now_ms + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.refused.swap(0, Ordering::Relaxed));
        }
        None
    }
}

/// The per-address table and its limits, shared by every handshake.
#[derive(Debug)]
pub struct PerIp {
    /// The limits (both off: the table is never touched).
    limits: PerIpLimits,
    /// Time one handshake takes out of the bucket (1 / rate).
    interval: Duration,
    /// How far `full_at` may run ahead of now: a bucket's worth.
    depth: Duration,
    /// The table.
    shards: [Mutex<Shard>; SHARDS],
    /// Picks an address's shard.
    hasher: RandomState,
    /// For the warnings' clock.
    start: Instant,
    /// Warnings about the connection cap.
    warn_connections: WarnGate,
    /// Warnings about the rate.
    warn_rate: WarnGate,
}

/// An address's place under its connection cap, held as long as the
/// connection: dropping it (close, a later refusal, a dropped task) gives
/// the place back.
#[derive(Debug)]
pub struct PerIpGuard {
    /// The table and the address, or `None` when the limits are off.
    held: Option<(Arc<PerIp>, IpAddr)>,
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        if let Some((table, key)) = self.held.take() {
            table.release(key);
        }
    }
}

/// The address `ip` is counted under: IPv4 as it is, IPv6 by its /64.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

impl PerIp {
    /// A table holding addresses to `limits`.
    pub fn new(limits: PerIpLimits) -> Arc<PerIp> {
        let interval = if limits.rate > 0 {
            Duration::from_secs(1) / limits.rate
        } else {
            Duration::ZERO
        };
        Arc::new(PerIp {
            limits,
            interval,
            depth: interval * limits.burst.max(1),
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: RandomState::new(),
            start: Instant::now(),
            warn_connections: WarnGate::default(),
            warn_rate: WarnGate::default(),
        })
    }

    /// Let every address through (the test harness: one client).
    pub fn off() -> Arc<PerIp> {
        PerIp::new(PerIpLimits::OFF)
    }

    fn shard(&self, key: &IpAddr) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding a shard leaves counts that are still sound.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit one more handshake from `ip`: take a token from its bucket
    /// (every handshake that reaches this step takes one, admitted or not)
    /// and a place under its connection cap, or refuse with 429.
    pub fn admit(self: &Arc<PerIp>, ip: IpAddr) -> Result<PerIpGuard, Refusal> {
        if !self.limits.enabled() {
            return Ok(PerIpGuard { held: None });
        }
        let key = key(ip);
        let now = Instant::now();
        let refused = {
            let mut shard = self.shard(&key);
            if !shard.entries.contains_key(&key) && shard.entries.len() >= shard.sweep_at {
                shard.sweep(now);
            }
            let entry = shard.entries.entry(key).or_insert(Entry {
                open: 0,
                full_at: now,
            });
            self.take(entry, now)
        };
        match refused {
            None => Ok(PerIpGuard {
                held: Some((self.clone(), key)),
            }),
            Some(refusal) => {
                self.log(&refusal, key, now);
                Err(refusal)
            }
        }
    }

    /// Take a token and a place from `entry`, or say why not.
    fn take(&self, entry: &mut Entry, now: Instant) -> Option<Refusal> {
        if self.limits.rate > 0 {
            let start = entry.full_at.max(now);
            let after = start + self.interval;
            if after > now + self.depth {
                // Whole seconds until one token is back, at least 1.
                let wait = after - (now + self.depth);
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Some(
                    Refusal::new(
                        Refused::PerIpRate,
                        429,
                        "too many handshakes from your address; slow down\n",
                    )
                    .with_header("Retry-After", secs.max(1).to_string()),
                );
            }
            entry.full_at = after;
        }
        let cap = self.limits.max_connections;
        if cap > 0 && entry.open >= cap {
            return Some(
                Refusal::new(
                    Refused::PerIpConnections,
                    429,
                    "too many connections from your address\n",
                )
                .with_header("Retry-After", "1"),
            );
        }
        entry.open += 1;
        None
    }

    /// Debug for each refusal, a warning at most once a second per kind.
    fn log(&self, refusal: &Refusal, key: IpAddr, now: Instant) {
        let (gate, what) = match refusal.why {
            Refused::PerIpRate => (
                &self.warn_rate,
                format!("{}/s (burst {})", self.limits.rate, self.limits.burst),
            ),
            _ => (
                &self.warn_connections,
                format!("{} connections", self.limits.max_connections),
            ),
        };
        let reason = refusal.why.label();
        tracing::debug!(address = %key, reason, "handshake refused: over the per-address limit");
        let now_ms = now.saturating_duration_since(self.start).as_millis() as u64;
        if let Some(n) = gate.refused(now_ms) {
            tracing::warn!(
                address = %key,
                reason,
                "{n} handshake(s) refused with 429 in the last second: over the per-address limit of {what}"
            );
        }
    }

    /// A connection from `key` has ended.
    fn release(&self, key: IpAddr) {
        let now = Instant::now();
        let mut shard = self.shard(&key);
        if let Some(entry) = shard.entries.get_mut(&key) {
            entry.open = entry.open.saturating_sub(1);
            if entry.idle(now) {
                shard.entries.remove(&key);
            }
        }
    }

    /// Addresses in the table, all shards (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.entries.len()))
            .sum()
    }
}

impl Entry {
    /// Holds nothing and remembers nothing: as good as absent.
    fn idle(&self, now: Instant) -> bool {
        self.open == 0 && self.full_at <= now
    }
}

impl Shard {
    /// Drop idle entries; the next sweep waits until the shard doubles.
    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, e| !e.idle(now));
        self.sweep_at = (self.entries.len() * 2).max(MIN_SWEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn connection_cap_is_per_address_and_given_back() {
        let t = PerIp::new(PerIpLimits {
            max_connections: 2,
            rate: 0,
            burst: 1,
        });
        let a = t.admit(v4(1)).expect("first");
        let _b = t.admit(v4(1)).expect("second");
        let r = t.admit(v4(1)).expect_err("third");
        assert_eq!((r.status, r.why.label()), (429, "per_ip_connections"));
        assert!(r.headers.contains(&("Retry-After".into(), "1".into())));
        let _other = t.admit(v4(2)).expect("another address");
        drop(a);
        let _again = t.admit(v4(1)).expect("a place was given back");
    }

    #[test]
    fn rate_refuses_past_the_burst_with_retry_after() {
        let t = PerIp::new(PerIpLimits {
            max_connections: 0,
            rate: 1,
            burst: 3,
        });
        for _ in 0..3 {
            drop(t.admit(v4(7)).expect("within the burst"));
        }
        let r = t.admit(v4(7)).expect_err("past the burst");
        assert_eq!((r.status, r.why.label()), (429, "per_ip_rate"));
        let after: u64 = r
            .headers
            .iter()
            .find(|(n, _)| n == "Retry-After")
            .and_then(|(_, v)| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=2).contains(&after), "{after}");
        drop(t.admit(v4(8)).expect("another address"));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(key(mapped), "10.0.0.1".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn entries_leave_once_idle_so_a_scan_does_not_grow_the_table() {
        // A fast rate: a bucket refills within 10 µs.
        let t = PerIp::new(PerIpLimits {
            max_connections: 10,
            rate: 1_000_000,
            burst: 10,
        });
        for n in 0..20_000u32 {
            drop(t.admit(v4(n)).expect("admitted"));
        }
        std::thread::sleep(Duration::from_millis(5));
        // Released with a bucket not yet full, entries wait for a sweep;
        // the sweeps keep each shard near its floor, not at 20,000 / 16.
        for n in 20_000..20_000 + 16 * MIN_SWEEP as u32 {
            drop(t.admit(v4(n)).expect("admitted"));
        }
        assert!(t.len() <= 2 * SHARDS * MIN_SWEEP, "table holds {}", t.len());
        // Held connections are never swept.
        let held: Vec<_> = (0..5)
            .map(|_| t.admit(v4(1 << 31)).expect("held"))
            .collect();
        std::thread::sleep(Duration::from_millis(5));
        for n in 40_000..40_000 + 16 * MIN_SWEEP as u32 {
            drop(t.admit(v4(n)).expect("admitted"));
        }
        let shard = t.shard(&key(v4(1 << 31)));
        assert_eq!(
            shard.entries.get(&key(v4(1 << 31))).map(|e| e.open),
            Some(5)
        );
        drop(shard);
        drop(held);
        // The last release, its bucket long full, removes the entry at once.
        let gone = !t
            .shard(&key(v4(1 << 31)))
            .entries
            .contains_key(&key(v4(1 << 31)));
        assert!(gone, "an idle entry stayed after its last connection");
        let off = PerIp::off();
        drop(off.admit(v4(1)).expect("off"));
        assert_eq!(off.len(), 0, "a table that is off is never filled");
    }

    #[test]
    fn warnings_are_gated_to_one_a_second() {
        let g = WarnGate::default();
        assert_eq!(g.refused(0), Some(1));
        assert_eq!(g.refused(10), None);
        assert_eq!(g.refused(999), None);
        assert_eq!(g.refused(1000), Some(3));
    }
}
