//! The event log: what happened to plugins (loaded, replaced, refused,
//! removed, failed, quarantined), kept for the admin listener's `/events`
//! and streamed live to `/events/stream` and the console.
//!
//! One log per process, like the metrics, so the registry and the shards
//! record into it without a handle threaded through them. It is bounded
//! twice: the last [`CAPACITY`] events are kept, and each live reader has a
//! queue of the same size; a reader that falls behind skips what it missed
//! (it is told how many), and recording never waits for a reader. Events
//! are rare next to messages (a load, a failure), so one lock is enough.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept, and the queue of each live reader.
pub const CAPACITY: usize = 256;

/// Longest detail kept, in bytes; a long refusal (a compiler's error) is cut.
const MAX_DETAIL: usize = 2048;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A plugin's first version is in service.
    Loaded,
    /// A new version replaced the one in service.
    Reloaded,
    /// A plugin file (or its manifest) was refused; `detail` says why.
    Refused,
    /// A plugin's file was deleted; its routes are no longer served.
    Removed,
    /// A call trapped (a panic, an unreachable, a bad memory access).
    Trap,
    /// A call ran past its CPU budget.
    Deadline,
    /// The plugin hit its memory cap, then trapped.
    Memory,
    /// A fresh instance could not be built.
    Instantiate,
    /// Failures took the plugin out of service for a while.
    Quarantined,
}

impl Kind {
    /// The kind of a failed call, as the metrics name it (`trap`,
    /// `deadline`, `memory`, `instantiate`).
    pub fn failure(kind: &str) -> Kind {
        match kind {
            "deadline" => Kind::Deadline,
            "memory" => Kind::Memory,
            "instantiate" => Kind::Instantiate,
            _ => Kind::Trap,
        }
    }
}

/// One event, as `/events` and the stream show it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Counts events since start, from 1: the stream's `id`, so a reader
    /// that reconnects gets what it missed.
    pub id: u64,
    /// When, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// When, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// What happened.
    pub kind: Kind,
    /// The plugin's name (the file stem).
    pub plugin: String,
    /// The plugin version concerned, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The particulars: routes served, the refusal's reason, the failure.
    pub detail: String,
}

/// The last events and the live readers.
#[derive(Debug)]
pub struct EventLog {
    /// The kept events, oldest first, and the next id.
    ring: Mutex<Ring>,
    /// Live readers; sent to under the ring's lock, so that a reader
    /// subscribing with [`EventLog::subscribe`] misses nothing and sees
    /// nothing twice.
    live: broadcast::Sender<Arc<Event>>,
    /// Events kept.
    capacity: usize,
}

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first.
    events: VecDeque<Arc<Event>>,
    /// The id of the next event.
    next_id: u64,
}

/// The process's event log.
pub fn global() -> &'static EventLog {
    static LOG: OnceLock<EventLog> = OnceLock::new();
    LOG.get_or_init(|| EventLog::new(CAPACITY))
}

impl EventLog {
    /// An empty log keeping the last `capacity` events.
    pub fn new(capacity: usize) -> EventLog {
        let capacity = capacity.max(1);
        EventLog {
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(capacity),
                next_id: 1,
            }),
            live: broadcast::channel(capacity).0,
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that `kind` happened to `plugin` (at `version`), now.
    pub fn record(&self, kind: Kind, plugin: &str, version: Option<u64>, detail: &str) {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut ring = self.lock();
        let event = Arc::new(Event {
            id: ring.next_id,
            time: rfc3339(unix_ms),
            unix_ms,
            kind,
            plugin: plugin.to_owned(),
            version,
            detail: crate::text::truncate(detail, MAX_DETAIL).to_owned(),
        });
        ring.next_id += 1;
        if ring.events.len() == self.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // No reader is not an error.
        let _ = self.live.send(event);
    }

    /// The kept events, newest first.
    pub fn recent(&self) -> Vec<Arc<Event>> {
        self.lock().events.iter().rev().cloned().collect()
    }

    /// Start reading live: the kept events after id `after`, oldest first
    /// (none for `None`: a new reader starts from now; a reader that
    /// reconnects names the last id it saw), and the receiver of every
    /// later one.
    pub fn subscribe(&self, after: Option<u64>) -> (Vec<Arc<Event>>, Receiver) {
        let ring = self.lock();
        let missed = match after {
            Some(id) => ring.events.iter().filter(|e| e.id > id).cloned().collect(),
            None => Vec::new(),
        };
        (missed, Receiver(self.live.subscribe()))
    }
}

/// A live reader of the log.
#[derive(Debug)]
pub struct Receiver(broadcast::Receiver<Arc<Event>>);

/// What a live reader gets next.
#[derive(Debug)]
pub enum Next {
    /// The next event.
    Event(Arc<Event>),
    /// The reader fell behind and this many events were skipped.
    Skipped(u64),
    /// The log is gone (the process is ending).
    Closed,
}

impl Receiver {
    /// Wait for the next event.
    pub async fn next(&mut self) -> Next {
        match self.0.recv().await {
            Ok(e) => Next::Event(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Next::Skipped(n),
            Err(broadcast::error::RecvError::Closed) => Next::Closed,
        }
    }
}

/// `unix_ms` as RFC 3339 in UTC, e.g. `2026-11-30T02:15:07.123Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let (secs, ms) = (unix_ms / 1000, unix_ms % 1000);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Days to a civil date (Howard Hinnant's algorithm, days from 1970-01-01).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
    }

    #[test]
    fn keeps_the_last_events_newest_first() {
        let log = EventLog::new(3);
        for i in 0..5 {
            log.record(Kind::Loaded, &format!("p{i}"), Some(1), "");
        }
        let names: Vec<_> = log.recent().iter().map(|e| e.plugin.clone()).collect();
        assert_eq!(names, ["p4", "p3", "p2"]);
        assert_eq!(log.recent()[0].id, 5);
    }

    #[tokio::test]
    async fn a_reader_gets_what_it_missed_then_live_events_and_skips_when_behind() {
        let log = EventLog::new(2);
        log.record(Kind::Loaded, "a", Some(1), "");
        log.record(Kind::Refused, "b", None, "why");
        let (missed, mut rx) = log.subscribe(Some(1));
        assert_eq!(missed.len(), 1);
        assert_eq!((missed[0].id, missed[0].kind), (2, Kind::Refused));
        log.record(Kind::Removed, "a", None, "");
        match rx.next().await {
            Next::Event(e) => assert_eq!((e.id, e.kind), (3, Kind::Removed)),
            other => panic!("expected the event, got {other:?}"),
        }
        // Three more than the reader's queue holds: the oldest is skipped.
        for _ in 0..3 {
            log.record(Kind::Trap, "a", Some(1), "");
        }
        assert!(matches!(rx.next().await, Next::Skipped(1)));
        assert!(matches!(rx.next().await, Next::Event(e) if e.id == 5));
    }
}
