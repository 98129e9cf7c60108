//! A test harness for plugin authors: load a component, connect with a
//! scope, send, receive with a timeout, check that nothing else arrives,
//! disconnect — without opening a socket. The Rust counterpart of Django
//! Channels' `WebsocketCommunicator`.
//!
//! Nothing here is a mock: the plugin is compiled, linked and instantiated
//! by the same code as in the server (`plugins::loader`, `ShardSpec`), runs
//! in a real shard task with its CPU deadline and memory cap, and what it
//! sends lands in the same bounded [`Outbox`] the server's connection task
//! reads. Only the socket is missing: the harness plays the connection task.
//!
//! ```ignore
//! use std::time::Duration;
//! use wasmsock::testing::{Message, TestPlugin};
//!
//! let plugin = TestPlugin::load("target/wasm32-wasip2/release/echo.wasm").await?;
//! let mut conn = plugin.connect("/echo").await?.accepted()?;
//! conn.send_text("hi").await?;
//! assert_eq!(conn.receive(Duration::from_secs(1)).await?, Message::Text("hi".into()));
//! conn.receive_nothing(Duration::from_millis(50)).await?;
//! conn.disconnect(1000).await?;
//! assert!(plugin.log_text().contains("disconnect"));
//! ```
//!
//! Every call that hands something to the plugin (`connect`, `send`,
//! `disconnect`) returns once the plugin has handled it, so what it sent and
//! logged is already visible; `receive` waits only for output.
//!
//! [`script`] runs the same steps from a small text file, for
//! `wasmsock test FILE.wasm --script STEPS`.

pub mod script;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::{ConfigError, Limits, Manifest, PluginDefaults};
use crate::plugins::loader::{self, LoadError};
use crate::routing::{RoutePattern, RouteTable};
use crate::runtime::bindings::{self, CloseInfo};
use crate::runtime::shard::{self, ConnectOutcome, Request, ShardHandle, ShardSpec};
use crate::runtime::WasmEngine;
use crate::server::handshake::RequestHead;
use crate::server::outbox::{Batch, Outbound, Outbox};

/// Why a harness call failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The file is not a plugin the server would load (same words as the
    /// server's log).
    #[error("{path}: refused: {source}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        source: LoadError,
    },
    /// The manifest given or found beside the file is invalid.
    #[error("{0}")]
    Manifest(#[from] ConfigError),
    /// The engine or linker could not be set up.
    #[error("setting up the runtime: {0}")]
    Runtime(String),
    /// No route of the plugin matches the path (the server answers 404).
    #[error("no route of the plugin matches {0} (the server would answer 404)")]
    NoRoute(String),
    /// The plugin's shard task has stopped.
    #[error("the plugin shard has stopped")]
    ShardGone,
    /// Nothing arrived in time.
    #[error("nothing received within {0:?}")]
    Timeout(Duration),
    /// The plugin closed the connection instead of sending a message.
    #[error("the plugin closed the connection: code {code}, reason {reason:?}")]
    ClosedByPlugin {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Something arrived that the call did not expect.
    #[error("expected {expected}, received {got}")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What came instead.
        got: String,
    },
    /// The connection was not accepted.
    #[error("the connection was not accepted: {0}")]
    NotAccepted(String),
    /// The connection was accepted, where a refusal was expected.
    #[error("the connection was accepted, not refused")]
    NotRejected,
}

/// A WebSocket data message, as the plugin sends or receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl From<Message> for bindings::Message {
    fn from(m: Message) -> bindings::Message {
        match m {
            Message::Text(t) => bindings::Message::Text(t),
            Message::Binary(b) => bindings::Message::Binary(b),
        }
    }
}

/// A close the plugin started (`connection.close`), or the host's 1011 when
/// the plugin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Close code.
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

/// One item from the connection's outbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A data message.
    Message(Message),
    /// The close handshake starts: nothing follows.
    Close(CloseFrame),
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Message(Message::Text(t)) => write!(f, "text {t:?}"),
            Output::Message(Message::Binary(b)) => write!(f, "binary ({} bytes)", b.len()),
            Output::Close(c) => write!(f, "close {} {:?}", c.code, c.reason),
        }
    }
}

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
struct LogCapture(Arc<Mutex<Vec<LogLine>>>);

impl LogCapture {
    fn lines(&self) -> Vec<LogLine> {
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

/// How to load a plugin: the file, and what its manifest would say.
/// Start with [`TestPlugin::options`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    path: PathBuf,
    manifest: Option<String>,
    config: BTreeMap<String, String>,
    call_timeout: Option<Duration>,
    memory_limit_mb: Option<u64>,
    limits: Limits,
}

impl LoadOptions {
    /// Use this manifest text (the `NAME.toml` format) instead of a
    /// `NAME.toml` beside the file.
    pub fn manifest(mut self, toml: impl Into<String>) -> LoadOptions {
        self.manifest = Some(toml.into());
        self
    }

    /// Set one `[config]` value (on top of the manifest's).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> LoadOptions {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Set several `[config]` values.
    pub fn with_config<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> LoadOptions {
        for (k, v) in pairs {
            self.config.insert(k.into(), v.into());
        }
        self
    }

    /// The CPU budget of one call (`call_timeout_ms`).
    pub fn call_timeout(mut self, budget: Duration) -> LoadOptions {
        self.call_timeout = Some(budget);
        self
    }

    /// The memory cap of the instance (`memory_limit_mb`).
    pub fn memory_limit_mb(mut self, mb: u64) -> LoadOptions {
        self.memory_limit_mb = Some(mb);
        self
    }

    /// Server limits that apply to the plugin: the largest message it may
    /// send and the outbound queue bounds.
    pub fn limits(mut self, limits: Limits) -> LoadOptions {
        self.limits = limits;
        self
    }

    /// Compile, link and instantiate the plugin and start its shard.
    pub async fn load(self) -> Result<TestPlugin, HarnessError> {
        let path = self.path;
        let load_err = |source| HarnessError::Load {
            path: path.clone(),
            source,
        };
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .to_string();
        let defaults = PluginDefaults::default();
        let beside = path.with_extension("toml");
        let mut manifest = match &self.manifest {
            Some(text) => Manifest::parse(&beside, text, &name, &defaults)?,
            None if beside.is_file() => Manifest::load(&beside, &name, &defaults)?,
            None => Manifest::defaults(&name, &defaults).map_err(|e| {
                HarnessError::NoRoute(format!("/{name} (the file name makes no route: {e})"))
            })?,
        };
        manifest.config.extend(self.config);
        if let Some(t) = self.call_timeout {
            manifest.call_timeout = t;
        }
        if let Some(mb) = self.memory_limit_mb {
            manifest.memory_limit = (mb as usize) << 20;
        }

        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| load_err(LoadError::Read(e)))?;
        let engine = WasmEngine::new(None).map_err(|e| HarnessError::Runtime(format!("{e:#}")))?;
        let linker = crate::runtime::linker(engine.engine())
            .map_err(|e| HarnessError::Runtime(format!("{e:#}")))?;
        let compile_engine = engine.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            loader::compile(&compile_engine, &linker, &bytes, None)
        })
        .await
        .map_err(|e| load_err(LoadError::Internal(e.to_string())))?
        .map_err(load_err)?;

        let routes: Vec<(RoutePattern, Arc<()>)> = manifest
            .routes
            .iter()
            .map(|r| (r.clone(), Arc::new(())))
            .collect();
        let (routes, _) = RouteTable::build(routes);
        let (spec, first) = ShardSpec::with_first_instance(
            engine,
            compiled.pre,
            Arc::from(name.as_str()),
            &manifest,
            self.limits.max_message_size as usize,
        )
        .await
        .map_err(|e| load_err(LoadError::Instantiate(e)))?;
        let logs = LogCapture::default();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(logs.clone()));
        let shard = shard::spawn_with_dispatch(spec, Some(first), dispatch);
        Ok(TestPlugin {
            name,
            shard,
            routes,
            allowed_origins: manifest.allowed_origins,
            limits: self.limits,
            next_id: AtomicU64::new(1),
            logs,
        })
    }
}

/// A loaded plugin with one shard (one instance): everything connected
/// through it shares that instance, as in the server's shared mode with one
/// shard.
pub struct TestPlugin {
    name: String,
    shard: ShardHandle,
    routes: RouteTable<()>,
    allowed_origins: Vec<String>,
    limits: Limits,
    next_id: AtomicU64,
    logs: LogCapture,
}

impl fmt::Debug for TestPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPlugin")
            .field("name", &self.name)
            .finish()
    }
}

impl TestPlugin {
    /// Load the component at `path` with the settings the server would use:
    /// a `NAME.toml` beside it if there is one, the defaults otherwise.
    pub async fn load(path: impl AsRef<Path>) -> Result<TestPlugin, HarnessError> {
        TestPlugin::options(path).load().await
    }

    /// Settings for loading `path`; finish with [`LoadOptions::load`].
    pub fn options(path: impl AsRef<Path>) -> LoadOptions {
        LoadOptions {
            path: path.as_ref().to_path_buf(),
            manifest: None,
            config: BTreeMap::new(),
            call_timeout: None,
            memory_limit_mb: None,
            limits: Limits::default(),
        }
    }

    /// The plugin's name (the file stem), as the server would call it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ask to connect, as a client would: the path is routed with the
    /// plugin's routes, the origin checked against `allowed_origins`, and
    /// `on-connect` called with the scope the server would build. Connection
    /// ids count from 1 for each `TestPlugin`.
    pub async fn connect(
        &self,
        request: impl Into<ScopeBuilder>,
    ) -> Result<ConnectResult, HarnessError> {
        let request = request.into();
        let Some(route) = self.routes.lookup(&request.path) else {
            return Err(HarnessError::NoRoute(request.path));
        };
        let head = RequestHead {
            method: "GET".into(),
            path: request.path,
            query: request.query,
            headers: request.headers,
            rest: Vec::new(),
        };
        if let Some(origin) = head.header("origin") {
            let allowed = &self.allowed_origins;
            if !allowed.is_empty()
                && !allowed
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(origin.trim()))
            {
                return Ok(ConnectResult::Rejected(Rejection {
                    status: 403,
                    headers: Vec::new(),
                    body: format!("origin {origin} is not allowed\n"),
                }));
            }
        }
        let scope = crate::server::scope::build(
            &head,
            route.pattern.as_str(),
            route.params,
            request.remote_addr,
        );
        let offered = scope.subprotocols.clone();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let outbox = Arc::new(Outbox::new(
            self.limits.outbound_queue_messages as usize,
            self.limits.outbound_queue_bytes as usize,
        ));
        let (reply, answer) = oneshot::channel();
        self.shard
            .send(Request::Connect {
                conn: id,
                scope,
                outbox: outbox.clone(),
                reply,
            })
            .await
            .map_err(|_| HarnessError::ShardGone)?;
        let accept = match answer.await.unwrap_or(ConnectOutcome::Failed) {
            ConnectOutcome::Accept(a) => a,
            ConnectOutcome::Reject(r) => {
                let (status, headers, body) = crate::server::connection::rejection(&self.name, r);
                return Ok(ConnectResult::Rejected(Rejection {
                    status,
                    headers,
                    body,
                }));
            }
            ConnectOutcome::Failed => return Ok(ConnectResult::Failed(self.failure_line())),
        };
        let mut conn = TestConnection {
            id,
            shard: self.shard.clone(),
            outbox,
            pending: VecDeque::new(),
            closed: None,
            subprotocol: accept.subprotocol.clone(),
            headers: crate::server::connection::allowed_headers(&self.name, accept.headers),
            disconnected: false,
        };
        if let Some(p) = &accept.subprotocol {
            if !offered.iter().any(|o| o == p) {
                let why = format!(
                    "on-connect chose subprotocol {p:?}, which the client did not offer ({offered:?})"
                );
                // As in the server: answered with 500, and the plugin hears
                // on-disconnect for the connection it accepted.
                conn.finish(CloseInfo {
                    code: 1006,
                    reason: why.clone(),
                    by_client: false,
                })
                .await?;
                return Ok(ConnectResult::Failed(why));
            }
        }
        Ok(ConnectResult::Accepted(conn))
    }

    /// Every log line about the plugin so far.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lines()
    }

    /// The log as text, one line per entry (`LEVEL SOURCE: MESSAGE`).
    pub fn log_text(&self) -> String {
        self.logs.lines().iter().map(|l| format!("{l}\n")).collect()
    }

    fn failure_line(&self) -> String {
        self.logs
            .lines()
            .iter()
            .rev()
            .find(|l| l.source == "host" && l.level == tracing::Level::ERROR)
            .map(|l| l.message.clone())
            .unwrap_or_else(|| "the plugin failed in on-connect".into())
    }
}

/// The request a test client makes: path, query, headers, peer address.
/// `"/echo".into()` is a plain request for `/echo`.
#[derive(Debug, Clone)]
pub struct ScopeBuilder {
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    remote_addr: SocketAddr,
}

impl ScopeBuilder {
    /// A request for `path`, which may carry a `?query`.
    pub fn path(path: impl Into<String>) -> ScopeBuilder {
        let path = path.into();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path, String::new()),
        };
        ScopeBuilder {
            path,
            query,
            headers: vec![("host".into(), "wasmsock.test".into())],
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 40000)),
        }
    }

    /// Set the raw query string (without `?`).
    pub fn query(mut self, query: impl Into<String>) -> ScopeBuilder {
        self.query = query.into();
        self
    }

    /// Add a request header (the name is lower-cased, as the server does).
    pub fn header(mut self, name: impl AsRef<str>, value: impl Into<String>) -> ScopeBuilder {
        self.headers
            .push((name.as_ref().to_ascii_lowercase(), value.into()));
        self
    }

    /// Add a cookie (sent in a `cookie` header).
    pub fn cookie(self, name: &str, value: &str) -> ScopeBuilder {
        self.header("cookie", format!("{name}={value}"))
    }

    /// Offer a subprotocol (sent in a `sec-websocket-protocol` header).
    pub fn subprotocol(self, protocol: impl Into<String>) -> ScopeBuilder {
        self.header("sec-websocket-protocol", protocol)
    }

    /// The peer address the plugin sees (default 127.0.0.1:40000).
    pub fn remote_addr(mut self, addr: SocketAddr) -> ScopeBuilder {
        self.remote_addr = addr;
        self
    }
}

impl From<&str> for ScopeBuilder {
    fn from(path: &str) -> ScopeBuilder {
        ScopeBuilder::path(path)
    }
}

impl From<String> for ScopeBuilder {
    fn from(path: String) -> ScopeBuilder {
        ScopeBuilder::path(path)
    }
}

/// An HTTP refusal, as the server would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status (400-599; the server's 500 for anything else).
    pub status: u16,
    /// Response headers the server would send (reserved ones dropped).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
}

/// What `on-connect` led to.
#[derive(Debug)]
pub enum ConnectResult {
    /// Upgraded: talk to the plugin through this.
    Accepted(TestConnection),
    /// Refused with an HTTP response.
    Rejected(Rejection),
    /// The plugin failed (trap, deadline) or answered something the server
    /// refuses (a subprotocol the client did not offer): the server answers
    /// 500. Carries the reason the host logged.
    Failed(String),
}

impl ConnectResult {
    /// The connection, or an error saying why there is none.
    pub fn accepted(self) -> Result<TestConnection, HarnessError> {
        match self {
            ConnectResult::Accepted(c) => Ok(c),
            ConnectResult::Rejected(r) => Err(HarnessError::NotAccepted(format!(
                "rejected with {} {:?}",
                r.status, r.body
            ))),
            ConnectResult::Failed(why) => Err(HarnessError::NotAccepted(format!("failed: {why}"))),
        }
    }

    /// The refusal, or an error if the connection was accepted or failed.
    pub fn rejected(self) -> Result<Rejection, HarnessError> {
        match self {
            ConnectResult::Rejected(r) => Ok(r),
            ConnectResult::Accepted(_) => Err(HarnessError::NotRejected),
            ConnectResult::Failed(why) => Err(HarnessError::NotAccepted(format!("failed: {why}"))),
        }
    }
}

/// An accepted connection, seen from the client's side.
///
/// Dropping it without [`disconnect`](TestConnection::disconnect) still
/// gives the plugin its `on-disconnect` (code 1006), as the server would
/// for a client that vanished.
#[derive(Debug)]
pub struct TestConnection {
    id: u64,
    shard: ShardHandle,
    outbox: Arc<Outbox>,
    /// Taken from the outbox but not yet received.
    pending: VecDeque<Output>,
    /// The close the plugin (or the host, on failure) started.
    closed: Option<CloseFrame>,
    subprotocol: Option<String>,
    headers: Vec<(String, String)>,
    disconnected: bool,
}

impl TestConnection {
    /// The connection id the plugin sees.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The subprotocol the plugin accepted with.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The extra headers of the 101 response (reserved ones dropped, as the
    /// server does).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    async fn flush(&self) -> Result<(), HarnessError> {
        let (done, flushed) = oneshot::channel();
        self.shard
            .send(Request::Flush { done })
            .await
            .map_err(|_| HarnessError::ShardGone)?;
        flushed.await.map_err(|_| HarnessError::ShardGone)
    }

    /// Move whatever the plugin queued into `pending`.
    fn take_now(&mut self) {
        let mut batch = Batch::default();
        self.outbox.take_now(&mut batch);
        self.absorb(batch);
    }

    fn absorb(&mut self, batch: Batch) {
        for item in batch.items {
            let out = match item {
                Outbound::Message(WsMessage::Text(t)) => {
                    Output::Message(Message::Text(t.as_str().to_string()))
                }
                Outbound::Message(WsMessage::Binary(b)) => {
                    Output::Message(Message::Binary(b.to_vec()))
                }
                Outbound::Message(_) | Outbound::Ping => continue,
                Outbound::Close { code, reason } => {
                    let frame = CloseFrame { code, reason };
                    self.closed.get_or_insert(frame.clone());
                    Output::Close(frame)
                }
            };
            self.pending.push_back(out);
        }
    }

    /// Deliver a message to `on-message`; returns once the plugin handled
    /// it. Refused once the plugin has closed the connection (the server
    /// stops reading then).
    pub async fn send(&mut self, message: Message) -> Result<(), HarnessError> {
        self.take_now();
        if let Some(c) = &self.closed {
            return Err(HarnessError::ClosedByPlugin {
                code: c.code,
                reason: c.reason.clone(),
            });
        }
        self.shard
            .send(Request::Message {
                conn: self.id,
                message: message.into(),
            })
            .await
            .map_err(|_| HarnessError::ShardGone)?;
        self.flush().await
    }

    /// Send a text message.
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), HarnessError> {
        self.send(Message::Text(text.into())).await
    }

    /// Send a binary message.
    pub async fn send_binary(&mut self, bytes: impl Into<Vec<u8>>) -> Result<(), HarnessError> {
        self.send(Message::Binary(bytes.into())).await
    }

    /// The next thing the plugin sent: a message or a close, waiting at
    /// most `timeout`.
    pub async fn receive_output(&mut self, timeout: Duration) -> Result<Output, HarnessError> {
        if self.pending.is_empty() {
            self.take_now();
        }
        if self.pending.is_empty() {
            let mut batch = Batch::default();
            tokio::time::timeout(timeout, self.outbox.take(&mut batch))
                .await
                .map_err(|_| HarnessError::Timeout(timeout))?;
            self.absorb(batch);
        }
        self.pending
            .pop_front()
            .ok_or(HarnessError::Timeout(timeout))
    }

    /// The next message the plugin sent, waiting at most `timeout`. A close
    /// instead is [`HarnessError::ClosedByPlugin`].
    pub async fn receive(&mut self, timeout: Duration) -> Result<Message, HarnessError> {
        match self.receive_output(timeout).await? {
            Output::Message(m) => Ok(m),
            Output::Close(c) => Err(HarnessError::ClosedByPlugin {
                code: c.code,
                reason: c.reason,
            }),
        }
    }

    /// The next message, which must be text.
    pub async fn receive_text(&mut self, timeout: Duration) -> Result<String, HarnessError> {
        match self.receive(timeout).await? {
            Message::Text(t) => Ok(t),
            other => Err(HarnessError::Unexpected {
                expected: "a text message",
                got: Output::Message(other).to_string(),
            }),
        }
    }

    /// The next message, which must be binary.
    pub async fn receive_binary(&mut self, timeout: Duration) -> Result<Vec<u8>, HarnessError> {
        match self.receive(timeout).await? {
            Message::Binary(b) => Ok(b),
            other => Err(HarnessError::Unexpected {
                expected: "a binary message",
                got: Output::Message(other).to_string(),
            }),
        }
    }

    /// The next output, which must be a close.
    pub async fn receive_close(&mut self, timeout: Duration) -> Result<CloseFrame, HarnessError> {
        match self.receive_output(timeout).await? {
            Output::Close(c) => Ok(c),
            other => Err(HarnessError::Unexpected {
                expected: "a close",
                got: other.to_string(),
            }),
        }
    }

    /// Succeeds if the plugin sends nothing within `timeout`.
    pub async fn receive_nothing(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        match self.receive_output(timeout).await {
            Err(HarnessError::Timeout(_)) => Ok(()),
            Ok(out) => Err(HarnessError::Unexpected {
                expected: "nothing",
                got: out.to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The close the plugin started, if it has (messages queued before it
    /// stay to be received).
    pub fn close_received(&mut self) -> Option<CloseFrame> {
        self.take_now();
        self.closed.clone()
    }

    /// The client closes with `code`; returns once `on-disconnect` ran. If
    /// the plugin closed first, the plugin hears its own close instead
    /// (`by-client` false), as with a well-behaved client.
    pub async fn disconnect(self, code: u16) -> Result<(), HarnessError> {
        self.disconnect_with(code, "").await
    }

    /// Like [`disconnect`](TestConnection::disconnect), with a reason.
    pub async fn disconnect_with(mut self, code: u16, reason: &str) -> Result<(), HarnessError> {
        self.take_now();
        let info = match &self.closed {
            Some(c) => CloseInfo {
                code: c.code,
                reason: c.reason.clone(),
                by_client: false,
            },
            None => CloseInfo {
                code,
                reason: reason.to_string(),
                by_client: true,
            },
        };
        self.finish(info).await
    }

    async fn finish(&mut self, info: CloseInfo) -> Result<(), HarnessError> {
        self.disconnected = true;
        self.outbox.shut();
        self.shard
            .send(Request::Disconnect {
                conn: self.id,
                info,
            })
            .await
            .map_err(|_| HarnessError::ShardGone)?;
        self.flush().await
    }
}

impl Drop for TestConnection {
    fn drop(&mut self) {
        if self.disconnected {
            return;
        }
        self.outbox.shut();
        let (shard, conn) = (self.shard.clone(), self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let info = CloseInfo {
                    code: 1006,
                    reason: "test connection dropped".into(),
                    by_client: true,
                };
                let _ = shard.send(Request::Disconnect { conn, info }).await;
            });
        }
    }
}
