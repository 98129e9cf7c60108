//! A shard: one store and instance of a plugin, owned by one tokio task that
//! takes requests from its inbox and calls the plugin one at a time.
//!
//! A call that traps, runs past its deadline or outgrows its memory breaks
//! the instance. The shard then closes every connection it served with 1011,
//! drops the instance and builds a fresh one for the next request; nothing
//! outside the shard is affected.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::bindings::{Accept, CloseInfo, Message, PluginPre, Reject, Scope};
use super::budget::CallBudget;
use super::calls::{self, CallTimes};
use super::connections::Connections;
use super::engine::WasmEngine;
use super::health::Health;
use super::log_budget::LogBudget;
use super::log_tags::LogTags;
use super::outbox::{Outbound, Outbox};
use super::state::{ConnMap, HostState};
use super::stdio::LogStream;
use super::DeadlineExceeded;
use crate::close;
use crate::config::WasiGrants;
use crate::events::{self, Kind};

/// Requests a shard can queue before senders wait: the backpressure that
/// slows readers of busy connections instead of buffering without bound.
const INBOX_CAPACITY: usize = 1024;

/// Everything needed to build instances of one plugin version.
pub struct ShardSpec {
    /// The shared engine.
    pub engine: WasmEngine,
    /// The type-checked component, ready to instantiate.
    pub pre: PluginPre<HostState>,
    /// The plugin's name.
    pub plugin: Arc<str>,
    /// The version these shards serve (0 outside the server: `check`), for
    /// log lines and events.
    pub version: u64,
    /// The plugin's `[config]` values.
    pub config: Arc<BTreeMap<String, String>>,
    /// Memory cap per instance, in bytes.
    pub memory_limit: usize,
    /// CPU budget of one call.
    pub call_timeout: Duration,
    /// Largest message a plugin may send.
    pub max_message_size: usize,
    /// Log lines a shard may write per second.
    pub log_lines_per_second: u32,
    /// What the plugin may reach through WASI.
    pub grants: WasiGrants,
    /// Failures, quarantine and counters of this version.
    pub health: Arc<Health>,
    /// Every connection of the server and their groups.
    pub connections: Arc<Connections>,
    /// Where the shards' log lines go (the plugin's and the host's about
    /// it): the global subscriber when `None`; the test harness captures
    /// them with its own.
    pub log: Option<tracing::Dispatch>,
}

/// Shard tasks running, all plugins and versions together.
static LIVE_SHARDS: AtomicUsize = AtomicUsize::new(0);

/// Woken each time the last live shard stops.
static ALL_STOPPED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Shard tasks running now, all plugins and versions together.
pub fn live_shards() -> usize {
    LIVE_SHARDS.load(Ordering::Relaxed)
}

/// Wait until no shard task runs: each has handled what was queued for it
/// (the `on-disconnect` of every closed connection) and stopped because
/// every handle to it is gone. Shutdown waits on this, bounded, after the
/// registry has dropped its versions.
pub async fn all_stopped() {
    loop {
        let stopped = ALL_STOPPED.notified();
        if live_shards() == 0 {
            return;
        }
        stopped.await;
    }
}

/// A live instance and its store.
pub struct Instance {
    store: Store<HostState>,
    exports: super::bindings::PluginExports,
}

impl ShardSpec {
    /// The spec for a plugin version with these settings.
    pub fn new(
        engine: WasmEngine,
        pre: PluginPre<HostState>,
        plugin: Arc<str>,
        manifest: &crate::config::Manifest,
        max_message_size: usize,
        connections: Arc<Connections>,
    ) -> ShardSpec {
        ShardSpec {
            engine,
            pre,
            plugin,
            version: 0,
            config: Arc::new(manifest.config.clone()),
            memory_limit: manifest.memory_limit,
            call_timeout: manifest.call_timeout,
            max_message_size,
            log_lines_per_second: manifest.log_lines_per_second,
            grants: manifest.wasi.clone(),
            health: Arc::new(Health::new(manifest.quarantine)),
            connections,
            log: None,
        }
    }

    /// The WASI context of a new instance: stdout and stderr into the log,
    /// and only what the manifest grants.
    fn wasi(&self, budget: &Arc<LogBudget>, tags: &Arc<LogTags>) -> anyhow::Result<WasiCtx> {
        let stream = |stream| LogStream {
            tags: tags.clone(),
            stream,
            budget: budget.clone(),
        };
        let mut b = WasiCtxBuilder::new();
        b.stdout(stream("stdout")).stderr(stream("stderr"));
        for (k, v) in &self.grants.env {
            b.env(k, v);
        }
        for d in &self.grants.dirs {
            let perms = if d.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            b.preopened_dir(&d.host, &d.guest, perms)
                .map_err(anyhow::Error::from)
                .map_err(|e| e.context(format!("opening granted folder {}", d.host.display())))?;
        }
        b.allow_ip_name_lookup(self.grants.dns);
        b.allow_udp(false);
        b.allow_tcp(!self.grants.connect.is_empty());
        let connect = Arc::new(self.grants.connect.clone());
        b.socket_addr_check(move |addr, use_| {
            let connect = connect.clone();
            Box::pin(async move {
                use wasmtime_wasi::sockets::SocketAddrUse;
                match use_ {
                    SocketAddrUse::TcpConnect => connect.iter().any(|g| g.allows(addr)),
                    // The implicit bind of a connect: any local address.
                    SocketAddrUse::TcpBind => {
                        !connect.is_empty() && addr.ip().is_unspecified() && addr.port() == 0
                    }
                    _ => false,
                }
            })
        });
        Ok(b.build())
    }

    /// Build a fresh instance. Errors (a trap in a start function, a memory
    /// cap too small) are reported, never panicked on.
    pub async fn instantiate(&self) -> anyhow::Result<Instance> {
        let budget = Arc::new(LogBudget::new(
            self.plugin.clone(),
            self.log_lines_per_second,
            self.health.clone(),
        ));
        let tags = Arc::new(LogTags::new(self.plugin.clone(), self.version));
        let wasi = self.wasi(&budget, &tags)?;
        let state = HostState {
            plugin: self.plugin.clone(),
            config: self.config.clone(),
            conns: ConnMap::default(),
            connections: self.connections.clone(),
            max_message_size: self.max_message_size,
            takes_events: self.pre.takes_events(),
            budget: CallBudget::start(self.call_timeout),
            limits: Default::default(),
            log_budget: budget,
            log_tags: tags,
            wasi,
            table: Default::default(),
        };
        let engine = self.pre.instance_pre().engine();
        let mut store = WasmEngine::store_on(engine, state, self.memory_limit);
        let exports = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| describe(e, self.call_timeout))?;
        Ok(Instance { store, exports })
    }
}

/// Turn a wasmtime error into one that says what happened in plain words.
fn describe(e: wasmtime::Error, budget: Duration) -> anyhow::Error {
    let deadline = e.downcast_ref::<DeadlineExceeded>().is_some();
    let e = anyhow::Error::from(e);
    if deadline {
        return e.context(format!(
            "the call ran longer than its {} ms CPU budget",
            budget.as_millis()
        ));
    }
    e
}

/// A failure in a few words: the error chain without wasm backtraces.
fn summary(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|c| c.to_string())
        .filter(|m| !m.contains("wasm backtrace"))
        .collect();
    crate::text::one_line(&parts.join(": "))
}

/// What a plugin answered to `on-connect`.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Upgrade.
    Accept(Accept),
    /// Answer with this HTTP response.
    Reject(Reject),
    /// The plugin failed (trap, deadline, no instance): answer 500.
    Failed,
    /// The host had no room for an instance (the per-connection pool is
    /// full, or memory or mappings ran out): answer 503. Not the plugin's
    /// failure.
    NoRoom,
}

/// A request to a shard.
pub enum Request {
    /// Call `on-connect`; the connection is registered with the instance
    /// first, so the plugin may send to it at once.
    Connect {
        /// Connection id.
        conn: u64,
        /// What the plugin learns about the request.
        scope: Scope,
        /// Where the plugin's sends for this connection go.
        outbox: Arc<Outbox>,
        /// Where the answer goes.
        reply: oneshot::Sender<ConnectOutcome>,
    },
    /// Call `on-message`.
    Message {
        /// Connection id.
        conn: u64,
        /// The message.
        message: Message,
    },
    /// Call `on-disconnect` and forget the connection.
    Disconnect {
        /// Connection id.
        conn: u64,
        /// How it ended.
        info: CloseInfo,
    },
    /// Call `on-event`, if the plugin exports `event-handler`.
    Event {
        /// Connection id.
        conn: u64,
        /// The group it was sent to; `None` for a send to the address.
        group: Option<Arc<str>>,
        /// The event, shared by every member it goes to.
        event: Arc<Message>,
    },
    /// Call `on-gap`, if the plugin exports `event-handler`.
    Gap {
        /// Connection id.
        conn: u64,
        /// The group that lost traffic.
        group: Arc<str>,
        /// How many messages and events were lost.
        lost: u64,
    },
    /// Answer once every earlier request has been handled (the test harness
    /// waits on this so that a call's effects are visible when it returns).
    Flush {
        /// Signalled when the shard reaches this request.
        done: oneshot::Sender<()>,
    },
}

/// The sending side of a shard's inbox. The shard task ends when every
/// handle is dropped (its plugin version is unloaded and its connections
/// have closed).
#[derive(Clone, Debug)]
pub struct ShardHandle {
    tx: mpsc::Sender<Request>,
}

impl ShardHandle {
    /// A handle on a bare channel, for unit tests of what holds handles.
    #[cfg(test)]
    pub(crate) fn from_sender(tx: mpsc::Sender<Request>) -> ShardHandle {
        ShardHandle { tx }
    }

    /// Queue a request, waiting while the inbox is full. Fails only if the
    /// shard task is gone.
    pub async fn send(&self, req: Request) -> Result<(), ShardGone> {
        self.tx.send(req).await.map_err(|_| ShardGone)
    }

    /// Queue a request if the inbox has room, without waiting: group
    /// traffic never waits on a busy shard.
    pub fn offer(&self, req: Request) -> super::delivery::Delivered {
        use super::delivery::Delivered;
        match self.tx.try_send(req) {
            Ok(()) => Delivered::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Delivered::Dropped,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivered::Gone,
        }
    }

    /// Wait for room in the inbox, then queue with the slot. Unlike
    /// [`send`](Self::send), nothing is held while waiting, which keeps the
    /// future of every idle connection small.
    pub async fn reserve(&self) -> Result<mpsc::Permit<'_, Request>, ShardGone> {
        self.tx.reserve().await.map_err(|_| ShardGone)
    }
}

/// The shard task has ended.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the plugin shard has stopped")]
pub struct ShardGone;

/// Start a shard task, optionally with an instance already built (the one
/// that proved the plugin instantiates). Its log lines go where the spec
/// says.
pub fn spawn(spec: Arc<ShardSpec>, instance: Option<Instance>) -> ShardHandle {
    use tracing::instrument::WithSubscriber as _;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    match spec.log.clone() {
        Some(dispatch) => tokio::spawn(run(spec, instance, rx).with_subscriber(dispatch)),
        None => tokio::spawn(run(spec, instance, rx)),
    };
    ShardHandle { tx }
}

/// Counts a shard task as live for as long as it runs.
struct LiveShard(Arc<Health>);

impl LiveShard {
    fn new(health: Arc<Health>) -> LiveShard {
        LIVE_SHARDS.fetch_add(1, Ordering::Relaxed);
        health.live_shards.fetch_add(1, Ordering::Relaxed);
        LiveShard(health)
    }
}

impl Drop for LiveShard {
    fn drop(&mut self) {
        self.0.live_shards.fetch_sub(1, Ordering::Relaxed);
        if LIVE_SHARDS.fetch_sub(1, Ordering::AcqRel) == 1 {
            ALL_STOPPED.notify_waiters();
        }
    }
}

async fn run(
    spec: Arc<ShardSpec>,
    mut instance: Option<Instance>,
    mut rx: mpsc::Receiver<Request>,
) {
    let _live = LiveShard::new(spec.health.clone());
    let times = CallTimes::new(spec.plugin.clone());
    while let Some(req) = rx.recv().await {
        if let Request::Flush { done } = req {
            let _ = done.send(());
            continue;
        }
        if instance.is_none() {
            if spec.health.quarantined().is_some() {
                refuse(req, ConnectOutcome::Failed);
                continue;
            }
            match spec.instantiate().await {
                Ok(i) => instance = Some(i),
                Err(e) if super::pool::host_resource(&e) => {
                    super::pool::note_refused(&spec.plugin, &summary(&e));
                    refuse(req, ConnectOutcome::NoRoom);
                    continue;
                }
                Err(e) => {
                    let why = crate::text::one_line(&format!("{e:#}"));
                    tracing::error!(plugin = &*spec.plugin, "cannot instantiate plugin: {why}");
                    crate::metrics::global().failed(&spec.plugin, "instantiate");
                    event(&spec, Kind::Instantiate, &summary(&e));
                    failed(&spec, &why);
                    refuse(req, ConnectOutcome::Failed);
                    continue;
                }
            }
        }
        let Some(inst) = instance.as_mut() else {
            continue;
        };
        let started = times.start(req.export());
        let result = handle(&spec, inst, req).await;
        calls::finish(started);
        if let Err((conn, e)) = result {
            let kind = calls::failure_kind(&e, inst.store.data().limits.refused);
            crate::metrics::global().failed(&spec.plugin, kind);
            let e = describe(e, spec.call_timeout);
            let why = crate::text::one_line(&format!("{e:?}"));
            let short = summary(&e);
            // The host running out (a fiber stack, memory for the instance)
            // is not the plugin's doing: the instance is rebuilt all the
            // same, but the failure does not count toward its quarantine.
            let blameless = super::pool::host_resource(&e);
            if blameless {
                tracing::warn!(plugin = &*spec.plugin, conn, "the host ran out of resources during a call; closing the instance's connections with 1011 and rebuilding it (not counted against the plugin): {why}");
            } else {
                tracing::error!(plugin = &*spec.plugin, conn, "plugin failed; closing its connections with 1011 and rebuilding the instance: {why}");
            }
            let note = if blameless {
                " (the host ran out of resources; not counted against the plugin)"
            } else {
                ""
            };
            event(
                &spec,
                Kind::failure(kind),
                &format!("connection {conn}: {short}{note}"),
            );
            for (_, outbox) in inst.store.data_mut().conns.drain() {
                let _ = outbox.push(Outbound::Close {
                    code: close::INTERNAL_ERROR,
                    reason: "plugin failed".into(),
                });
            }
            instance = None;
            if !blameless {
                failed(&spec, &short);
            }
        }
    }
}

/// Put what happened to this version in the event log.
fn event(spec: &ShardSpec, kind: Kind, detail: &str) {
    events::global().record(kind, &spec.plugin, Some(spec.version), detail);
}

/// Count a failure of the plugin, and say so if it starts a quarantine.
fn failed(spec: &ShardSpec, why: &str) {
    if let Some(q) = spec.health.record_failure(why) {
        let policy = spec.health.policy();
        tracing::error!(
            plugin = &*spec.plugin,
            "plugin quarantined for {} s after {} failures within {} s: its routes answer 503 until then; last failure: {why}",
            q.length.as_secs_f64(),
            q.failures,
            policy.window.as_secs_f64(),
        );
        let detail = format!(
            "for {} s after {} failures: {why}",
            q.length.as_secs_f64(),
            q.failures
        );
        event(spec, Kind::Quarantined, &detail);
    }
}

impl Request {
    /// The connection the request is for, if any.
    fn conn(&self) -> Option<u64> {
        match self {
            Request::Connect { conn, .. }
            | Request::Message { conn, .. }
            | Request::Disconnect { conn, .. }
            | Request::Event { conn, .. }
            | Request::Gap { conn, .. } => Some(*conn),
            Request::Flush { .. } => None,
        }
    }

    /// The export this request calls, as an index of
    /// [`calls::EXPORTS`](super::calls::EXPORTS).
    fn export(&self) -> Option<usize> {
        match self {
            Request::Connect { .. } => Some(0),
            Request::Message { .. } => Some(1),
            Request::Disconnect { .. } => Some(2),
            Request::Event { .. } => Some(3),
            Request::Gap { .. } => Some(4),
            Request::Flush { .. } => None,
        }
    }
}

/// Answer a request that cannot reach an instance; a connect gets `outcome`.
fn refuse(req: Request, outcome: ConnectOutcome) {
    match req {
        Request::Connect { reply, .. } => {
            let _ = reply.send(outcome);
        }
        Request::Flush { done } => {
            let _ = done.send(());
        }
        Request::Message { .. }
        | Request::Disconnect { .. }
        | Request::Event { .. }
        | Request::Gap { .. } => {}
    }
}

async fn handle(
    spec: &ShardSpec,
    inst: &mut Instance,
    req: Request,
) -> Result<(), (u64, wasmtime::Error)> {
    let store = &mut inst.store;
    let handler = inst.exports.consumer.wasmsock_plugin_handler();
    store.data_mut().budget = CallBudget::start(spec.call_timeout);
    store.data_mut().limits.refused = false;
    store.data().log_tags.set_conn(req.conn());
    // Count ticks from now, so a shard that sat idle does not yield on the
    // first check of its next call.
    store.set_epoch_deadline(1);
    match req {
        Request::Connect {
            conn,
            scope,
            outbox,
            reply,
        } => {
            store.data_mut().conns.insert(conn, outbox);
            match handler.call_on_connect(&mut *store, conn, &scope).await {
                Ok(Ok(accept)) => {
                    let _ = reply.send(ConnectOutcome::Accept(accept));
                    Ok(())
                }
                Ok(Err(reject)) => {
                    store.data_mut().conns.remove(&conn);
                    let _ = reply.send(ConnectOutcome::Reject(reject));
                    Ok(())
                }
                Err(e) => {
                    store.data_mut().conns.remove(&conn);
                    let _ = reply.send(ConnectOutcome::Failed);
                    Err((conn, e))
                }
            }
        }
        Request::Message { conn, message } => {
            // A connection unknown here was served by an instance that has
            // since failed; it is already being closed.
            if !store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            handler
                .call_on_message(&mut *store, conn, &message)
                .await
                .map_err(|e| (conn, e))
        }
        Request::Disconnect { conn, info } => {
            if !store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            let r = handler.call_on_disconnect(&mut *store, conn, &info).await;
            store.data_mut().conns.remove(&conn);
            r.map_err(|e| (conn, e))
        }
        Request::Event { conn, group, event } => {
            if !store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            let Some(events) = inst.exports.event_handler() else {
                spec.connections
                    .traffic
                    .events_unhandled
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            events
                .call_on_event(&mut *store, conn, group.as_deref(), &event)
                .await
                .map_err(|e| (conn, e))
        }
        Request::Gap { conn, group, lost } => {
            let Some(events) = inst.exports.event_handler() else {
                return Ok(());
            };
            if !store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            events
                .call_on_gap(&mut *store, conn, &group, lost)
                .await
                .map_err(|e| (conn, e))
        }
        Request::Flush { done } => {
            let _ = done.send(());
            Ok(())
        }
    }
}
