//! The data a plugin's store carries: what its imports act on.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::budget::CallBudget;
use super::connections::Connections;
use super::identity::Identity;
use super::log_budget::LogBudget;
use super::log_tags::LogTags;
use super::outbox::Outbox;

/// Per-store host state of one plugin instance (a shard).
pub struct HostState {
    /// The plugin's name, for log lines.
    pub plugin: Arc<str>,
    /// The plugin's `[config]` values.
    pub config: Arc<BTreeMap<String, String>>,
    /// The connections this instance serves, by id: the only ids its
    /// `send` and `close` may name.
    pub conns: ConnMap<Served>,
    /// The largest attachment a connection may have, in bytes.
    pub attachment_max: usize,
    /// The instance's timers.
    pub timers: super::timers::Timers,
    /// Every connection of the server and their groups: what `groups`
    /// acts on.
    pub connections: Arc<Connections>,
    /// Largest message the plugin may send, in bytes.
    pub max_message_size: usize,
    /// True if the plugin exports `event-handler`: events sent to its
    /// groups have somewhere to go.
    pub takes_events: bool,
    /// The CPU budget of the call in progress; checked at every epoch tick.
    pub budget: CallBudget,
    /// Memory and table caps, enforced by wasmtime's resource limiter.
    pub limits: Limits,
    /// The shard's log rate limit, shared with its stdout and stderr.
    pub log_budget: Arc<LogBudget>,
    /// What its log lines are tagged with (plugin, version, the call's
    /// connection), shared with its stdout and stderr.
    pub log_tags: Arc<LogTags>,
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

/// What an instance holds for one connection it serves.
#[derive(Debug)]
pub struct Served {
    /// Where the plugin's sends to it go.
    pub outbox: Arc<Outbox>,
    /// What moves with it to the next instance that serves it.
    pub kept: Kept,
}

/// What the host keeps for a connection outside the plugin's memory, so
/// that another instance can take it over (`adopt-handler`): the request's
/// path and route params, who the handshake said it is, and the plugin's
/// attachment.
#[derive(Debug, Default)]
pub struct Kept {
    /// The request path.
    pub path: String,
    /// The route's captured values.
    pub params: Vec<(String, String)>,
    /// Who the handshake established it is (`identity.get`); `None` for an
    /// anonymous connection, so an idle one holds a single pointer for it.
    pub identity: Option<Arc<Identity>>,
    /// The plugin's bytes (`attachment.set`).
    pub attachment: Attachment,
    /// Its timers (due time, token), while it is between instances.
    pub timers: Vec<(std::time::Instant, u64)>,
}

/// A connection's attachment, counted in its plugin's
/// `wasmsock_attachment_bytes` for as long as it is held.
#[derive(Debug, Default)]
pub struct Attachment {
    /// The bytes; empty until set.
    bytes: Vec<u8>,
    /// The gauge they are counted in, once there are any.
    gauge: Option<prometheus_client::metrics::gauge::Gauge>,
}

impl Attachment {
    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Keep `bytes` instead, counted in `plugin`'s gauge.
    pub fn replace(&mut self, bytes: Vec<u8>, plugin: &str) {
        let gauge = self
            .gauge
            .get_or_insert_with(|| crate::metrics::global().attachment_bytes(plugin));
        gauge.inc_by(bytes.len() as i64 - self.bytes.len() as i64);
        self.bytes = bytes;
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.dec_by(self.bytes.len() as i64);
        }
    }
}

/// The store's caps, remembering whether one refused a growth: a trap that
/// follows a refused growth is the plugin hitting its memory cap, which is
/// how failures are told apart in the metrics.
#[derive(Default)]
pub struct Limits {
    /// wasmtime's caps.
    pub caps: StoreLimits,
    /// A memory or table growth was refused since this was last cleared.
    pub refused: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.caps.memory_growing(current, desired, maximum)?;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.caps.table_growing(current, desired, maximum)?;
        self.refused |= !ok;
        Ok(ok)
    }

    fn instances(&self) -> usize {
        self.caps.instances()
    }

    fn tables(&self) -> usize {
        self.caps.tables()
    }

    fn memories(&self) -> usize {
        self.caps.memories()
    }
}

/// A map keyed by connection id, looked up on every message.
pub type ConnMap<V> = HashMap<u64, V, BuildHasherDefault<ConnIdHasher>>;

/// Hashes connection ids with one multiplication. The host issues them in
/// sequence and no client chooses them, so SipHash's resistance to chosen
/// keys buys nothing here, and it ran twice per message.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnIdHasher(u64);

/// 2^64 / golden ratio: spreads sequential ids over high and low bits.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for ConnIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(FIBONACCI);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_ids_spread_over_buckets_and_tags() {
        let build = BuildHasherDefault::<ConnIdHasher>::default();
        let hashes: Vec<u64> = (1..=1024u64).map(|id| build.hash_one(id)).collect();
        // hashbrown picks the bucket from the low bits and a tag from the top 7.
        let buckets: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(buckets.len(), 1024, "1,024 ids fill 1,024 buckets");
        assert_eq!(tags.len(), 128, "every tag value is used");
    }
}
