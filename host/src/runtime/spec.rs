//! What a plugin version's instances are built from ([`ShardSpec`]): the
//! linked component, its settings and grants, and the host state each new
//! store starts with; and the live [`Instance`] a shard owns.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::bindings::PluginPre;
use super::budget::CallBudget;
use super::engine::WasmEngine;
use super::log_budget::LogBudget;
use super::log_tags::LogTags;
use super::state::{ConnMap, HostState};
use super::stdio::LogStream;
use super::version::VersionBase;
use super::DeadlineExceeded;
use crate::config::WasiGrants;

/// Everything needed to build instances of one plugin version.
pub struct ShardSpec {
    /// The shared engine.
    pub engine: WasmEngine,
    /// The type-checked component, ready to instantiate.
    pub pre: PluginPre<HostState>,
    /// Its name, number, settings, grants, health, connections and log, as
    /// a middleware version has them too.
    pub base: VersionBase,
    /// Largest message a plugin may send.
    pub max_message_size: usize,
    /// The largest attachment a connection may have, in bytes.
    pub attachment_max: usize,
    /// Timers one instance may hold.
    pub timers_max: usize,
    /// True when the plugin's connections move to a fresh instance after
    /// a failed one (`on_reload` is adopt, by the manifest or because the
    /// plugin exports `adopt-handler`) instead of closing with it.
    pub moves: bool,
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
        base: VersionBase,
        manifest: &crate::config::Manifest,
        max_message_size: usize,
    ) -> ShardSpec {
        let moves = manifest.reload.mode(pre.adopts()) == crate::config::OnReload::Adopt;
        ShardSpec {
            engine,
            pre,
            base,
            max_message_size,
            attachment_max: manifest.reload.attachment_max_bytes,
            timers_max: manifest.reload.timers_max,
            moves,
        }
    }

    /// Build a fresh instance. Errors (a trap in a start function, a memory
    /// cap too small) are reported, never panicked on.
    pub async fn instantiate(&self) -> anyhow::Result<Instance> {
        let state = host_state(
            &self.base,
            self.attachment_max,
            self.timers_max,
            self.max_message_size,
            self.pre.takes_events(),
        )?;
        let engine = self.pre.instance_pre().engine();
        let sync = self.pre.sync();
        let mut store = WasmEngine::store_on(engine, state, self.base.memory_limit, sync);
        let exports = self
            .pre
            .instantiate(&mut store)
            .await
            .map_err(|e| describe(e, self.base.call_timeout))?;
        Ok(Instance { store, exports })
    }
}

/// The host state a new store of a version starts with (consumers and
/// middleware alike; a middleware's limits are zero, since it imports
/// nothing that sends, attaches or sets timers).
pub(super) fn host_state(
    base: &VersionBase,
    attachment_max: usize,
    timers_max: usize,
    max_message_size: usize,
    takes_events: bool,
) -> anyhow::Result<HostState> {
    let budget = Arc::new(LogBudget::new(
        base.name.clone(),
        base.log_lines_per_second,
        base.health.clone(),
    ));
    let tags = Arc::new(LogTags::new(base.name.clone(), base.version));
    let wasi = wasi_ctx(&base.grants, &budget, &tags)?;
    Ok(HostState {
        plugin: base.name.clone(),
        config: base.config.clone(),
        conns: ConnMap::default(),
        attachment_max,
        timers: super::timers::Timers::new(timers_max),
        connections: base.connections.clone(),
        max_message_size,
        takes_events,
        budget: CallBudget::start(base.call_timeout),
        limits: Default::default(),
        log_budget: budget,
        log_tags: tags,
        wasi,
        table: Default::default(),
    })
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
