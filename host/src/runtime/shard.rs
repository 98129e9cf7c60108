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

use tokio::sync::mpsc;
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::adopt::{self, Moved};
use super::bindings::PluginPre;
use super::budget::CallBudget;
use super::calls::{self, CallTimes};
use super::connections::Connections;
use super::engine::WasmEngine;
use super::health::Health;
use super::log_budget::LogBudget;
use super::log_tags::LogTags;
use super::request::refuse;
pub use super::request::{ConnectOutcome, Released, Request, ShardHandle};
use super::state::{ConnMap, HostState, Kept, Served};
use super::stdio::LogStream;
use super::DeadlineExceeded;
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
    /// The largest attachment a connection may have, in bytes.
    pub attachment_max: usize,
    /// Timers one instance may hold.
    pub timers_max: usize,
    /// True when the plugin's connections move to a fresh instance after
    /// a failed one (`on_reload` is adopt, by the manifest or because the
    /// plugin exports `adopt-handler`) instead of closing with it.
    pub moves: bool,
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
    /// The store, whose data holds the connections it serves.
    pub(super) store: Store<HostState>,
    /// Its exports.
    pub(super) exports: super::bindings::PluginExports,
}

impl Instance {
    /// Start the CPU budget of a call and forget an earlier refused growth.
    pub(super) fn start_call(&mut self, budget: Duration) {
        let data = self.store.data_mut();
        data.budget = CallBudget::start(budget);
        data.limits.refused = false;
        // Count ticks from now, so a shard that sat idle does not yield on
        // the first check of its next call.
        self.store.set_epoch_deadline(1);
    }
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
        let moves = manifest.reload.mode(pre.adopts()) == crate::config::OnReload::Adopt;
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
            attachment_max: manifest.reload.attachment_max_bytes,
            timers_max: manifest.reload.timers_max,
            moves,
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
            attachment_max: self.attachment_max,
            timers: super::timers::Timers::new(self.timers_max),
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
pub(super) fn describe(e: wasmtime::Error, budget: Duration) -> anyhow::Error {
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
pub(super) fn summary(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|c| c.to_string())
        .filter(|m| !m.contains("wasm backtrace"))
        .collect();
    crate::text::one_line(&parts.join(": "))
}

/// Start a shard task, optionally with an instance already built (the one
/// that proved the plugin instantiates). Its log lines go where the spec
/// says.
pub fn spawn(spec: Arc<ShardSpec>, instance: Option<Instance>) -> ShardHandle {
    use tracing::instrument::WithSubscriber as _;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let me = tx.downgrade();
    match spec.log.clone() {
        Some(dispatch) => tokio::spawn(run(spec, instance, rx, me).with_subscriber(dispatch)),
        None => tokio::spawn(run(spec, instance, rx, me)),
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
    me: mpsc::WeakSender<Request>,
) {
    let _live = LiveShard::new(spec.health.clone());
    let mut times = CallTimes::new(spec.plugin.clone());
    let mut moved = Moved::default();
    // One sleep, re-armed only when the earliest timer changes: a plugin
    // without timers never touches it.
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut armed: Option<std::time::Instant> = None;
    loop {
        let due = instance
            .as_ref()
            .and_then(|i| i.store.data().timers.next_due());
        if due != armed {
            if let Some(at) = due {
                sleep.as_mut().reset(at.into());
            }
            armed = due;
        }
        let req = tokio::select! {
            req = rx.recv() => match req {
                Some(req) => req,
                None => break,
            },
            () = &mut sleep, if armed.is_some() => {
                armed = None;
                fire_due(&spec, &mut instance, &mut times).await;
                continue;
            }
        };
        let req = match req {
            Request::Flush { done } => {
                let _ = done.send(());
                continue;
            }
            Request::HandTimers { to } => {
                let timers = instance
                    .as_mut()
                    .map(|i| i.store.data_mut().timers.take(None))
                    .unwrap_or_default();
                if !timers.is_empty() {
                    let _ = to.send(Request::TakeTimers { timers }).await;
                }
                continue;
            }
            Request::Release {
                conn,
                to,
                version,
                reply,
            } => {
                let served = instance.as_mut().and_then(|i| {
                    let data = i.store.data_mut();
                    let mut served = data.conns.remove(&conn)?;
                    served.kept.timers = data.timers.take(Some(conn));
                    Some(served)
                });
                let _ =
                    reply.send(adopt::release(&spec, &mut moved, conn, served, to, version).await);
                continue;
            }
            req => req,
        };
        let req = match moved.forward(req, instance.as_ref()) {
            Some(req) => req,
            None => continue,
        };
        if rx.is_empty() {
            moved.prune(&spec.connections, &me);
        }
        if instance.is_none() {
            if spec.health.quarantined().is_some() {
                refuse(&spec.plugin, req, ConnectOutcome::Failed);
                continue;
            }
            match spec.instantiate().await {
                Ok(i) => instance = Some(i),
                Err(e) if super::pool::host_resource(&e) => {
                    super::pool::note_refused(&spec.plugin, &summary(&e));
                    refuse(&spec.plugin, req, ConnectOutcome::NoRoom);
                    continue;
                }
                Err(e) => {
                    let why = crate::text::one_line(&format!("{e:#}"));
                    tracing::error!(plugin = &*spec.plugin, "cannot instantiate plugin: {why}");
                    crate::metrics::global().failed(&spec.plugin, "instantiate");
                    event(&spec, Kind::Instantiate, &summary(&e));
                    failed(&spec, &why);
                    refuse(&spec.plugin, req, ConnectOutcome::Failed);
                    continue;
                }
            }
        }
        let Some(inst) = instance.as_mut() else {
            continue;
        };
        let started = times.start(req.export());
        let result = handle(&spec, inst, req, &me).await;
        calls::finish(started);
        if let Err((conn, e)) = result {
            if let Some(broken) = instance.take() {
                instance = adopt::recover(&spec, broken, conn, e).await;
            }
        }
    }
}

/// Fire the instance's timers that are due (at most a batch, so requests
/// are not kept waiting by a storm), calling `on-timer`. A call that fails
/// is handled as any failed call (the timer's connection, if any, pays).
async fn fire_due(spec: &ShardSpec, instance: &mut Option<Instance>, times: &mut CallTimes) {
    const BATCH: usize = 64;
    let now = std::time::Instant::now();
    for _ in 0..BATCH {
        let Some(inst) = instance.as_mut() else {
            return;
        };
        let Some((conn, token)) = inst.store.data_mut().timers.pop_due(now) else {
            return;
        };
        if inst.exports.timer_handler().is_none() {
            crate::metrics::global().timers(&spec.plugin, "dropped", 1);
            continue;
        }
        crate::metrics::global().timers(&spec.plugin, "fired", 1);
        inst.start_call(spec.call_timeout);
        inst.store.data().log_tags.set_conn(conn);
        let started = times.start(Some(6));
        let result = match inst.exports.timer_handler() {
            Some(h) => h.call_on_timer(&mut inst.store, conn, token).await,
            None => Ok(()),
        };
        calls::finish(started);
        if let Err(e) = result {
            if let Some(broken) = instance.take() {
                // Connection ids start at 1: a plugin timer closes none.
                *instance = adopt::recover(spec, broken, conn.unwrap_or(0), e).await;
            }
        }
    }
}

/// Put what happened to this version in the event log.
pub(super) fn event(spec: &ShardSpec, kind: Kind, detail: &str) {
    events::global().record(kind, &spec.plugin, Some(spec.version), detail);
}

/// Count a failure of the plugin, and say so if it starts a quarantine.
pub(super) fn failed(spec: &ShardSpec, why: &str) {
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

async fn handle(
    spec: &ShardSpec,
    inst: &mut Instance,
    req: Request,
    me: &mpsc::WeakSender<Request>,
) -> Result<(), (u64, wasmtime::Error)> {
    inst.start_call(spec.call_timeout);
    inst.store.data().log_tags.set_conn(req.conn());
    if let Request::Adopt {
        conn,
        served,
        version,
    } = req
    {
        return adopt::adopt(spec, inst, conn, served, Some((version, me)))
            .await
            .map_err(|e| (conn, e));
    }
    let store = &mut inst.store;
    let handler = inst.exports.consumer.wasmsock_plugin_handler();
    match req {
        Request::Connect {
            conn,
            scope,
            outbox,
            reply,
        } => {
            let kept = Kept {
                path: scope.path.clone(),
                params: scope.params.clone(),
                attachment: Default::default(),
                timers: Vec::new(),
            };
            store.data_mut().conns.insert(conn, Served { outbox, kept });
            match handler.call_on_connect(&mut *store, conn, &scope).await {
                Ok(Ok(accept)) => {
                    let _ = reply.send(ConnectOutcome::Accept(accept));
                    Ok(())
                }
                Ok(Err(reject)) => {
                    store.data_mut().conns.remove(&conn);
                    store.data_mut().timers.take(Some(conn));
                    let _ = reply.send(ConnectOutcome::Reject(reject));
                    Ok(())
                }
                Err(e) => {
                    store.data_mut().conns.remove(&conn);
                    store.data_mut().timers.take(Some(conn));
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
            store.data_mut().timers.take(Some(conn));
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
        // Handled before an instance is needed (release) or above (adopt).
        Request::Release { reply, .. } => {
            let _ = reply.send(Released::NotHeld);
            Ok(())
        }
        Request::Adopt { .. } => Ok(()),
        Request::TakeTimers { timers } => {
            let dropped = store.data_mut().timers.put(None, timers);
            if dropped > 0 {
                crate::metrics::global().timers(&spec.plugin, "dropped", dropped as u64);
            }
            Ok(())
        }
        Request::HandTimers { .. } => Ok(()),
    }
}
