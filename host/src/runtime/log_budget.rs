//! The log rate limit of one shard: a plugin that logs in a loop fills
//! neither the disk nor the log pipeline; what is over the limit is dropped,
//! counted and reported once per second.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::health::Health;

/// Shared by a shard's log import and its stdout and stderr.
#[derive(Debug)]
pub struct LogBudget {
    /// The plugin's name, for the report.
    plugin: Arc<str>,
    /// Lines allowed per second.
    per_second: u32,
    /// Where dropped lines are counted for the version.
    health: Arc<Health>,
    /// Where dropped lines are counted for the metrics.
    dropped: prometheus_client::metrics::counter::Counter,
    /// The current one-second window.
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// When the window started.
    started: Instant,
    /// Lines written in it.
    used: u32,
    /// Lines dropped in it.
    dropped: u64,
}

impl LogBudget {
    /// A budget of `per_second` lines for a shard of `plugin`.
    pub fn new(plugin: Arc<str>, per_second: u32, health: Arc<Health>) -> LogBudget {
        LogBudget {
            dropped: crate::metrics::global().log_lines_dropped(&plugin),
            plugin,
            per_second,
            health,
            window: Mutex::new(Window {
                started: Instant::now(),
                used: 0,
                dropped: 0,
            }),
        }
    }

    /// The counters of the plugin version this budget belongs to.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Whether one more line may be written now.
    pub fn admit(&self) -> bool {
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if now.duration_since(w.started) >= Duration::from_secs(1) {
            if w.dropped > 0 {
                self.report(w.dropped);
            }
            *w = Window {
                started: now,
                used: 0,
                dropped: 0,
            };
        }
        if w.used < self.per_second {
            w.used += 1;
            return true;
        }
        if w.dropped == 0 {
            tracing::warn!(
                plugin = &*self.plugin,
                "log rate limit of {} lines per second reached; dropping lines until the second is over",
                self.per_second
            );
        }
        w.dropped += 1;
        self.health
            .log_lines_dropped
            .fetch_add(1, Ordering::Relaxed);
        self.dropped.inc();
        false
    }

    fn report(&self, dropped: u64) {
        tracing::warn!(
            plugin = &*self.plugin,
            "dropped {dropped} log lines over the limit of {} per second",
            self.per_second
        );
    }
}

impl Drop for LogBudget {
    fn drop(&mut self) {
        let dropped = self
            .window
            .get_mut()
            .map_or_else(|p| p.into_inner().dropped, |w| w.dropped);
        if dropped > 0 {
            self.report(dropped);
        }
    }
}
