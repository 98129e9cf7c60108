//! The listener: accepts TCP connections and gives each its own task, and
//! shuts down gracefully (stop accepting, close every connection with 1001,
//! wait for them to finish).

pub mod admin;
mod connection;
pub(crate) mod handshake;
mod read_ahead;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Limits;
use crate::plugins::Registry;
use crate::runtime::shard;
use crate::session::Admission;
use connection::ConnContext;

/// Live counts of the listener's connections, read by the admin status.
#[derive(Debug, Default)]
pub struct Stats {
    /// TCP connections held, handshakes included.
    pub open: AtomicUsize,
    /// Connections upgraded to WebSocket and not yet closed.
    pub websockets: AtomicUsize,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// The address the listener is bound to, once it is: `/status` names
    /// it, so the console knows where its WebSocket panels connect.
    pub listen: OnceLock<SocketAddr>,
}

/// Counts one held connection in `open` until dropped.
struct Held(Arc<Stats>);

impl Held {
    fn new(stats: Arc<Stats>) -> Held {
        stats.open.fetch_add(1, Ordering::Relaxed);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        Held(stats)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A bound listener, ready to serve.
pub struct Server {
    /// The bound socket.
    listener: TcpListener,
    /// Shared by every connection task.
    ctx: Arc<ConnContext>,
}

/// Bytes of outgoing frames gathered before a write, when a batch is large.
const WRITE_BATCH_BYTES: usize = 64 << 10;

/// tungstenite's settings for the given limits.
pub fn ws_config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        // Frames fed from one outbox batch collect in tungstenite's write
        // buffer and go out in one syscall at the batch's flush (a batch
        // past this size is written as it grows). 0 here had meant one
        // `send` per frame.
        .write_buffer_size(WRITE_BATCH_BYTES)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(limits.max_message_size))
        .max_frame_size(Some(limits.max_frame_size))
}

impl Server {
    /// Bind `addr` (port 0 picks a free port); its live counts go to
    /// `stats`, which the admin listener may already be reading.
    pub async fn bind(
        addr: SocketAddr,
        registry: Arc<Registry>,
        limits: Limits,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let ws_config = ws_config(&limits);
        if let Ok(bound) = listener.local_addr() {
            let _ = stats.listen.set(bound);
        }
        Ok(Server {
            listener,
            ctx: Arc::new(ConnContext {
                admission: Admission {
                    connections: registry.connections().clone(),
                    limits,
                    middleware: registry.middleware().clone(),
                },
                registry,
                ws_config,
                stats,
            }),
        })
    }

    /// The listener's live counts.
    pub fn stats(&self) -> Arc<Stats> {
        self.ctx.stats.clone()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until `shutdown` resolves, then close every
    /// connection with 1001 and wait (at most `drain`) for them to end and
    /// for every plugin to hear their `on-disconnect`.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>, drain: Duration) {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Each connection task holds a clone; when all are dropped, recv()
        // returns None: every connection has finished.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        // One permit per open TCP connection, handshakes included.
        let slots = Arc::new(Semaphore::new(self.ctx.admission.limits.max_connections));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let ctx = self.ctx.clone();
                        let stop = stop_rx.clone();
                        let done = done_tx.clone();
                        let slot = slots.clone().try_acquire_owned();
                        let held = Held::new(ctx.stats.clone());
                        tokio::spawn(async move {
                            match slot {
                                Ok(slot) => {
                                    connection::serve(stream, peer, ctx, stop).await;
                                    drop(slot);
                                }
                                Err(_) => connection::refuse_busy(stream, &ctx).await,
                            }
                            drop(held);
                            drop(done);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = &mut shutdown => break,
            }
        }
        tracing::info!("shutting down: closing connections");
        drop(self.listener);
        let _ = stop_tx.send(true);
        drop(done_tx);
        let deadline = tokio::time::Instant::now() + drain;
        if tokio::time::timeout_at(deadline, done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!(
                "some connections did not close within {} ms",
                drain.as_millis()
            );
        }
        // Every connection task has queued its `on-disconnect`; with the
        // registry's versions dropped too, each shard handles what is queued
        // and stops.
        self.ctx.registry.unload_all();
        if tokio::time::timeout_at(deadline, shard::all_stopped())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} plugin shard(s) still busy after {} ms",
                shard::live_shards(),
                drain.as_millis()
            );
        }
    }
}
