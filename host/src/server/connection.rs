//! One connection from accept to close: handshake, routing, `on-connect`,
//! then the message pump between the socket, the plugin's shard and the
//! connection's outbound queue.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use super::handshake::{self, check_header, read_head, RequestHead};
use super::outbox::{Batch, Outbound, Outbox};
use super::read_ahead::ReadAhead;
use super::scope;
use crate::config::Limits;
use crate::plugins::Registry;
use crate::runtime::bindings::{Accept, CloseInfo, Message, Reject};
use crate::runtime::shard::{ConnectOutcome, Request, ShardHandle, CLOSE_INTERNAL_ERROR};

/// Close code sent to a client whose outbound queue overflowed (policy
/// violation: it does not read what it is sent).
pub const CLOSE_QUEUE_FULL: u16 = 1008;
/// Close code sent on shutdown (going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Code reported when the transport ended without a close frame.
pub const CLOSE_ABNORMAL: u16 = 1006;
/// Code reported when a close frame carried no code.
pub const CLOSE_NO_STATUS: u16 = 1005;

/// A connection that ended without a completed close handshake (1006).
fn abnormal(reason: impl Into<String>, by_client: bool) -> CloseInfo {
    CloseInfo {
        code: CLOSE_ABNORMAL,
        reason: reason.into(),
        by_client,
    }
}

/// Counts an upgraded connection as open until dropped.
struct OpenSocket<'a>(&'a super::Stats);

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Ids are unique per process and never reused.
static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// What every connection task shares.
pub struct ConnContext {
    /// Routes and plugins.
    pub registry: Arc<Registry>,
    /// Connection limits.
    pub limits: Limits,
    /// tungstenite's settings derived from the limits.
    pub ws_config: WebSocketConfig,
    /// Live counts for the admin status.
    pub stats: Arc<super::Stats>,
}

type Socket = WebSocketStream<ReadAhead<TcpStream>>;
type Sink = SplitSink<Socket, WsMessage>;
type Source = SplitStream<Socket>;

/// Serve one accepted TCP connection to the end.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let limits = &ctx.limits;
    let mut head = match tokio::time::timeout(
        limits.handshake_timeout(),
        read_head(&mut stream, limits.max_header_bytes as usize),
    )
    .await
    {
        Err(_) => {
            tracing::debug!(%peer, "handshake timed out");
            let _ =
                handshake::respond(&mut stream, 408, &[], "request head not received in time\n")
                    .await;
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, "bad handshake: {e}");
            if let Some(status) = e.status() {
                let _ = handshake::respond(&mut stream, status, &[], &format!("{e}\n")).await;
            }
            return;
        }
        Ok(Ok(head)) => head,
    };
    let Some(route) = ctx.registry.route(&head.path) else {
        let body = format!("no plugin serves {}\n", head.path);
        let _ = handshake::respond(&mut stream, 404, &[], &body).await;
        return;
    };
    if let Err((status, headers, body)) = check_upgrade(&head) {
        let _ = handshake::respond(&mut stream, status, &headers, body).await;
        return;
    }
    let plugin = route.target;
    if let Some(origin) = head.header("origin") {
        let allowed = &plugin.manifest.allowed_origins;
        if !allowed.is_empty()
            && !allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(origin.trim()))
        {
            let body = format!("origin {origin} is not allowed\n");
            let _ = handshake::respond(&mut stream, 403, &[], &body).await;
            return;
        }
    }
    if let Some(q) = plugin.health().quarantined() {
        let left = q.until.saturating_duration_since(Instant::now());
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let body = format!(
            "plugin `{}` is quarantined for {secs} more s after {} failures; last failure: {}\n",
            plugin.name, q.failures, q.reason
        );
        let headers = [("Retry-After".to_string(), secs.max(1).to_string())];
        let _ = handshake::respond(&mut stream, 503, &headers, &body).await;
        return;
    }
    let Some(_slot) = plugin.admit() else {
        let body = format!("plugin `{}` is at its connection limit\n", plugin.name);
        let _ = handshake::respond(&mut stream, 503, &[], &body).await;
        return;
    };
    let conn = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    let outbox = Arc::new(Outbox::new(
        limits.outbound_queue_messages as usize,
        limits.outbound_queue_bytes as usize,
    ));
    let shard = plugin.shard_for(conn);
    let (reply, answer) = oneshot::channel();
    let scope = scope::build(&head, route.pattern.as_str(), route.params, peer);
    let offered = scope.subprotocols.clone();
    // Keep only what the upgrade needs: the head itself (path, headers)
    // would otherwise live as long as the connection.
    let key = head
        .header("sec-websocket-key")
        .unwrap_or_default()
        .to_owned();
    let rest = std::mem::take(&mut head.rest);
    drop(head);
    if shard
        .send(Request::Connect {
            conn,
            scope,
            outbox: outbox.clone(),
            reply,
        })
        .await
        .is_err()
    {
        let _ = handshake::respond(&mut stream, 503, &[], "plugin unavailable\n").await;
        return;
    }
    let accept = match answer.await.unwrap_or(ConnectOutcome::Failed) {
        ConnectOutcome::Accept(accept) => accept,
        ConnectOutcome::Reject(reject) => {
            let (status, headers, body) = rejection(&plugin.name, reject);
            let _ = handshake::respond(&mut stream, status, &headers, &body).await;
            return;
        }
        ConnectOutcome::Failed => {
            let _ = handshake::respond(&mut stream, 500, &[], "plugin failed\n").await;
            return;
        }
    };
    // Accepted: from here on the plugin hears `on-disconnect` exactly once.
    let info = run_accepted(
        stream,
        key,
        rest,
        accept,
        &offered,
        conn,
        &outbox,
        &shard,
        &ctx,
        shutdown,
        &plugin.name,
    )
    .await;
    outbox.shut();
    tracing::debug!(
        conn,
        code = info.code,
        by_client = info.by_client,
        "connection closed"
    );
    let _ = shard.send(Request::Disconnect { conn, info }).await;
}

/// Answer a connection over the server's limit with 503, after reading its
/// request head (briefly) so the answer is not lost to a reset.
pub async fn refuse_busy(mut stream: TcpStream, ctx: &ConnContext) {
    let wait = ctx.limits.handshake_timeout().min(Duration::from_secs(2));
    let _ = tokio::time::timeout(
        wait,
        read_head(&mut stream, ctx.limits.max_header_bytes as usize),
    )
    .await;
    let _ = handshake::respond(&mut stream, 503, &[], "server at its connection limit\n").await;
}

/// A plain HTTP answer: status, headers, body.
type HttpAnswer = (u16, Vec<(String, String)>, &'static str);

/// The checks of RFC 6455 section 4.2.1 beyond routing.
fn check_upgrade(head: &RequestHead) -> Result<(), HttpAnswer> {
    if !head.is_upgrade() {
        let h = vec![("Upgrade".to_string(), "websocket".to_string())];
        return Err((
            426,
            h,
            "this path serves WebSocket connections only; send an upgrade request\n",
        ));
    }
    if head.method != "GET" {
        return Err((
            405,
            vec![("Allow".into(), "GET".into())],
            "a WebSocket upgrade must use GET\n",
        ));
    }
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        let h = vec![("Sec-WebSocket-Version".to_string(), "13".to_string())];
        return Err((
            426,
            h,
            "unsupported Sec-WebSocket-Version; this server speaks version 13\n",
        ));
    }
    if head
        .header("sec-websocket-key")
        .is_none_or(|k| k.trim().is_empty())
    {
        return Err((400, Vec::new(), "missing Sec-WebSocket-Key header\n"));
    }
    Ok(())
}

/// Headers a plugin asked for, minus the ones it may not set (logged).
pub(crate) fn allowed_headers(
    plugin: &str,
    headers: Vec<(String, String)>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(n, v)| match check_header(n, v) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(plugin, "header dropped: {why}");
                false
            }
        })
        .collect()
}

pub(crate) fn rejection(plugin: &str, reject: Reject) -> (u16, Vec<(String, String)>, String) {
    let status = if (400..=599).contains(&reject.status) {
        reject.status
    } else {
        tracing::warn!(
            plugin,
            "on-connect rejected with status {}, which is not 400-599; answering 500",
            reject.status
        );
        500
    };
    (status, allowed_headers(plugin, reject.headers), reject.body)
}

#[allow(clippy::too_many_arguments)]
async fn run_accepted(
    mut stream: TcpStream,
    key: String,
    rest: Vec<u8>,
    accept: Accept,
    offered: &[String],
    conn: u64,
    outbox: &Outbox,
    shard: &ShardHandle,
    ctx: &ConnContext,
    mut shutdown: watch::Receiver<bool>,
    plugin: &str,
) -> CloseInfo {
    if let Some(p) = &accept.subprotocol {
        if !offered.iter().any(|o| o == p) {
            let why = format!(
                "on-connect chose subprotocol {p:?}, which the client did not offer ({offered:?})"
            );
            tracing::error!(plugin, conn, "{why}; answering 500");
            let _ = handshake::respond(
                &mut stream,
                500,
                &[],
                "plugin chose a subprotocol the client did not offer\n",
            )
            .await;
            return abnormal(why, false);
        }
    }
    let headers = allowed_headers(plugin, accept.headers);
    if let Err(e) =
        handshake::switch_protocols(&mut stream, &key, accept.subprotocol.as_deref(), &headers)
            .await
    {
        return abnormal(format!("upgrade response failed: {e}"), true);
    }
    drop(headers);
    ctx.stats.websockets.fetch_add(1, Ordering::Relaxed);
    let _open = OpenSocket(&ctx.stats);
    let ws = WebSocketStream::from_partially_read(
        ReadAhead::new(stream),
        rest,
        Role::Server,
        Some(ctx.ws_config),
    )
    .await;
    let (mut sink, mut source) = ws.split();
    let close_timeout = Duration::from_millis(ctx.limits.close_timeout_ms);

    let activity = Activity::new();
    let reader = read_loop(&mut source, conn, shard, &activity);
    tokio::pin!(reader);
    let first = {
        let writer = write_loop(&mut sink, outbox);
        tokio::pin!(writer);
        let keepalive = keepalive(&activity, outbox, &ctx.limits);
        tokio::pin!(keepalive);
        tokio::select! {
            end = &mut reader => Err(end),
            end = &mut writer => Ok(end),
            end = &mut keepalive => match end {
                Silence::Idle => Ok(WriteEnd::Close(CLOSE_GOING_AWAY, "idle timeout".into())),
                // A peer that does not answer pings will not answer a close
                // frame either: drop it.
                Silence::Dead => return abnormal("no answer to ping", true),
            },
            _ = shutdown.wait_for(|stop| *stop) => Ok(WriteEnd::Close(CLOSE_GOING_AWAY, "server shutting down".into())),
        }
    };
    let ended_by_server = match first {
        Ok(end) => end,
        Err(end) => return finish_client_close(end, &mut sink, close_timeout).await,
    };
    // The server side starts the close: send our frame, then wait (bounded)
    // for the client's answering frame.
    let (code, reason) = match ended_by_server {
        WriteEnd::Close(code, reason) => (code, reason),
        WriteEnd::Overflow => (CLOSE_QUEUE_FULL, "outbound queue full".to_string()),
        WriteEnd::Failed(e) => return abnormal(e, true),
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

/// When the client was last heard from, in ms since the connection began.
struct Activity {
    start: Instant,
    /// Any frame, pongs included.
    frame: AtomicU64,
    /// Data messages only.
    data: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            frame: AtomicU64::new(0),
            data: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// Why the keepalive gave up on a connection.
enum Silence {
    /// No data message for the idle timeout.
    Idle,
    /// No frame at all within the ping timeout after a ping.
    Dead,
}

/// Ping a quiet client, notice a dead one, close an idle one. Never
/// resolves when keepalive and the idle timeout are both off.
async fn keepalive(activity: &Activity, outbox: &Outbox, limits: &Limits) -> Silence {
    let (interval, timeout, idle) = (
        limits.ping_interval_ms,
        limits.ping_timeout_ms,
        limits.idle_timeout_ms,
    );
    if interval == 0 && idle == 0 {
        return std::future::pending().await;
    }
    let mut ping_sent: Option<u64> = None;
    loop {
        let now = activity.now();
        let seen = activity.frame.load(Ordering::Relaxed);
        let data = activity.data.load(Ordering::Relaxed);
        if idle > 0 && now.saturating_sub(data) >= idle {
            return Silence::Idle;
        }
        // Sleep until the next moment something could be due: one wake-up
        // per interval for a quiet connection, none for a busy one.
        let mut next = u64::MAX;
        if idle > 0 {
            next = data + idle;
        }
        if interval > 0 {
            match ping_sent {
                Some(sent) if seen >= sent => ping_sent = None,
                Some(sent) if now.saturating_sub(sent) >= timeout => return Silence::Dead,
                _ => {}
            }
            if ping_sent.is_none()
                && now.saturating_sub(seen) >= interval
                && outbox.push(Outbound::Ping).is_ok()
            {
                ping_sent = Some(now);
            }
            next = next.min(match ping_sent {
                Some(sent) => sent + timeout,
                None => seen + interval,
            });
        }
        tokio::time::sleep(Duration::from_millis(next.saturating_sub(now).max(10))).await;
    }
}

async fn read_loop(
    source: &mut Source,
    conn: u64,
    shard: &ShardHandle,
    activity: &Activity,
) -> ReadEnd {
    loop {
        let next = source.next().await;
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
        // Wait for room first and build the request after: a pending send
        // would hold the request inside every connection's future.
        let Ok(slot) = shard.reserve().await else {
            return ReadEnd::ShardGone;
        };
        slot.send(Request::Message { conn, message });
    }
}

async fn write_loop(sink: &mut Sink, outbox: &Outbox) -> WriteEnd {
    let mut batch = Batch::default();
    loop {
        outbox.take(&mut batch).await;
        if batch.overflowed {
            return WriteEnd::Overflow;
        }
        for item in batch.items.drain(..) {
            let frame = match item {
                Outbound::Message(m) => m,
                Outbound::Ping => WsMessage::Ping(Default::default()),
                Outbound::Close { code, reason } => {
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
        if let Err(e) = sink.flush().await {
            return WriteEnd::Failed(e.to_string());
        }
    }
}

/// The client started the close (or broke the protocol, or vanished):
/// answer as RFC 6455 asks and report how it ended.
async fn finish_client_close(end: ReadEnd, sink: &mut Sink, close_timeout: Duration) -> CloseInfo {
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
                    code: CLOSE_NO_STATUS,
                    reason: String::new(),
                    by_client: true,
                },
            }
        }
        ReadEnd::Dropped => abnormal(String::new(), true),
        ReadEnd::ShardGone => {
            let frame = CloseFrame {
                code: CloseCode::from(CLOSE_INTERNAL_ERROR),
                reason: "plugin unavailable".into(),
            };
            let _ =
                tokio::time::timeout(close_timeout, sink.send(WsMessage::Close(Some(frame)))).await;
            CloseInfo {
                code: CLOSE_INTERNAL_ERROR,
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
            let short = crate::text::truncate(&reason, crate::runtime::MAX_CLOSE_REASON).to_owned();
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
