//! `wasmsock:plugin/log`: plugin log lines go to the server's log, tagged
//! with the plugin's name.

use crate::runtime::bindings::{wasmsock::plugin::log::Host, Level};
use crate::runtime::state::HostState;

/// Longest log line kept, in bytes; the rest is cut.
pub const MAX_LOG_LINE: usize = 4096;

/// Cut a log line to at most `MAX_LOG_LINE` bytes.
pub fn truncate_log_line(line: &str) -> &str {
    crate::text::truncate(line, MAX_LOG_LINE)
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        if !self.log_budget.admit() {
            return;
        }
        let plugin = &*self.plugin;
        let message = truncate_log_line(&message);
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}
