//! One instance's timers (`wasmsock:plugin/timers`): when each is due, by
//! connection (or the plugin) and token. The shard fires those that are
//! due between requests; a connection's timers travel in its
//! [`Kept`](super::state::Kept) when another instance adopts it.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// A timer's owner and token: a connection id, or `None` for the plugin.
pub type TimerKey = (Option<u64>, u64);

/// Why a timer was not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full(pub usize);

/// The timers of one instance.
#[derive(Debug)]
pub struct Timers {
    /// Due times, earliest first; the sequence number keeps equal times
    /// in the order they were set.
    queue: BTreeMap<(Instant, u64), TimerKey>,
    /// Where each timer sits in `queue`.
    index: HashMap<TimerKey, (Instant, u64)>,
    /// The next sequence number.
    seq: u64,
    /// Timers it may hold.
    max: usize,
}

impl Timers {
    /// No timers, at most `max` at once.
    pub fn new(max: usize) -> Timers {
        Timers {
            queue: BTreeMap::new(),
            index: HashMap::new(),
            seq: 0,
            max,
        }
    }

    /// Timers held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Set (or replace) the timer `key`, due `at`.
    pub fn set(&mut self, key: TimerKey, at: Instant) -> Result<(), Full> {
        if let Some(old) = self.index.remove(&key) {
            self.queue.remove(&old);
        } else if self.index.len() >= self.max {
            return Err(Full(self.max));
        }
        self.seq += 1;
        let slot = (at, self.seq);
        self.queue.insert(slot, key);
        self.index.insert(key, slot);
        Ok(())
    }

    /// Cancel the timer `key`; true if it was set.
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        match self.index.remove(&key) {
            Some(slot) => {
                self.queue.remove(&slot);
                true
            }
            None => false,
        }
    }

    /// When the earliest timer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Take the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let (&slot, _) = self.queue.iter().next()?;
        if slot.0 > now {
            return None;
        }
        let key = self.queue.remove(&slot)?;
        self.index.remove(&key);
        Some(key)
    }

    /// Take every timer of `owner` (a connection, or `None` for the
    /// plugin's own): they leave with it, or die with it.
    pub fn take(&mut self, owner: Option<u64>) -> Vec<(Instant, u64)> {
        let keys: Vec<TimerKey> = self
            .index
            .keys()
            .filter(|(o, _)| *o == owner)
            .copied()
            .collect();
        keys.into_iter()
            .filter_map(|key| {
                let slot = self.index.remove(&key)?;
                self.queue.remove(&slot);
                Some((slot.0, key.1))
            })
            .collect()
    }

    /// Hold timers of `owner` taken from another instance; those over the
    /// cap are dropped, and their number returned.
    pub fn put(&mut self, owner: Option<u64>, timers: Vec<(Instant, u64)>) -> usize {
        timers
            .into_iter()
            .filter(|&(at, token)| self.set((owner, token), at).is_err())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_in_due_order_replace_cancel_and_travel() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::new(3);
        t.set((Some(1), 7), ms(30)).expect("room");
        t.set((None, 1), ms(10)).expect("room");
        t.set((Some(1), 8), ms(20)).expect("room");
        assert_eq!(t.set((Some(2), 1), ms(5)), Err(Full(3)));
        t.set((Some(1), 7), ms(5)).expect("a replace needs no room");
        assert_eq!(t.next_due(), Some(ms(5)));
        assert!(t.cancel((Some(1), 8)));
        assert!(!t.cancel((Some(1), 8)));
        assert_eq!(t.pop_due(ms(0)), None);
        assert_eq!(t.pop_due(ms(10)), Some((Some(1), 7)));
        let plugin = t.take(None);
        assert_eq!(plugin, vec![(ms(10), 1)]);
        assert!(t.is_empty());
        let mut u = Timers::new(1);
        assert_eq!(u.put(Some(4), vec![(ms(1), 1), (ms(2), 2)]), 1);
        assert_eq!(u.len(), 1);
    }
}
