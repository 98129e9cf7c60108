//! One connection from accept to close: the request head, admission (the
//! session decides), the 101, then the message pump between the socket, the
//! plugin's shard and the connection's outbound queue.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant as Deadline;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::handshake::{self, read_head};
use super::keepalive::{keepalive, Activity, Silence};
use super::read_ahead::ReadAhead;
use crate::close;
use crate::config::Limits;
use crate::metrics::{self, PluginMetrics};
use crate::plugins::Registry;
use crate::runtime::bindings::{CloseInfo, Message};
use crate::runtime::outbox::{Batch, Outbound, Outbox};
use crate::runtime::shard::Request;
use crate::session::{
    self, abnormal, Admission, Link, Refusal, RequestHead, Session, Turn, Upgrade,
};

/// Counts an upgraded connection as open until dropped, for the status
/// and for its plugin's metrics.
struct OpenSocket<'a>(&'a super::Stats, &'a PluginMetrics);

impl<'a> OpenSocket<'a> {
    fn new(stats: &'a super::Stats, metrics: &'a PluginMetrics) -> OpenSocket<'a> {
        stats.websockets.fetch_add(1, Ordering::Relaxed);
        metrics.upgraded.inc();
        metrics.open.inc();
        OpenSocket(stats, metrics)
    }
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::Relaxed);
        self.1.open.dec();
    }
}

/// What every connection task shares.
pub struct ConnContext {
    /// Routes and plugins.
    pub registry: Arc<Registry>,
    /// The admission step, with the connection registry and the limits.
    pub admission: Admission,
    /// tungstenite's settings derived from the limits.
    pub ws_config: WebSocketConfig,
    /// Live counts for the admin status.
    pub stats: Arc<super::Stats>,
}

impl ConnContext {
    fn limits(&self) -> &Limits {
        &self.admission.limits
    }
}

/// The byte stream under a connection: TCP, or TLS over TCP. The
/// connection path is generic over it, so each kind gets its own compiled
/// copy and the plain path pays nothing for TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

type Socket<S> = WebSocketStream<ReadAhead<S>>;
type Sink<S> = SplitSink<Socket<S>, WsMessage>;
type Source<S> = SplitStream<Socket<S>>;

/// Answer a request that was not admitted.
async fn refuse<S: Io>(stream: &mut S, refusal: &Refusal) {
    metrics::global().rejected(refusal.why.label());
    let _ = handshake::respond(stream, refusal.status, &refusal.headers, &refusal.body).await;
}

/// Serve one accepted connection to the end; its request head must have
/// arrived by `deadline` (`limits.handshake_timeout` after the accept).
pub async fn serve<S: Io>(
    mut stream: S,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
    deadline: Deadline,
) {
    let limits = ctx.limits();
    let read = read_head(&mut stream, limits.max_header_bytes);
    let mut head = match tokio::time::timeout_at(deadline, read).await {
        Err(_) => {
            tracing::debug!(%peer, "handshake timed out");
            metrics::global().rejected("timeout");
            let _ =
                handshake::respond(&mut stream, 408, &[], "request head not received in time\n")
                    .await;
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, "bad handshake: {e}");
            metrics::global().rejected("bad_request");
            if let Some(status) = e.status() {
                let _ = handshake::respond(&mut stream, status, &[], &format!("{e}\n")).await;
            }
            return;
        }
        Ok(Ok(head)) => head,
    };
    let route = match session::route(&*ctx.registry, &head.path) {
        Ok(route) => route,
        Err(refusal) => return refuse(&mut stream, &refusal).await,
    };
    if let Err(refusal) = check_upgrade(&head) {
        return refuse(&mut stream, &refusal).await;
    }
    let (session, upgrade) = match ctx.admission.admit(route, &head, peer).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refuse(&mut stream, &refusal).await,
    };
    // Keep only what the upgrade needs: the head itself (path, headers)
    // would otherwise live as long as the connection.
    let key = head
        .header("sec-websocket-key")
        .unwrap_or_default()
        .to_owned();
    let rest = std::mem::take(&mut head.rest);
    drop(head);
    let conn = Connection {
        session,
        ctx,
        shutdown,
    };
    conn.run(stream, key, rest, upgrade).await;
}

/// How long a connection over the server's limit is given to send its
/// request head (and, over TLS, to finish its handshake) before the 503.
pub fn busy_wait(ctx: &ConnContext) -> Duration {
    ctx.limits().handshake_timeout.min(Duration::from_secs(2))
}

/// Answer a connection over the server's limit with 503, after reading its
/// request head (briefly) so the answer is not lost to a reset.
pub async fn refuse_busy<S: Io>(mut stream: S, ctx: &ConnContext) {
    let limits = ctx.limits();
    let wait = busy_wait(ctx);
    let _ = tokio::time::timeout(wait, read_head(&mut stream, limits.max_header_bytes)).await;
    metrics::global().rejected("server_busy");
    let _ = handshake::respond(&mut stream, 503, &[], "server at its connection limit\n").await;
}

/// The checks of RFC 6455 section 4.2.1 beyond routing.
fn check_upgrade(head: &RequestHead) -> Result<(), Refusal> {
    use crate::session::Refused::BadRequest;
    if !head.is_upgrade() {
        return Err(Refusal::new(
            BadRequest,
            426,
            "this path serves WebSocket connections only; send an upgrade request\n",
        )
        .with_header("Upgrade", "websocket"));
    }
    if head.method != "GET" {
        return Err(
            Refusal::new(BadRequest, 405, "a WebSocket upgrade must use GET\n")
                .with_header("Allow", "GET"),
        );
    }
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(Refusal::new(
            BadRequest,
            426,
            "unsupported Sec-WebSocket-Version; this server speaks version 13\n",
        )
        .with_header("Sec-WebSocket-Version", "13"));
    }
    if head
        .header("sec-websocket-key")
        .is_none_or(|k| k.trim().is_empty())
    {
        return Err(Refusal::new(
            BadRequest,
            400,
            "missing Sec-WebSocket-Key header\n",
        ));
    }
    Ok(())
}

/// An admitted connection's task: it owns the session (outbox, shard, its
/// places in the registry and under the plugin's limit) and plays the
/// connection until it ends, then finishes the session.
struct Connection {
    /// What admission gave: the plugin hears `on-disconnect` when it ends.
    session: Session,
    /// Shared by every connection task.
    ctx: Arc<ConnContext>,
    /// Flips to true when the server shuts down.
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    /// Answer 101, pump messages until the connection ends, and give the
    /// plugin its `on-disconnect`.
    async fn run<S: Io>(mut self, stream: S, key: String, rest: Vec<u8>, upgrade: Upgrade) {
        let info = self.pump(stream, key, rest, upgrade).await;
        self.session.finish(info).await;
    }

    async fn pump<S: Io>(
        &mut self,
        mut stream: S,
        key: String,
        rest: Vec<u8>,
        upgrade: Upgrade,
    ) -> CloseInfo {
        let Upgrade {
            subprotocol,
            headers,
        } = upgrade;
        if let Err(e) =
            handshake::switch_protocols(&mut stream, &key, subprotocol.as_deref(), &headers).await
        {
            return abnormal(format!("upgrade response failed: {e}"), true);
        }
        drop((key, subprotocol, headers));
        let ctx = &*self.ctx;
        let plugin = self.session.link.plugin.name.clone();
        let counters = metrics::global().plugin(&plugin);
        let _open = OpenSocket::new(&ctx.stats, &counters);
        let ws = WebSocketStream::from_partially_read(
            ReadAhead::new(stream),
            rest,
            Role::Server,
            Some(ctx.ws_config),
        )
        .await;
        let (mut sink, mut source) = ws.split();
        let close_timeout = ctx.limits().close_timeout;
        let info = 'pump: {
            let (conn, outbox) = (self.session.id, &*self.session.outbox);
            let link = &mut self.session.link;

            let activity = Activity::new();
            let reader = read_loop(&mut source, conn, link, outbox, &activity, &counters);
            tokio::pin!(reader);
            let first = {
                let writer = write_loop(&mut sink, outbox, &counters);
                tokio::pin!(writer);
                let keepalive = keepalive(&activity, outbox, ctx.limits());
                tokio::pin!(keepalive);
                tokio::select! {
                    end = &mut reader => Err(end),
                    end = &mut writer => Ok(end),
                    end = &mut keepalive => match end {
                        Silence::Idle => Ok(WriteEnd::Close(close::GOING_AWAY, "idle timeout".into())),
                        // A peer that does not answer pings will not answer a
                        // close frame either: drop it.
                        Silence::Dead => break 'pump abnormal("no answer to ping", true),
                    },
                    _ = self.shutdown.wait_for(|stop| *stop) => {
                        Ok(WriteEnd::Close(close::GOING_AWAY, "server shutting down".into()))
                    }
                }
            };
            let ended_by_server = match first {
                Ok(end) => end,
                Err(end) => break 'pump finish_client_close(end, &mut sink, close_timeout).await,
            };
            // The server side starts the close: send our frame, then wait
            // (bounded) for the client's answering frame.
            let (code, reason) = match ended_by_server {
                WriteEnd::Close(code, reason) => (code, reason),
                WriteEnd::Overflow => (close::QUEUE_FULL, "outbound queue full".to_string()),
                WriteEnd::Failed(e) => break 'pump abnormal(e, true),
            };
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.clone().into(),
            };
            if tokio::time::timeout(close_timeout, sink.send(WsMessage::Close(Some(frame))))
                .await
                .is_ok()
            {
                let _ = tokio::time::timeout(close_timeout, &mut reader).await;
            }
            CloseInfo {
                code,
                reason,
                by_client: false,
            }
        };
        // End the transport too: over TLS this sends close_notify, without
        // which a strict client takes the end for a truncation attack.
        if let Ok(ws) = sink.reunite(source) {
            let mut stream = ws.into_inner();
            let _ = tokio::time::timeout(close_timeout, stream.shutdown()).await;
        }
        info
    }
}

/// How the read side ended.
enum ReadEnd {
    /// The client sent a close frame.
    Closed(Option<CloseFrame>),
    /// The socket ended without one.
    Dropped,
    /// A protocol violation or I/O error.
    Error(WsError),
    /// The shard is gone (cannot happen while this connection holds it).
    ShardGone,
}

/// How the write side ended.
enum WriteEnd {
    /// Close with this code and reason (the plugin asked, or shutdown).
    Close(u16, String),
    /// The outbound queue overflowed.
    Overflow,
    /// Writing failed.
    Failed(String),
}

async fn read_loop<S: Io>(
    source: &mut Source<S>,
    conn: u64,
    link: &mut Link,
    outbox: &Outbox,
    activity: &Activity,
    counters: &PluginMetrics,
) -> ReadEnd {
    let mut closing = false;
    let fate = session::fate_changed(link.fate());
    tokio::pin!(fate);
    loop {
        let next = tokio::select! {
            next = source.next() => next,
            // A reload: move to the new version before reading on, so
            // nothing read meanwhile overtakes what the old one has queued.
            () = &mut fate, if !closing => {
                // Boxed: the hand-over's state is large and rare, and would
                // otherwise widen every idle connection's future.
                if let Turn::Close(code, reason) = Box::pin(link.follow(conn)).await {
                    closing = true;
                    metrics::global().moved(&link.plugin.name, "drained");
                    let _ = outbox.push(Outbound::Close { code, reason: reason.into() });
                }
                fate.set(session::fate_changed(link.fate()));
                continue;
            }
        };
        let now = activity.now();
        activity.frame.store(now, Ordering::Relaxed);
        let message = match next {
            None | Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                return ReadEnd::Dropped
            }
            Some(Err(e)) => return ReadEnd::Error(e),
            Some(Ok(WsMessage::Text(t))) => Message::Text(t.as_str().to_owned()),
            Some(Ok(WsMessage::Binary(b))) => Message::Binary(b.to_vec()),
            Some(Ok(WsMessage::Close(frame))) => return ReadEnd::Closed(frame),
            Some(Ok(_)) => continue, // ping and pong are answered by tungstenite
        };
        activity.data.store(now, Ordering::Relaxed);
        counters.received.inc();
        counters.bytes_received.inc_by(message_len(&message));
        // An idle shard serves the message in this task; a busy one gets
        // it queued, in order behind what it has.
        if let Some(now) = link.shard.now() {
            now.serve(Request::Message { conn, message }).await;
            continue;
        }
        // Wait for room first and build the request after: a pending send
        // would hold the request inside every connection's future.
        let Ok(slot) = link.shard.reserve().await else {
            return ReadEnd::ShardGone;
        };
        slot.send(Request::Message { conn, message });
    }
}

async fn write_loop<S: Io>(
    sink: &mut Sink<S>,
    outbox: &Outbox,
    counters: &PluginMetrics,
) -> WriteEnd {
    let mut batch = Batch::default();
    loop {
        outbox.take(&mut batch).await;
        if batch.overflowed {
            counters.dropped.inc();
            return WriteEnd::Overflow;
        }
        let (mut sent, mut bytes) = (0u64, 0u64);
        for item in batch.items.drain(..) {
            let frame = match item {
                Outbound::Text(t) => match Utf8Bytes::try_from(t.into_bytes()) {
                    Ok(t) => {
                        sent += 1;
                        bytes += t.len() as u64;
                        WsMessage::Text(t)
                    }
                    // Texts are built only from `str`s: never reached.
                    Err(e) => return WriteEnd::Failed(format!("queued text is not UTF-8: {e}")),
                },
                Outbound::Binary(b) => {
                    sent += 1;
                    bytes += b.len() as u64;
                    WsMessage::Binary(b)
                }
                Outbound::Ping => WsMessage::Ping(Default::default()),
                Outbound::Close { code, reason } => {
                    counters.sent.inc_by(sent);
                    counters.bytes_sent.inc_by(bytes);
                    if let Err(e) = sink.flush().await {
                        return WriteEnd::Failed(e.to_string());
                    }
                    return WriteEnd::Close(code, reason);
                }
            };
            if let Err(e) = sink.feed(frame).await {
                return WriteEnd::Failed(e.to_string());
            }
        }
        counters.sent.inc_by(sent);
        counters.bytes_sent.inc_by(bytes);
        if let Err(e) = sink.flush().await {
            return WriteEnd::Failed(e.to_string());
        }
    }
}

/// A message's payload length, for the byte counters.
fn message_len(m: &Message) -> u64 {
    match m {
        Message::Text(t) => t.len() as u64,
        Message::Binary(b) => b.len() as u64,
    }
}

/// The client started the close (or broke the protocol, or vanished):
/// answer as RFC 6455 asks and report how it ended.
async fn finish_client_close<S: Io>(
    end: ReadEnd,
    sink: &mut Sink<S>,
    close_timeout: Duration,
) -> CloseInfo {
    match end {
        ReadEnd::Closed(frame) => {
            // tungstenite queued the answering close frame; flush it.
            let _ = tokio::time::timeout(close_timeout, sink.close()).await;
            match frame {
                Some(f) => CloseInfo {
                    code: f.code.into(),
                    reason: f.reason.as_str().to_owned(),
                    by_client: true,
                },
                None => CloseInfo {
                    code: close::NO_STATUS,
                    reason: String::new(),
                    by_client: true,
                },
            }
        }
        ReadEnd::Dropped => abnormal(String::new(), true),
        ReadEnd::ShardGone => {
            let frame = CloseFrame {
                code: CloseCode::from(close::INTERNAL_ERROR),
                reason: "plugin unavailable".into(),
            };
            let _ =
                tokio::time::timeout(close_timeout, sink.send(WsMessage::Close(Some(frame)))).await;
            CloseInfo {
                code: close::INTERNAL_ERROR,
                reason: "plugin unavailable".into(),
                by_client: false,
            }
        }
        ReadEnd::Error(e) => {
            let code = match &e {
                WsError::Protocol(_) => CloseCode::Protocol,
                WsError::Utf8(_) => CloseCode::Invalid,
                WsError::Capacity(_) => CloseCode::Size,
                _ => return abnormal(e.to_string(), true),
            };
            let reason = e.to_string();
            let short = crate::text::truncate(&reason, close::MAX_REASON).to_owned();
            let frame = CloseFrame {
                code,
                reason: short.into(),
            };
            let _ =
                tokio::time::timeout(close_timeout, sink.send(WsMessage::Close(Some(frame)))).await;
            CloseInfo {
                code: code.into(),
                reason,
                by_client: false,
            }
        }
    }
}
