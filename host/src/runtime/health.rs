//! A plugin version's health: its failures, and the quarantine that takes a
//! plugin which keeps failing out of service for a while instead of letting
//! it rebuild and fail again on every request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::QuarantinePolicy;

/// Longest quarantine, however often a plugin relapses.
pub const MAX_QUARANTINE: Duration = Duration::from_secs(600);

/// A relapse within this long after a quarantine ends doubles the next one.
const RELAPSE_WINDOW: Duration = Duration::from_secs(600);

/// Counters and quarantine state of one plugin version, shared by its shards.
#[derive(Debug)]
pub struct Health {
    /// When failures quarantine the plugin.
    policy: QuarantinePolicy,
    /// Shard tasks of this version still running.
    pub live_shards: AtomicUsize,
    /// Failures since the version was loaded.
    pub failures: AtomicU64,
    /// Log lines dropped over the rate limit since the version was loaded.
    pub log_lines_dropped: AtomicU64,
    /// Group messages lost for a member whose outbound queue was full
    /// (under the `close` policy it is closed with 1008).
    pub group_drops: AtomicU64,
    /// Events lost for a member whose shard was too far behind.
    pub event_drops: AtomicU64,
    /// Recent failures and the quarantine in force.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the failures inside the window happened.
    recent: VecDeque<Instant>,
    /// The quarantine in force or last in force.
    quarantine: Option<Quarantine>,
}

/// A quarantine: the plugin's routes answer 503 until it ends.
#[derive(Debug, Clone)]
pub struct Quarantine {
    /// When it ends.
    pub until: Instant,
    /// How long it lasts.
    pub length: Duration,
    /// The failure that started it.
    pub reason: String,
    /// Failures counted in the window when it started.
    pub failures: u32,
}

impl Health {
    /// A healthy plugin version.
    pub fn new(policy: QuarantinePolicy) -> Health {
        Health {
            policy,
            live_shards: AtomicUsize::new(0),
            failures: AtomicU64::new(0),
            log_lines_dropped: AtomicU64::new(0),
            group_drops: AtomicU64::new(0),
            event_drops: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count a failure; returns the quarantine it starts, if it starts one.
    pub fn record_failure(&self, reason: &str) -> Option<Quarantine> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if self.policy.after == 0 {
            return None;
        }
        let now = Instant::now();
        let mut state = self.lock();
        if state.quarantine.as_ref().is_some_and(|q| now < q.until) {
            return None; // already out of service
        }
        state.recent.push_back(now);
        while state
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            state.recent.pop_front();
        }
        if state.recent.len() < self.policy.after as usize {
            return None;
        }
        let length = match &state.quarantine {
            Some(last) if now.duration_since(last.until) < RELAPSE_WINDOW => {
                (last.length * 2).min(MAX_QUARANTINE)
            }
            _ => self.policy.base.min(MAX_QUARANTINE),
        };
        let q = Quarantine {
            until: now + length,
            length,
            reason: reason.to_string(),
            failures: state.recent.len() as u32,
        };
        state.recent.clear();
        state.quarantine = Some(q.clone());
        Some(q)
    }

    /// The quarantine in force, if any.
    pub fn quarantined(&self) -> Option<Quarantine> {
        let state = self.lock();
        state
            .quarantine
            .as_ref()
            .filter(|q| Instant::now() < q.until)
            .cloned()
    }

    /// The failure window, for messages.
    pub fn policy(&self) -> QuarantinePolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(after: u32) -> QuarantinePolicy {
        QuarantinePolicy {
            after,
            window: Duration::from_secs(60),
            base: Duration::from_millis(50),
        }
    }

    #[test]
    fn quarantines_after_n_failures_then_doubles_on_relapse() {
        let h = Health::new(policy(3));
        assert!(h.record_failure("a").is_none());
        assert!(h.record_failure("b").is_none());
        let q = h.record_failure("c").expect("third failure quarantines");
        assert_eq!(
            (q.failures, q.length, q.reason.as_str()),
            (3, Duration::from_millis(50), "c")
        );
        assert!(h.quarantined().is_some());
        // Failures while quarantined do not extend it.
        assert!(h.record_failure("d").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(h.quarantined().is_none());
        for _ in 0..2 {
            assert!(h.record_failure("e").is_none());
        }
        let q = h.record_failure("f").expect("relapse quarantines again");
        assert_eq!(q.length, Duration::from_millis(100));
        assert_eq!(h.failures.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn zero_never_quarantines() {
        let h = Health::new(policy(0));
        for _ in 0..100 {
            assert!(h.record_failure("x").is_none());
        }
        assert!(h.quarantined().is_none());
    }
}
