//! What a plugin version's instances are built from ([`ShardSpec`]): the
//! linked component, its settings and grants, and the host state each new
//! store starts with; and the live [`Instance`] a shard owns.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::bindings::PluginPre;
use super::budget::CallBudget;
use super::connections::Connections;
use super::engine::WasmEngine;
use super::health::Health;
use super::log_budget::LogBudget;
use super::log_tags::LogTags;
use super::state::{ConnMap, HostState};
use super::stdio::LogStream;
use super::DeadlineExceeded;
use crate::config::WasiGrants;

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

/// A live instance and its store.
pub struct Instance {
    /// The store, whose data holds the connections it serves.
    pub(super) store: Store<HostState>,
    /// Its exports.
    pub(super) exports: super::bindings::PluginExports,
    /// True when its sync calls run in `block_in_place`: the plugin's WASI
    /// grants (folders, outbound TCP) reach code that blocks on tokio.
    pub(super) blocking: bool,
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

    /// Build a fresh instance. Errors (a trap in a start function, a memory
    /// cap too small) are reported, never panicked on.
    pub async fn instantiate(&self) -> anyhow::Result<Instance> {
        let budget = Arc::new(LogBudget::new(
            self.plugin.clone(),
            self.log_lines_per_second,
            self.health.clone(),
        ));
        let tags = Arc::new(LogTags::new(self.plugin.clone(), self.version));
        let wasi = wasi_ctx(&self.grants, &budget, &tags)?;
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
        let sync = self.pre.sync();
        let mut store = WasmEngine::store_on(engine, state, self.memory_limit, sync);
        let blocking = sync && (!self.grants.dirs.is_empty() || !self.grants.connect.is_empty());
        let pre = &self.pre;
        let exports = if blocking {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(pre.instantiate(&mut store))
            })
        } else {
            pre.instantiate(&mut store).await
        };
        let exports = exports.map_err(|e| describe(e, self.call_timeout))?;
        Ok(Instance {
            store,
            exports,
            blocking,
        })
    }
}

/// The WASI context of a new instance: stdout and stderr into the log,
/// and only what the manifest grants (consumers and middleware alike).
pub(super) fn wasi_ctx(
    grants: &WasiGrants,
    budget: &Arc<LogBudget>,
    tags: &Arc<LogTags>,
) -> anyhow::Result<WasiCtx> {
    let stream = |stream| LogStream {
        tags: tags.clone(),
        stream,
        budget: budget.clone(),
    };
    let mut b = WasiCtxBuilder::new();
    b.stdout(stream("stdout")).stderr(stream("stderr"));
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for d in &grants.dirs {
        let perms = if d.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&d.host, &d.guest, perms)
            .map_err(anyhow::Error::from)
            .map_err(|e| e.context(format!("opening granted folder {}", d.host.display())))?;
    }
    b.allow_ip_name_lookup(grants.dns);
    b.allow_udp(false);
    b.allow_tcp(!grants.connect.is_empty());
    let connect = Arc::new(grants.connect.clone());
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
