//! Guest stdout and stderr, captured line by line into the server's log
//! instead of being inherited, tagged as the `log` import's lines are.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use bytes::Bytes;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::imports::{truncate_log_line, MAX_LOG_LINE};
use super::log_budget::LogBudget;
use super::log_tags::LogTags;

/// Where a plugin's stdout or stderr goes: log lines tagged with its name,
/// version and the call's connection.
#[derive(Clone)]
pub struct LogStream {
    /// The plugin, version and connection.
    pub tags: Arc<LogTags>,
    /// "stdout" or "stderr".
    pub stream: &'static str,
    /// The shard's log rate limit.
    pub budget: Arc<LogBudget>,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }

    // Written synchronously: wasmtime's default adapter hands every 4 KiB to
    // a background task and makes the guest wait for it, which costs more
    // than formatting the line.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }
}

impl LogStream {
    fn writer(&self) -> LineWriter {
        LineWriter {
            sink: self.clone(),
            line: Vec::new(),
        }
    }
}

/// Splits what a guest writes into lines and logs each one.
struct LineWriter {
    sink: LogStream,
    line: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        if !tracing::enabled!(target: "plugin", tracing::Level::INFO) || !self.sink.budget.admit() {
            self.line.clear();
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = truncate_log_line(text.trim_end_matches('\r'));
        let tags = &*self.sink.tags;
        tracing::info!(
            target: "plugin",
            plugin = &*tags.plugin,
            version = tags.version,
            conn = tags.conn(),
            stream = self.sink.stream,
            "{text}"
        );
        self.line.clear();
    }

    fn push(&mut self, mut rest: &[u8]) {
        loop {
            let (part, newline) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], Some(i)),
                None => (rest, None),
            };
            // Bytes past the longest line are dropped, not buffered.
            let room = MAX_LOG_LINE.saturating_sub(self.line.len());
            self.line.extend_from_slice(&part[..part.len().min(room)]);
            match newline {
                Some(i) => {
                    self.emit();
                    rest = &rest[i + 1..];
                }
                None => break,
            }
        }
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}
