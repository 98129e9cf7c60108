//! Capturing the plugin's log: a `tracing` layer that records the shard's
//! events (the plugin's lines and the host's about it) for the test to read.

use std::fmt;
use std::sync::{Arc, Mutex};

/// One line of log about the plugin: its `log` calls, its stdout and
/// stderr, and what the host logged about it (failures, dropped headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: tracing::Level,
    /// `plugin` (the `log` import), `stdout`, `stderr`, or `host`.
    pub source: String,
    /// The text.
    pub message: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.level, self.source, self.message)
    }
}

/// Records the shard's events into a list.
#[derive(Clone, Default)]
pub(super) struct LogCapture(Arc<Mutex<Vec<LogLine>>>);

impl LogCapture {
    pub(super) fn lines(&self) -> Vec<LogLine> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    stream: Option<String>,
    rest: Vec<String>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "stream" => self.stream = Some(value.to_string()),
            "plugin" => {}
            name => self.rest.push(format!("{name}={value}")),
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "plugin" => {}
            name => self.rest.push(format!("{name}={value:?}")),
        }
    }
}

/// True for events about the plugin: its own lines (target `plugin`) and
/// the host's (this crate); the runtime's internal traces are left out.
fn about_the_plugin(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    target == "plugin" || target == "wasmsock" || target.starts_with("wasmsock::")
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCapture {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        about_the_plugin(meta)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let source = match (meta.target(), fields.stream) {
            ("plugin", Some(stream)) => stream,
            ("plugin", None) => "plugin".to_string(),
            _ => "host".to_string(),
        };
        let mut message = fields.message;
        if !fields.rest.is_empty() {
            message = format!("{message} ({})", fields.rest.join(", "));
        }
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(LogLine {
                level: *meta.level(),
                source,
                message,
            });
    }
}
