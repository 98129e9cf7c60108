//! What the metrics learn from a shard's calls: how long each export call
//! took, and what kind of failure ended one.

use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

use super::DeadlineExceeded;
use crate::metrics;

/// The exports a shard calls, as the metrics name them; a shard names an
/// export by its index here.
pub const EXPORTS: [&str; 7] = [
    "on_connect",
    "on_message",
    "on_disconnect",
    "on_event",
    "on_gap",
    "on_adopt",
    "on_timer",
];

/// One shard's call-time histograms, each resolved at its export's first
/// call (exports never called show no series), so a call costs a clock
/// read and an observation, not a lookup.
pub struct CallTimes {
    /// The plugin's name.
    plugin: Arc<str>,
    /// By export, in the order of [`EXPORTS`].
    by_export: [OnceLock<Histogram>; 7],
}

impl CallTimes {
    /// The histograms of `plugin`'s calls.
    pub fn new(plugin: Arc<str>) -> CallTimes {
        CallTimes {
            plugin,
            by_export: Default::default(),
        }
    }

    /// Start timing a call of export `i` of [`EXPORTS`] (`None`: nothing
    /// is called).
    pub fn start(&self, export: Option<usize>) -> Option<(&Histogram, Instant)> {
        let i = export.filter(|i| *i < EXPORTS.len())?;
        let h = self.by_export[i].get_or_init(|| metrics::global().calls(&self.plugin, EXPORTS[i]));
        Some((h, Instant::now()))
    }
}

/// Record the end of a call started with [`CallTimes::start`].
pub fn finish(started: Option<(&Histogram, Instant)>) {
    if let Some((h, at)) = started {
        h.observe(at.elapsed().as_secs_f64());
    }
}

/// What ended a failed call: `deadline` (its CPU budget), `memory` (a
/// growth past the plugin's cap was refused during the call; the guest
/// then trapped), or `trap`.
pub fn failure_kind(e: &wasmtime::Error, growth_refused: bool) -> &'static str {
    if e.downcast_ref::<DeadlineExceeded>().is_some() {
        "deadline"
    } else if growth_refused {
        "memory"
    } else {
        "trap"
    }
}
