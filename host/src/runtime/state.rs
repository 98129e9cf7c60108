//! The data a plugin's store carries: what its imports act on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::engine::CallBudget;
use super::log_budget::LogBudget;
use crate::server::outbox::Outbox;

/// Per-store host state of one plugin instance (a shard).
pub struct HostState {
    /// The plugin's name, for log lines.
    pub plugin: Arc<str>,
    /// The plugin's `[config]` values.
    pub config: Arc<BTreeMap<String, String>>,
    /// The connections this instance serves, by id: the only ids its
    /// `send` and `close` may name.
    pub conns: HashMap<u64, Arc<Outbox>>,
    /// Largest message the plugin may send, in bytes.
    pub max_message_size: usize,
    /// The CPU budget of the call in progress; checked at every epoch tick.
    pub budget: CallBudget,
    /// Memory and table caps, enforced by wasmtime's resource limiter.
    pub limits: StoreLimits,
    /// The shard's log rate limit, shared with its stdout and stderr.
    pub log_budget: Arc<LogBudget>,
    /// WASI state: the captured stdout and stderr and what the manifest
    /// grants.
    pub wasi: WasiCtx,
    /// Resources handed to the guest by WASI.
    pub table: ResourceTable,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
