//! The listeners: accept TCP connections (plain, and TLS when a certificate
//! is configured) and give each its own task, and shut down gracefully
//! (stop accepting, close every connection with 1001, wait for them to
//! finish).

pub mod admin;
mod connection;
pub(crate) mod handshake;
mod keepalive;
mod read_ahead;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Limits;
use crate::plugins::Registry;
use crate::runtime::shard;
use crate::session::per_ip::PerIp;
use crate::session::Admission;
use connection::ConnContext;
use tls::Tls;

/// Live counts of the listener's connections, read by the admin status.
#[derive(Debug, Default)]
pub struct Stats {
    /// TCP connections held, handshakes included.
    pub open: AtomicUsize,
    /// Connections upgraded to WebSocket and not yet closed.
    pub websockets: AtomicUsize,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// The address the plain (`ws://`) listener is bound to, once it is:
    /// `/status` names it, so the console knows where its WebSocket panels
    /// connect. Never set when TLS took the only listener.
    pub listen: OnceLock<SocketAddr>,
    /// The address the TLS (`wss://`) listener is bound to, if one runs.
    pub tls_listen: OnceLock<SocketAddr>,
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

/// The bound listeners, ready to serve.
pub struct Server {
    /// The plain (`ws://`) listener, unless TLS took its address.
    plain: Option<TcpListener>,
    /// The TLS (`wss://`) listener and the certificates it serves.
    tls: Option<(TcpListener, Arc<Tls>)>,
    /// Shared by every connection task.
    ctx: Arc<ConnContext>,
}

/// What to listen on: a plain address, a TLS one, or both.
pub struct Listeners {
    /// The plain (`ws://`) listener's address.
    pub plain: Option<SocketAddr>,
    /// The TLS (`wss://`) listener's address and its certificates.
    pub tls: Option<(SocketAddr, Arc<Tls>)>,
}

/// Accept on `listener`, or wait forever without one.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn bind_one(addr: SocketAddr, what: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}{what}"))?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
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
    /// Bind the listeners (port 0 picks a free port); their live counts go
    /// to `stats`, which the admin listener may already be reading.
    pub async fn bind(
        listeners: Listeners,
        registry: Arc<Registry>,
        limits: Limits,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Server> {
        let plain = match listeners.plain {
            Some(addr) => {
                let (listener, bound) = bind_one(addr, "").await?;
                let _ = stats.listen.set(bound);
                Some(listener)
            }
            None => None,
        };
        let tls = match listeners.tls {
            Some((addr, tls)) => {
                let (listener, bound) = bind_one(addr, " for TLS").await?;
                let _ = stats.tls_listen.set(bound);
                Some((listener, tls))
            }
            None => None,
        };
        let ws_config = ws_config(&limits);
        Ok(Server {
            plain,
            tls,
            ctx: Arc::new(ConnContext {
                admission: Admission {
                    connections: registry.connections().clone(),
                    per_ip: PerIp::new(limits.per_ip),
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

    /// The address the plain listener is bound to, if it runs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.ctx.stats.listen.get().copied()
    }

    /// The address the TLS listener is bound to, if it runs.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.ctx.stats.tls_listen.get().copied()
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
        let tls_listener = self.tls.as_ref().map(|(l, _)| l);
        loop {
            // The certificates in service when the connection is accepted;
            // `None` on the plain listener.
            let (accepted, tls) = tokio::select! {
                accepted = accept(self.plain.as_ref()) => (accepted, None),
                accepted = accept(tls_listener) => {
                    (accepted, self.tls.as_ref().map(|(_, tls)| tls.acceptor()))
                }
                _ = &mut shutdown => break,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let ctx = self.ctx.clone();
                    let stop = stop_rx.clone();
                    let done = done_tx.clone();
                    let slot = slots.clone().try_acquire_owned();
                    let held = Held::new(ctx.stats.clone());
                    // One task type per transport: a task's future is as
                    // large as its largest state, and TLS's (the handshake,
                    // the TLS stream under the WebSocket) in the plain
                    // path's task made every idle plain connection 11 KiB
                    // larger (16.5 against 5.3 KiB).
                    match tls {
                        None => tokio::spawn(async move {
                            // Counted as held, and as a task the drain
                            // waits for, until the task ends.
                            let _alive = (held, done);
                            match slot {
                                Ok(slot) => {
                                    let deadline = tokio::time::Instant::now()
                                        + ctx.admission.limits.handshake_timeout;
                                    connection::serve(stream, peer, ctx, stop, deadline).await;
                                    drop(slot);
                                }
                                Err(_) => connection::refuse_busy(stream, &ctx).await,
                            }
                        }),
                        Some(acceptor) => tokio::spawn(async move {
                            let _alive = (held, done);
                            match slot {
                                Ok(slot) => {
                                    tls::serve(stream, peer, acceptor, ctx, stop).await;
                                    drop(slot);
                                }
                                Err(_) => tls::refuse_busy(stream, peer, acceptor, &ctx).await,
                            }
                        }),
                    };
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        tracing::info!("shutting down: closing connections");
        drop(self.plain);
        drop(self.tls);
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
