//! `wasmsock:plugin/log`: plugin log lines go to the server's log, tagged
//! with the plugin's name, version and the connection of the call.

use crate::runtime::bindings::{wasmsock::plugin::log::Host, Level};
use crate::runtime::state::HostState;

/// Longest log line kept, in bytes; the rest is cut.
pub const MAX_LOG_LINE: usize = 4096;

/// Cut a log line to at most `MAX_LOG_LINE` bytes.
pub fn truncate_log_line(line: &str) -> &str {
    crate::text::truncate(line, MAX_LOG_LINE)
}

/// Emit one plugin log line at a tracing level, if that level is enabled
/// and the shard's log budget allows it. Lines the filter would discard
/// cost neither budget nor formatting.
macro_rules! emit {
    ($state:expr, $message:expr, $level:ident, $event:ident) => {{
        if tracing::enabled!(target: "plugin", tracing::Level::$level) && $state.log_budget.admit()
        {
            let tags = &*$state.log_tags;
            let message = truncate_log_line(&$message);
            tracing::$event!(
                target: "plugin",
                plugin = &*tags.plugin,
                version = tags.version,
                conn = tags.conn(),
                "{message}"
            );
        }
    }};
}

impl Host for HostState {
    fn enabled(&mut self, level: Level) -> bool {
        match level {
            Level::Trace => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "plugin", tracing::Level::INFO),
            Level::Warn => tracing::enabled!(target: "plugin", tracing::Level::WARN),
            Level::Error => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
        }
    }

    fn log(&mut self, level: Level, message: String) {
        match level {
            Level::Trace => emit!(self, message, TRACE, trace),
            Level::Debug => emit!(self, message, DEBUG, debug),
            Level::Info => emit!(self, message, INFO, info),
            Level::Warn => emit!(self, message, WARN, warn),
            Level::Error => emit!(self, message, ERROR, error),
        }
    }
}
