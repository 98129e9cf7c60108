//! wasmsock's benchmark load generator (a tokio-tungstenite client).
//!
//! Modes, each loading one echo server at `--url` on loopback (`ws://`, or
//! `wss://` over TLS; `--header` adds a header to every upgrade request):
//!
//! - `echo`: C connections each send N messages of S bytes, keeping W in
//!   flight (W = 1 is ping-pong). Reports msgs/s and round-trip latency.
//! - `connect`: K lifecycles (TCP connect, upgrade, one echo, close
//!   handshake), P at a time. Reports lifecycles per second.
//! - `idle`: opens K connections (one echo each) and holds them; reads the
//!   server's RSS before and after. With `--active A`, A of the held
//!   connections then echo N messages each at window 1 (the scale run).
//! - `fanout`: K member connections and one sender on a group broadcast
//!   server (`/fanout/{group}`); the sender sends N messages of S bytes, W
//!   at a time, each counted as delivered when the last member has it.
//!   Reports deliveries/s and the time from send to the last member. With
//!   `--sender-url`, the sender connects to another server than the
//!   members (two hosts sharing the group through a channel layer).
//!
//! Every echo is verified: a message carries its connection index and
//! sequence number and is exactly S bytes; a wrong, missing, reordered or
//! resized echo is an error; in `fanout`, every member must get every
//! message exactly once and in order, and the sender none of its own. Any
//! error makes the exit code non-zero, so a
//! fast wrong server never wins. Readable lines go to stderr; stdout gets
//! exactly one `RESULT {json}` line.
//!
//! With `--pid`, the server's CPU time (utime + stime of the PID, from
//! /proc) over the measured phase is reported, with the load generator's own
//! CPU and the rest of the machine's (`other_busy_cores`, a noise flag).
//! `--also-pid` adds processes whose CPU is the server's too (the Redis
//! behind a Channels server).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::either::Either;

mod tls;

/// A client socket: plain TCP, or TLS for a `wss://` URL.
type Stream = Either<TcpStream, TlsStream<TcpStream>>;
type Ws = WebSocketStream<Stream>;

/// Load generator for wasmsock's benchmark: every echo is verified.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// C connections × N messages of S bytes, W in flight per connection.
    Echo {
        #[command(flatten)]
        common: Common,
        /// Connections.
        #[arg(short = 'c', long, default_value_t = 50)]
        conns: usize,
        /// Messages per connection.
        #[arg(short = 'n', long, default_value_t = 2000)]
        msgs: usize,
        /// Window: messages in flight per connection.
        #[arg(short = 'w', long, default_value_t = 1)]
        window: usize,
    },
    /// K connection lifecycles (connect, upgrade, one echo, close), P at a time.
    Connect {
        #[command(flatten)]
        common: Common,
        /// Lifecycles.
        #[arg(short = 'k', long, default_value_t = 2000)]
        count: usize,
        /// Lifecycles in progress at once.
        #[arg(short = 'p', long, default_value_t = 50)]
        parallel: usize,
    },
    /// Hold K open connections; report the server's RSS per connection.
    /// With --active A, A of them then echo N messages each at window 1.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Connections to open and hold.
        #[arg(short = 'k', long, default_value_t = 1000)]
        count: usize,
        /// Connections opened at once.
        #[arg(short = 'p', long, default_value_t = 64)]
        parallel: usize,
        /// Wait this long after the last connection opened before reading
        /// the server's memory, in ms.
        #[arg(long, default_value_t = 1000)]
        settle_ms: u64,
        /// Held connections that then echo (the scale run's active ones).
        #[arg(long, default_value_t = 0)]
        active: usize,
        /// Messages each active connection echoes, at window 1.
        #[arg(short = 'n', long, default_value_t = 200)]
        msgs: usize,
        /// Pause between an active connection's echo and its next message,
        /// in ms: a paced load whose latency is service time, not queueing
        /// (0: back to back).
        #[arg(long, default_value_t = 10)]
        interval_ms: u64,
    },
    /// K members of one group and a sender: N messages of S bytes fanned out
    /// to every member, W not yet delivered to all at a time.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Member connections (the sender is one more).
        #[arg(short = 'k', long, default_value_t = 1000)]
        members: usize,
        /// Messages the sender sends (after one untimed warm-up message).
        #[arg(short = 'n', long, default_value_t = 200)]
        msgs: usize,
        /// Messages sent but not yet delivered to every member, at most
        /// (1: the next is sent when every member has the previous one).
        #[arg(short = 'w', long, default_value_t = 1)]
        window: usize,
        /// Connections opened at once.
        #[arg(short = 'p', long, default_value_t = 64)]
        parallel: usize,
        /// Fail when no message completes its delivery for this long, in ms,
        /// saying how many members had it.
        #[arg(long, default_value_t = 30_000)]
        stall_ms: u64,
        /// Connect the sender here instead of `--url` (ws://127.0.0.1:PORT/PATH,
        /// loopback only): another server sharing the group, so each message
        /// crosses from the sender's host to the members' host.
        #[arg(long)]
        sender_url: Option<String>,
    },
}

#[derive(Args)]
struct Common {
    /// Server URL, ws://127.0.0.1:PORT/PATH (loopback only).
    #[arg(long)]
    url: String,
    /// Message size in bytes (at least 24).
    #[arg(short = 's', long, default_value_t = 64)]
    size: usize,
    /// Send binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// Server PID, for its CPU time and memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Another process whose CPU time counts as the server's (e.g. the
    /// Redis a Channels server needs); repeatable.
    #[arg(long)]
    also_pid: Vec<u32>,
    /// Give up (and fail) after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Tokio worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Read buffer of each client connection, in bytes. tungstenite
    /// zero-fills the free part of it before every read, so a buffer much
    /// larger than the messages costs client CPU per read (the fanout mode's
    /// members read one small message per wake-up).
    #[arg(long, default_value_t = 8 << 10)]
    read_buffer: usize,
    /// Spread connections over this many source addresses, 127.0.0.1 and
    /// up, to get past the ephemeral port range (about 28,000 per address).
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// A header for every upgrade request, as `Name: value` (an
    /// `Authorization: Bearer` token, a session cookie); repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,
}

/// A failed run: what went wrong first and how often.
#[derive(Default)]
struct Errors {
    count: usize,
    first: Option<String>,
}

impl Errors {
    fn add(&mut self, e: String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(e);
        }
    }
}

// ---------------------------------------------------------------- payloads

/// The message `seq` of connection `conn`: `conn:seq:` padded with 'x' to
/// exactly `size` bytes.
fn payload(conn: usize, seq: usize, size: usize) -> String {
    let mut s = format!("{conn}:{seq}:");
    while s.len() < size {
        s.push('x');
    }
    s
}

fn message(conn: usize, seq: usize, size: usize, binary: bool) -> Message {
    let p = payload(conn, seq, size);
    if binary {
        Message::binary(p.into_bytes())
    } else {
        Message::text(p)
    }
}

/// Check that `got` is exactly message `seq` of connection `conn`.
fn verify(got: &Message, conn: usize, seq: usize, size: usize, binary: bool) -> Result<(), String> {
    let data: &[u8] = match got {
        Message::Text(t) if !binary => t.as_bytes(),
        Message::Binary(b) if binary => b,
        other => {
            return Err(format!(
                "conn {conn}: expected echo {seq} as {}, got a {} frame",
                if binary { "binary" } else { "text" },
                frame_kind(other)
            ))
        }
    };
    if data.len() != size {
        return Err(format!(
            "conn {conn}: echo {seq} has {} bytes, sent {size}",
            data.len()
        ));
    }
    let want = payload(conn, seq, size);
    if data != want.as_bytes() {
        let head = String::from_utf8_lossy(&data[..data.len().min(24)]).into_owned();
        return Err(format!(
            "conn {conn}: expected echo {seq}, got one starting {head:?} (out of order or corrupted)"
        ));
    }
    Ok(())
}

fn frame_kind(m: &Message) -> &'static str {
    match m {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "raw",
    }
}

// ---------------------------------------------------------------- connections

/// A `--header` value, `Name: value`.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("--header {text:?}: expected `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| format!("--header {text:?}: {e}"))?;
    let value =
        HeaderValue::from_str(value.trim()).map_err(|e| format!("--header {text:?}: {e}"))?;
    Ok((name, value))
}

struct Target {
    addr: SocketAddr,
    url: String,
    size: usize,
    binary: bool,
    sources: u8,
    read_buffer: usize,
    /// Processes whose CPU counts with the server's.
    also_pids: Vec<u32>,
    /// Headers added to every upgrade request.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The TLS client, for a `wss://` URL.
    tls: Option<TlsConnector>,
}

/// The address of a `ws://IP:PORT/PATH` or `wss://IP:PORT/PATH` URL, which
/// must be on loopback.
fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| format!("{url}: the URL must start with ws:// or wss://"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|_| format!("{url}: expected ws://IP:PORT/PATH"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr}: only loopback servers may be loaded"));
    }
    Ok(addr)
}

impl Target {
    fn parse(common: &Common) -> Result<Target, String> {
        let addr = loopback_addr(&common.url)?;
        if common.size < 24 {
            return Err("--size must be at least 24 bytes".into());
        }
        if common.sources == 0 || common.sources > 200 {
            return Err("--sources must be 1..200".into());
        }
        Ok(Target {
            addr,
            url: common.url.clone(),
            size: common.size,
            binary: common.binary,
            sources: common.sources,
            read_buffer: common.read_buffer.clamp(256, 1 << 20),
            also_pids: common.also_pid.clone(),
            headers: common
                .headers
                .iter()
                .map(|h| parse_header(h))
                .collect::<Result<_, _>>()?,
            tls: common.url.starts_with("wss://").then(tls::connector),
        })
    }

    /// The same client settings aimed at another server.
    fn elsewhere(&self, url: &str) -> Result<Target, String> {
        Ok(Target {
            addr: loopback_addr(url)?,
            url: url.to_string(),
            size: self.size,
            binary: self.binary,
            sources: self.sources,
            read_buffer: self.read_buffer,
            also_pids: self.also_pids.clone(),
            headers: self.headers.clone(),
            tls: url.starts_with("wss://").then(tls::connector),
        })
    }

    fn config(&self) -> WebSocketConfig {
        // A small read buffer (8 KiB by default) keeps 100,000 held
        // connections affordable on the client side; echo messages are
        // small.
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(0)
    }

    /// TCP connect (from source address `i % sources`) and upgrade.
    async fn open(&self, i: usize) -> Result<Ws, String> {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        if self.sources > 1 {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (i % self.sources as usize) as u8);
            socket
                .bind(SocketAddr::new(IpAddr::V4(src), 0))
                .map_err(|e| format!("bind {src}: {e}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let stream = match &self.tls {
            None => Either::Left(stream),
            Some(tls) => Either::Right(
                tls.connect(tls::server_name(self.addr), stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?,
            ),
        };
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("{}: {e}", self.url))?;
        for (name, value) in &self.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(self.config()))
                .await
                .map_err(|e| format!("upgrade: {e}"))?;
        Ok(ws)
    }

    /// One verified echo.
    async fn echo_once(&self, ws: &mut Ws, conn: usize, seq: usize) -> Result<(), String> {
        ws.send(message(conn, seq, self.size, self.binary))
            .await
            .map_err(|e| format!("conn {conn}: send: {e}"))?;
        let got = next_data(ws, conn).await?;
        verify(&got, conn, seq, self.size, self.binary)
    }
}

/// The next data message, skipping pings and pongs (tungstenite answers
/// pings by itself).
async fn next_data(ws: &mut Ws, conn: usize) -> Result<Message, String> {
    loop {
        match ws.next().await {
            None => return Err(format!("conn {conn}: closed by the server mid-run")),
            Some(Err(e)) => return Err(format!("conn {conn}: read: {e}")),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(f))) => {
                return Err(format!("conn {conn}: server closed mid-run: {f:?}"))
            }
            Some(Ok(m)) => return Ok(m),
        }
    }
}

/// Client-initiated close handshake: send the close, read until the server's
/// close and the end of the stream.
async fn close(mut ws: Ws, conn: usize) -> Result<(), String> {
    ws.close(None)
        .await
        .map_err(|e| format!("conn {conn}: close: {e}"))?;
    loop {
        match ws.next().await {
            None => return Ok(()),
            Some(Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(m)) => {
                return Err(format!(
                    "conn {conn}: unexpected {} frame after close",
                    frame_kind(&m)
                ))
            }
            // The server may drop the socket right after its close frame.
            Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => return Ok(()),
            Some(Err(e)) => return Err(format!("conn {conn}: closing: {e}")),
        }
    }
}

/// Open `count` connections, `parallel` at a time, each doing one verified
/// echo if `echo` (a broadcast server echoes nothing). Returns them in index
/// order.
async fn open_many(
    target: &Arc<Target>,
    count: usize,
    parallel: usize,
    echo: bool,
) -> Result<Vec<Ws>, String> {
    let sem = Arc::new(Semaphore::new(parallel.max(1)));
    let mut set = JoinSet::new();
    let mut all: Vec<Option<Ws>> = (0..count).map(|_| None).collect();
    let mut keep = |done: Result<Result<(usize, Ws), String>, tokio::task::JoinError>| {
        let (i, ws) = done.map_err(|e| e.to_string())??;
        all[i] = Some(ws);
        Ok::<_, String>(())
    };
    for i in 0..count {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let t = target.clone();
        set.spawn(async move {
            let _permit = permit;
            let mut ws = t.open(i).await.map_err(|e| format!("conn {i}: {e}"))?;
            if echo {
                t.echo_once(&mut ws, i, 0).await?;
            }
            Ok::<_, String>((i, ws))
        });
        // Fail early: no point opening the rest after an error.
        while let Some(done) = set.try_join_next() {
            keep(done)?;
        }
    }
    while let Some(done) = set.join_next().await {
        keep(done)?;
    }
    all.into_iter()
        .enumerate()
        .map(|(i, w)| w.ok_or_else(|| format!("conn {i}: missing")))
        .collect()
}

// ---------------------------------------------------------------- /proc

/// Linux reports CPU times in USER_HZ ticks, 100 per second on every
/// mainstream architecture.
const TICKS_PER_S: f64 = 100.0;

fn proc_cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// Busy CPU seconds of the whole machine (all but idle and iowait).
fn machine_busy_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user)
    let busy = v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4)?;
    Some(busy / TICKS_PER_S)
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU counters at the start of a measured phase.
struct Probe {
    at: Instant,
    server: Option<f64>,
    client: Option<f64>,
    machine: Option<f64>,
    pid: Option<u32>,
    also: Vec<u32>,
}

/// CPU seconds of the server and the processes counted with it; `None`
/// if any of them cannot be read.
fn server_cpu_s(pid: u32, also: &[u32]) -> Option<f64> {
    std::iter::once(&pid)
        .chain(also)
        .map(|p| proc_cpu_s(&p.to_string()))
        .sum()
}

impl Probe {
    fn start(pid: Option<u32>, also: &[u32]) -> Probe {
        Probe {
            at: Instant::now(),
            server: pid.and_then(|p| server_cpu_s(p, also)),
            client: proc_cpu_s("self"),
            machine: machine_busy_s(),
            pid,
            also: also.to_vec(),
        }
    }

    /// Elapsed seconds and CPU figures of the phase, `per` units of work.
    fn finish(&self, out: &mut serde_json::Map<String, Value>, per: usize, unit: &str) -> f64 {
        let elapsed = self.at.elapsed().as_secs_f64();
        out.insert("elapsed_s".into(), json!(round3(elapsed)));
        let server = match (self.pid, self.server) {
            (Some(p), Some(s0)) => server_cpu_s(p, &self.also).map(|s1| s1 - s0),
            _ => None,
        };
        let client = self.client.zip(proc_cpu_s("self")).map(|(a, b)| b - a);
        let machine = self.machine.zip(machine_busy_s()).map(|(a, b)| b - a);
        if let Some(s) = server {
            out.insert("server_cpu_s".into(), json!(round3(s)));
            if per > 0 {
                out.insert(
                    format!("server_cpu_us_per_{unit}"),
                    json!(round3(s * 1e6 / per as f64)),
                );
            }
            out.insert("server_busy_cores".into(), json!(round3(s / elapsed)));
        }
        if let Some(c) = client {
            out.insert("client_cpu_s".into(), json!(round3(c)));
            out.insert("client_busy_cores".into(), json!(round3(c / elapsed)));
        }
        if let Some(m) = machine {
            out.insert("machine_busy_cores".into(), json!(round3(m / elapsed)));
            let other = m - server.unwrap_or(0.0) - client.unwrap_or(0.0);
            out.insert(
                "other_busy_cores".into(),
                json!(round3((other / elapsed).max(0.0))),
            );
        }
        elapsed
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Percentiles of round-trip times in µs.
fn latency(out: &mut serde_json::Map<String, Value>, prefix: &str, mut lat: Vec<u32>) {
    if lat.is_empty() {
        return;
    }
    lat.sort_unstable();
    let pick = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1];
    out.insert(format!("{prefix}p50_us"), json!(pick(0.50)));
    out.insert(format!("{prefix}p90_us"), json!(pick(0.90)));
    out.insert(format!("{prefix}p99_us"), json!(pick(0.99)));
    out.insert(format!("{prefix}p999_us"), json!(pick(0.999)));
    out.insert(format!("{prefix}max_us"), json!(lat[lat.len() - 1]));
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

// ---------------------------------------------------------------- modes

/// One connection's share of an echo run.
async fn echo_conn(
    target: Arc<Target>,
    mut ws: Ws,
    conn: usize,
    msgs: usize,
    window: usize,
) -> Result<Vec<u32>, String> {
    let (size, binary) = (target.size, target.binary);
    let mut lat = Vec::with_capacity(msgs);
    let mut inflight: VecDeque<Instant> = VecDeque::with_capacity(window);
    let mut sent = 0;
    // The first message was the open's check (seq 0).
    let first = 1;
    while sent < msgs.min(window) {
        inflight.push_back(Instant::now());
        ws.feed(message(conn, first + sent, size, binary))
            .await
            .map_err(|e| format!("conn {conn}: send: {e}"))?;
        sent += 1;
    }
    ws.flush()
        .await
        .map_err(|e| format!("conn {conn}: send: {e}"))?;
    for got in 0..msgs {
        let m = next_data(&mut ws, conn).await?;
        let t = inflight.pop_front().ok_or("internal: no send time")?;
        lat.push(micros(t.elapsed()));
        verify(&m, conn, first + got, size, binary)?;
        if sent < msgs {
            inflight.push_back(Instant::now());
            ws.send(message(conn, first + sent, size, binary))
                .await
                .map_err(|e| format!("conn {conn}: send: {e}"))?;
            sent += 1;
        }
    }
    close(ws, conn).await?;
    Ok(lat)
}

async fn run_echo(
    target: Arc<Target>,
    pid: Option<u32>,
    conns: usize,
    msgs: usize,
    window: usize,
) -> (serde_json::Map<String, Value>, Errors) {
    let mut out = serde_json::Map::new();
    let mut errors = Errors::default();
    out.insert("conns".into(), json!(conns));
    out.insert("msgs_per_conn".into(), json!(msgs));
    out.insert("window".into(), json!(window));
    let opened = match open_many(&target, conns, 64, true).await {
        Ok(o) => o,
        Err(e) => {
            errors.add(e);
            return (out, errors);
        }
    };
    let probe = Probe::start(pid, &target.also_pids);
    let mut set = JoinSet::new();
    for (i, ws) in opened.into_iter().enumerate() {
        set.spawn(echo_conn(target.clone(), ws, i, msgs, window.max(1)));
    }
    let mut lat = Vec::with_capacity(conns * msgs);
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Ok(l)) => lat.extend(l),
            Ok(Err(e)) => errors.add(e),
            Err(e) => errors.add(e.to_string()),
        }
    }
    let verified = lat.len();
    let elapsed = probe.finish(&mut out, verified, "msg");
    out.insert("verified".into(), json!(verified));
    out.insert(
        "msgs_per_s".into(),
        json!((verified as f64 / elapsed).round()),
    );
    latency(&mut out, "", lat);
    (out, errors)
}

async fn run_connect(
    target: Arc<Target>,
    pid: Option<u32>,
    count: usize,
    parallel: usize,
) -> (serde_json::Map<String, Value>, Errors) {
    let mut out = serde_json::Map::new();
    let mut errors = Errors::default();
    out.insert("count".into(), json!(count));
    out.insert("parallel".into(), json!(parallel));
    let next = Arc::new(AtomicUsize::new(0));
    let probe = Probe::start(pid, &target.also_pids);
    let mut set = JoinSet::new();
    for _ in 0..parallel.clamp(1, count.max(1)) {
        let (t, next) = (target.clone(), next.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, String>(lat);
                }
                let start = Instant::now();
                let mut ws = t.open(i).await.map_err(|e| format!("conn {i}: {e}"))?;
                t.echo_once(&mut ws, i, 0).await?;
                close(ws, i).await?;
                lat.push(micros(start.elapsed()));
            }
        });
    }
    let mut lat = Vec::with_capacity(count);
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Ok(l)) => lat.extend(l),
            Ok(Err(e)) => errors.add(e),
            Err(e) => errors.add(e.to_string()),
        }
    }
    let done = lat.len();
    let elapsed = probe.finish(&mut out, done, "conn");
    out.insert("verified".into(), json!(done));
    out.insert("conns_per_s".into(), json!((done as f64 / elapsed).round()));
    latency(&mut out, "lifecycle_", lat);
    (out, errors)
}

/// What an active held connection reports once its echoes are done.
type ActiveReport = Result<Vec<u32>, String>;

/// An active held connection's orders: messages, pause between them, the
/// start signal and where to report.
type Active = (
    usize,
    Duration,
    watch::Receiver<bool>,
    mpsc::UnboundedSender<ActiveReport>,
);

/// A held connection: reads (so pings are answered) until told to stop. An
/// active one first waits for the start signal, echoes `msgs` messages at
/// window 1 and reports their round-trip times, then goes on holding.
async fn hold(
    target: Arc<Target>,
    mut ws: Ws,
    conn: usize,
    active: Option<Active>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    if let Some((msgs, interval, mut go, report)) = active {
        let run = async {
            loop {
                tokio::select! {
                    r = go.changed() => { r.map_err(|e| e.to_string())?; break; }
                    m = ws.next() => held_frame(m, conn)?,
                }
            }
            let mut lat = Vec::with_capacity(msgs);
            // Stagger the active connections over one interval.
            let offset = interval.as_micros() as u64 * (conn as u64 % 97) / 97;
            tokio::time::sleep(Duration::from_micros(offset)).await;
            for seq in 1..=msgs {
                let start = Instant::now();
                target.echo_once(&mut ws, conn, seq).await?;
                lat.push(micros(start.elapsed()));
                if !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
            }
            Ok(lat)
        };
        let r = run.await;
        let failed = r.is_err();
        let _ = report.send(r);
        if failed {
            return Ok(()); // already reported
        }
    }
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            m = ws.next() => held_frame(m, conn)?,
        }
    }
}

/// A held connection may only see pings and pongs.
fn held_frame(
    m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    conn: usize,
) -> Result<(), String> {
    match m {
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
        Some(Ok(m)) => Err(format!(
            "conn {conn}: unexpected {} frame while held",
            frame_kind(&m)
        )),
        Some(Err(e)) => Err(format!("conn {conn}: while held: {e}")),
        None => Err(format!("conn {conn}: closed by the server while held")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_idle(
    target: Arc<Target>,
    pid: Option<u32>,
    count: usize,
    parallel: usize,
    settle_ms: u64,
    active: usize,
    msgs: usize,
    interval: Duration,
) -> (serde_json::Map<String, Value>, Errors) {
    let mut out = serde_json::Map::new();
    let mut errors = Errors::default();
    out.insert("count".into(), json!(count));
    out.insert("sources".into(), json!(target.sources));
    // Warm-up: the first connection pays for lazy setup (a plugin's shard,
    // thread pools, allocator arenas) that is not a per-connection cost.
    match target.open(usize::MAX / 2).await {
        Ok(mut ws) => {
            if let Err(e) = target.echo_once(&mut ws, usize::MAX / 2, 0).await {
                errors.add(e);
            }
            if let Err(e) = close(ws, usize::MAX / 2).await {
                errors.add(e);
            }
        }
        Err(e) => errors.add(format!("warm-up: {e}")),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = pid.and_then(rss_kib);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (go_tx, go_rx) = watch::channel(false);
    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    // Active connections are spread evenly among the held ones.
    let stride = count.checked_div(active).unwrap_or(0).max(1);
    let sem = Arc::new(Semaphore::new(parallel.max(1)));
    let mut set = JoinSet::new();
    let mut n_active = 0;
    let opening = Instant::now();
    let mut ready = 0;
    // Each connection is held (read, so pings are answered) as soon as it
    // is open: opening 100,000 takes longer than a keepalive interval.
    for i in 0..count {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        while let Ok(r) = ready_rx.try_recv() {
            match r {
                Ok(()) => ready += 1,
                Err(e) => errors.add(e),
            }
        }
        if errors.count > 0 {
            break;
        }
        let is_active = active > 0 && i % stride == 0 && n_active < active;
        n_active += is_active as usize;
        let a = is_active.then(|| (msgs, interval, go_rx.clone(), report_tx.clone()));
        let (t, stop, ready) = (target.clone(), stop_rx.clone(), ready_tx.clone());
        set.spawn(async move {
            let opened = async {
                let mut ws = t.open(i).await.map_err(|e| format!("conn {i}: {e}"))?;
                t.echo_once(&mut ws, i, 0).await?;
                Ok::<_, String>(ws)
            }
            .await;
            drop(permit);
            match opened {
                Ok(ws) => {
                    let _ = ready.send(Ok(()));
                    hold(t, ws, i, a, stop).await
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    Ok(())
                }
            }
        });
    }
    drop(ready_tx);
    while errors.count == 0 && ready < count {
        match ready_rx.recv().await {
            Some(Ok(())) => ready += 1,
            Some(Err(e)) => errors.add(e),
            None => break,
        }
    }
    if errors.count > 0 || ready < count {
        if errors.count == 0 {
            errors.add(format!("only {ready} of {count} connections opened"));
        }
        let _ = stop_tx.send(true);
        set.abort_all();
        return (out, errors);
    }
    let open_s = opening.elapsed().as_secs_f64();
    out.insert("open_s".into(), json!(round3(open_s)));
    out.insert("opens_per_s".into(), json!((count as f64 / open_s).round()));
    eprintln!("idle: {count} connections open in {open_s:.1} s");
    drop(report_tx);
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    let rss1 = pid.and_then(rss_kib);
    if let (Some(a), Some(b)) = (rss0, rss1) {
        out.insert("server_rss_before_kib".into(), json!(a));
        out.insert("server_rss_kib".into(), json!(b));
        out.insert(
            "rss_per_conn_kib".into(),
            json!(round3((b as f64 - a as f64) / count.max(1) as f64)),
        );
    }
    out.insert("client_rss_kib".into(), json!(rss_kib(std::process::id())));
    if n_active > 0 {
        out.insert("active".into(), json!(n_active));
        out.insert("msgs_per_active".into(), json!(msgs));
        out.insert("interval_ms".into(), json!(interval.as_millis() as u64));
        let probe = Probe::start(pid, &target.also_pids);
        let _ = go_tx.send(true);
        let mut lat = Vec::with_capacity(n_active * msgs);
        for _ in 0..n_active {
            match report_rx.recv().await {
                Some(Ok(l)) => lat.extend(l),
                Some(Err(e)) => errors.add(e),
                None => {
                    errors.add("an active connection ended without reporting".into());
                    break;
                }
            }
        }
        let _ = probe.finish(&mut out, lat.len(), "msg");
        out.insert(
            "server_rss_after_active_kib".into(),
            json!(pid.and_then(rss_kib)),
        );
        out.insert("verified".into(), json!(lat.len()));
        latency(&mut out, "active_", lat);
    }
    let _ = stop_tx.send(true);
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.add(e),
            Err(e) => errors.add(e.to_string()),
        }
    }
    (out, errors)
}

// ---------------------------------------------------------------- fanout

/// Where a member reports: a message it was the last to receive, with the
/// moment it had it.
type Done = mpsc::UnboundedSender<(usize, Instant)>;

/// What every member of a fan-out run shares.
struct Fan {
    /// Message `seq` as sent: `sender:seq:` padded to the size.
    expect: Vec<String>,
    /// Members that have had message `seq`.
    counts: Vec<AtomicU32>,
    /// Members in the group.
    members: u32,
    /// Binary messages instead of text.
    binary: bool,
}

/// One member: reads messages 0..=N in order, checking each, and reports
/// the messages it completes; then reads on until told to stop, so a
/// duplicate or extra message is caught. Returns the messages it had.
async fn fan_member(
    fan: Arc<Fan>,
    mut ws: Ws,
    member: usize,
    done: Done,
    mut stop: watch::Receiver<bool>,
) -> Result<usize, String> {
    for seq in 0..fan.expect.len() {
        let m = tokio::select! {
            _ = stop.changed() => {
                return Err(format!("member {member}: stopped while waiting for message {seq}"))
            }
            m = next_data(&mut ws, member) => m.map_err(|e| format!("member {e}"))?,
        };
        let data: &[u8] = match &m {
            Message::Text(t) if !fan.binary => t.as_bytes(),
            Message::Binary(b) if fan.binary => b,
            other => {
                return Err(format!(
                    "member {member}: message {seq} came as a {} frame",
                    frame_kind(other)
                ))
            }
        };
        if data != fan.expect[seq].as_bytes() {
            let head = String::from_utf8_lossy(&data[..data.len().min(24)]).into_owned();
            return Err(format!(
                "member {member}: expected message {seq} ({} bytes), got {} bytes starting {head:?} \
                 (lost, duplicated, reordered or corrupted)",
                fan.expect[seq].len(),
                data.len()
            ));
        }
        if fan.counts[seq].fetch_add(1, Ordering::AcqRel) + 1 == fan.members {
            let _ = done.send((seq, Instant::now()));
        }
    }
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(fan.expect.len()),
            m = ws.next() => match m {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(m)) => {
                    return Err(format!(
                        "member {member}: a {} frame after the last message (a duplicate or a stray)",
                        frame_kind(&m)
                    ))
                }
                Some(Err(e)) => return Err(format!("member {member}: after the last message: {e}")),
                None => return Err(format!("member {member}: closed by the server after the last message")),
            },
        }
    }
}

/// The sender's next event: a completed delivery, a failed member, or a
/// frame on its own connection (which must only be a ping or pong: the
/// server leaves the sender out).
enum FanEvent {
    Done(Option<(usize, Instant)>),
    Failed(Option<String>),
    Own(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
}

/// Why the sender stopped waiting: nothing completed within the stall
/// time (`None`), or what went wrong.
type FanError = Option<String>;

/// Wait for the next completed delivery, failing after `stall` without one.
async fn fan_event(
    sender: &mut Ws,
    done: &mut mpsc::UnboundedReceiver<(usize, Instant)>,
    failed: &mut mpsc::UnboundedReceiver<String>,
    stall: Duration,
) -> Result<(usize, Instant), FanError> {
    loop {
        let event = tokio::time::timeout(stall, async {
            tokio::select! {
                d = done.recv() => FanEvent::Done(d),
                f = failed.recv() => FanEvent::Failed(f),
                m = sender.next() => FanEvent::Own(m),
            }
        })
        .await
        .map_err(|_| None)?;
        let e = match event {
            FanEvent::Done(Some(d)) => return Ok(d),
            FanEvent::Own(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            FanEvent::Done(None) | FanEvent::Failed(None) => {
                "internal: the members' channels closed".into()
            }
            FanEvent::Failed(Some(e)) => e,
            FanEvent::Own(Some(Ok(m))) => format!(
                "sender: got a {} frame back (the server must leave the sender out)",
                frame_kind(&m)
            ),
            FanEvent::Own(Some(Err(e))) => format!("sender: read: {e}"),
            FanEvent::Own(None) => "sender: closed by the server mid-run".into(),
        };
        return Err(Some(e));
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_fanout(
    target: Arc<Target>,
    sender_target: Arc<Target>,
    pid: Option<u32>,
    members: usize,
    msgs: usize,
    window: usize,
    parallel: usize,
    stall: Duration,
    nofile: u64,
) -> (serde_json::Map<String, Value>, Errors) {
    let mut out = serde_json::Map::new();
    let mut errors = Errors::default();
    out.insert("members".into(), json!(members));
    out.insert("msgs".into(), json!(msgs));
    out.insert("window".into(), json!(window));
    out.insert("sender_url".into(), json!(sender_target.url));
    // One descriptor per member, the sender, and a few of the runtime's.
    if members as u64 + 32 > nofile {
        errors.add(format!(
            "{members} members need {} open files; RLIMIT_NOFILE allows {nofile}",
            members + 32
        ));
        return (out, errors);
    }
    if members == 0 || members > u32::MAX as usize {
        errors.add(format!("--members must be 1..={}", u32::MAX));
        return (out, errors);
    }
    let opening = Instant::now();
    let opened = match open_many(&target, members, parallel, false).await {
        Ok(o) => o,
        Err(e) => {
            errors.add(e);
            return (out, errors);
        }
    };
    let sender_id = members;
    let mut sender = match sender_target.open(sender_id).await {
        Ok(ws) => ws,
        Err(e) => {
            errors.add(format!("sender: {e}"));
            return (out, errors);
        }
    };
    let open_s = opening.elapsed().as_secs_f64();
    out.insert("open_s".into(), json!(round3(open_s)));
    eprintln!("fanout: {members} members and the sender open in {open_s:.1} s");
    let fan = Arc::new(Fan {
        expect: (0..=msgs)
            .map(|seq| payload(sender_id, seq, target.size))
            .collect(),
        counts: (0..=msgs).map(|_| AtomicU32::new(0)).collect(),
        members: members as u32,
        binary: target.binary,
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (fail_tx, mut fail_rx) = mpsc::unbounded_channel::<String>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut set = JoinSet::new();
    for (i, ws) in opened.into_iter().enumerate() {
        let (fan, done, fail, stop) = (
            fan.clone(),
            done_tx.clone(),
            fail_tx.clone(),
            stop_rx.clone(),
        );
        set.spawn(async move {
            let r = fan_member(fan, ws, i, done, stop).await;
            if let Err(e) = &r {
                let _ = fail.send(e.clone());
            }
            r
        });
    }
    drop((done_tx, fail_tx));
    let stalled = |seq: usize, fan: &Fan| {
        format!(
            "message {seq}: {} of {members} members had it after {} s without progress",
            fan.counts.get(seq).map_or(0, |c| c.load(Ordering::Acquire)),
            stall.as_secs_f64()
        )
    };
    let send = |seq: usize| {
        let p = fan.expect[seq].clone();
        if target.binary {
            Message::binary(p.into_bytes())
        } else {
            Message::text(p)
        }
    };
    let run = async {
        // Message 0, untimed: every member is in the group and every path
        // warm before the clock starts.
        sender
            .send(send(0))
            .await
            .map_err(|e| format!("sender: send: {e}"))?;
        match fan_event(&mut sender, &mut done_rx, &mut fail_rx, stall).await {
            Ok((0, _)) => {}
            Ok((seq, _)) => return Err(format!("internal: message {seq} completed before 0")),
            Err(e) => return Err(e.unwrap_or_else(|| stalled(0, &fan))),
        }
        let probe = Probe::start(pid, &target.also_pids);
        let mut sent_at: Vec<Option<Instant>> = vec![None; msgs + 1];
        let mut lat = Vec::with_capacity(msgs);
        let (mut next, mut inflight, mut oldest) = (1, 0, 1);
        while lat.len() < msgs {
            if inflight < window.max(1) && next <= msgs {
                while inflight < window.max(1) && next <= msgs {
                    sent_at[next] = Some(Instant::now());
                    sender
                        .feed(send(next))
                        .await
                        .map_err(|e| format!("sender: send: {e}"))?;
                    next += 1;
                    inflight += 1;
                }
                sender
                    .flush()
                    .await
                    .map_err(|e| format!("sender: send: {e}"))?;
            }
            match fan_event(&mut sender, &mut done_rx, &mut fail_rx, stall).await {
                Ok((seq, at)) => {
                    let t = sent_at.get(seq).copied().flatten().ok_or_else(|| {
                        format!("internal: message {seq} completed before it was sent")
                    })?;
                    lat.push(micros(at.saturating_duration_since(t)));
                    inflight -= 1;
                    while oldest <= msgs
                        && fan.counts[oldest].load(Ordering::Acquire) == fan.members
                    {
                        oldest += 1;
                    }
                }
                Err(e) => return Err(e.unwrap_or_else(|| stalled(oldest, &fan))),
            }
        }
        Ok((probe, lat))
    };
    match run.await {
        Ok((probe, lat)) => {
            let deliveries = members * msgs;
            let elapsed = probe.finish(&mut out, deliveries, "delivery");
            out.insert(
                "deliveries_per_s".into(),
                json!((deliveries as f64 / elapsed).round()),
            );
            out.insert("msgs_per_s".into(), json!(round3(msgs as f64 / elapsed)));
            latency(&mut out, "", lat);
        }
        Err(e) => errors.add(e),
    }
    // A short grace for duplicates and strays, then every member reports.
    if errors.count == 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        while let Ok(e) = fail_rx.try_recv() {
            errors.add(e);
        }
    }
    let _ = stop_tx.send(true);
    let mut received = 0;
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Ok(n)) => received += n,
            // Already counted through the failure channel when the run saw
            // it; otherwise this is the first word of it.
            Ok(Err(e)) if errors.count == 0 => errors.add(e),
            Ok(Err(_)) => {}
            Err(e) => errors.add(e.to_string()),
        }
    }
    // Message 0 was the untimed warm-up.
    let verified = received.saturating_sub(members);
    out.insert("verified".into(), json!(verified));
    if errors.count == 0 && verified != members * msgs {
        errors.add(format!(
            "{verified} deliveries verified, expected {}",
            members * msgs
        ));
    }
    (out, errors)
}

// ---------------------------------------------------------------- main

fn main() {
    let cli = Cli::parse();
    let common = match &cli.mode {
        Mode::Echo { common, .. }
        | Mode::Connect { common, .. }
        | Mode::Idle { common, .. }
        | Mode::Fanout { common, .. } => common,
    };
    let mode = match &cli.mode {
        Mode::Echo { .. } => "echo",
        Mode::Connect { .. } => "connect",
        Mode::Idle { .. } => "idle",
        Mode::Fanout { .. } => "fanout",
    };
    let target = match Target::parse(common) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    // Held connections need file descriptors: raise the soft limit to the
    // hard one.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let (pid, timeout) = (
        common.pid,
        Duration::from_secs(common.timeout.clamp(1, 3600)),
    );
    let rt = if common.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(common.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: starting tokio: {e}");
            std::process::exit(2);
        }
    };
    let run = async {
        match cli.mode {
            Mode::Echo {
                conns,
                msgs,
                window,
                ..
            } => run_echo(target.clone(), pid, conns, msgs, window).await,
            Mode::Connect {
                count, parallel, ..
            } => run_connect(target.clone(), pid, count, parallel).await,
            Mode::Idle {
                count,
                parallel,
                settle_ms,
                active,
                msgs,
                interval_ms,
                ..
            } => {
                run_idle(
                    target.clone(),
                    pid,
                    count,
                    parallel,
                    settle_ms,
                    active,
                    msgs,
                    Duration::from_millis(interval_ms),
                )
                .await
            }
            Mode::Fanout {
                members,
                msgs,
                window,
                parallel,
                stall_ms,
                sender_url,
                ..
            } => {
                let sender_target = match sender_url {
                    None => Ok(target.clone()),
                    Some(url) => target
                        .elsewhere(&url)
                        .map(Arc::new)
                        .map_err(|e| format!("--sender-url: {e}")),
                };
                let sender_target = match sender_target {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("loadgen: {e}");
                        std::process::exit(2);
                    }
                };
                run_fanout(
                    target.clone(),
                    sender_target,
                    pid,
                    members,
                    msgs,
                    window,
                    parallel,
                    Duration::from_millis(stall_ms.max(1)),
                    nofile,
                )
                .await
            }
        }
    };
    let (mut out, errors) = match rt.block_on(async { tokio::time::timeout(timeout, run).await }) {
        Ok(r) => r,
        Err(_) => {
            let mut e = Errors::default();
            e.add(format!("timed out after {} s", timeout.as_secs()));
            (serde_json::Map::new(), e)
        }
    };
    out.insert("mode".into(), json!(mode));
    out.insert("size".into(), json!(target.size));
    out.insert("nofile_limit".into(), json!(nofile));
    out.insert("errors".into(), json!(errors.count));
    if let Some(e) = &errors.first {
        out.insert("first_error".into(), json!(e));
        eprintln!("loadgen: {} error(s); first: {e}", errors.count);
    }
    println!("RESULT {}", Value::Object(out));
    // Do not wait for held sockets to be torn down one by one.
    rt.shutdown_background();
    std::process::exit(if errors.count == 0 { 0 } else { 1 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_exact_size_and_names_conn_and_seq() {
        let p = payload(7, 42, 64);
        assert_eq!(p.len(), 64);
        assert!(p.starts_with("7:42:x"));
    }

    #[test]
    fn urls_must_be_loopback_ws() {
        assert_eq!(
            loopback_addr("ws://127.0.0.1:9000/fanout/bench"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9000)))
        );
        assert!(loopback_addr("http://127.0.0.1:9000/").is_err());
        assert!(loopback_addr("ws://localhost:9000/").is_err());
        assert!(loopback_addr("ws://10.0.0.1:9000/").is_err());
    }

    #[test]
    fn wss_urls_are_loopback_too_and_headers_parse() {
        assert_eq!(
            loopback_addr("wss://127.0.0.1:9443/echo"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9443)))
        );
        assert!(loopback_addr("wss://10.0.0.1:9443/").is_err());
        let (name, value) = parse_header("Authorization: Bearer a.b.c").expect("a valid header");
        assert_eq!(name.as_str(), "authorization");
        assert_eq!(value.to_str().ok(), Some("Bearer a.b.c"));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
    }

    #[test]
    fn verify_accepts_only_the_expected_echo() {
        let ok = message(3, 5, 32, false);
        assert!(verify(&ok, 3, 5, 32, false).is_ok());
        // Wrong sequence (reordered or replayed), wrong connection, wrong
        // size, wrong kind, corrupted byte: all refused.
        assert!(verify(&message(3, 6, 32, false), 3, 5, 32, false).is_err());
        assert!(verify(&message(4, 5, 32, false), 3, 5, 32, false).is_err());
        assert!(verify(&message(3, 5, 33, false), 3, 5, 32, false).is_err());
        assert!(verify(&message(3, 5, 32, true), 3, 5, 32, false).is_err());
        let mut bad = payload(3, 5, 32);
        bad.pop();
        bad.push('y');
        assert!(verify(&Message::text(bad), 3, 5, 32, false).is_err());
    }
}
