//! What a plugin's own log lines are tagged with, so that a log pipeline
//! can select one plugin, one version or one connection: the plugin's name,
//! its version, and the connection whose call is running (a shared
//! instance serves many). One per shard instance, shared by its `log`
//! import and its stdout and stderr, which cannot see the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The fields of one instance's log lines.
#[derive(Debug)]
pub struct LogTags {
    /// The plugin's name.
    pub plugin: Arc<str>,
    /// The version the instance runs (0 outside the server: `check`).
    pub version: u64,
    /// The connection of the call in progress; 0 between calls and in a
    /// start function (connection ids start at 1).
    conn: AtomicU64,
}

impl LogTags {
    /// Tags for an instance of `plugin` at `version`.
    pub fn new(plugin: Arc<str>, version: u64) -> LogTags {
        LogTags {
            plugin,
            version,
            conn: AtomicU64::new(0),
        }
    }

    /// The shard is about to call the plugin for `conn` (`None`: for no
    /// connection).
    pub fn set_conn(&self, conn: Option<u64>) {
        self.conn.store(conn.unwrap_or(0), Ordering::Relaxed);
    }

    /// The connection of the call in progress, if any.
    pub fn conn(&self) -> Option<u64> {
        Some(self.conn.load(Ordering::Relaxed)).filter(|c| *c != 0)
    }
}
