//! The per-connection instance pool: how large it is (from `[pool]`, the
//! connection limit, the open-file limit and `vm.max_map_count`), and what
//! happens when it, or the host, runs out: the connection is answered 503,
//! the event is counted and logged at most once a second, and the plugin is
//! not blamed (running out of host resources never counts toward its
//! quarantine).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::PoolSettings;

/// Memory mappings a live instance adds with copy-on-write images: what
/// lies before the image (a Rust plugin's stack), the image, the rest of
/// the heap and the inaccessible remainder of its slot (measured from
/// `/proc/PID/maps` with 1,000 instances of the Rust echo: 4). A slot
/// costs none until used: calls are synchronous, so the pool holds no
/// fiber stacks (which cost 2 mappings a slot, made up front).
const MAPPINGS_PER_INSTANCE_COW: u64 = 4;
/// Without copy-on-write: the accessible heap and the remainder (2).
const MAPPINGS_PER_INSTANCE_COPY: u64 = 2;
/// Mappings left for everything else in the process (code, thread stacks,
/// the allocator, shared shards).
const MAPPINGS_RESERVED: u64 = 2048;
/// Descriptors left for everything but connections (listeners, files, the
/// cache, Redis).
const FDS_RESERVED: u64 = 64;

/// The size of the per-connection pool and what bounded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlan {
    /// Instances at once, all per-connection plugins together.
    pub instances: u32,
    /// Largest linear memory of one instance, in bytes.
    pub memory: usize,
    /// Largest table of one instance, in elements.
    pub table_elements: u32,
    /// Copy-on-write memory images.
    pub copy_on_write: bool,
    /// What set `instances`, for the log.
    pub bound: String,
    /// A warning when `instances` was set above what the host allows.
    pub warning: Option<String>,
}

/// `vm.max_map_count`, if it can be read.
fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The soft open-file limit (the server raises it to the hard one at start).
fn open_files() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

impl PoolPlan {
    /// Size the pool: `[pool] instances` if set, else the least of
    /// `max_connections`, the open-file limit (each connection holds a
    /// descriptor) and what `vm.max_map_count` leaves room for.
    /// `default_memory_mb` is the plugins' default memory cap.
    pub fn new(
        settings: &PoolSettings,
        max_connections: usize,
        default_memory_mb: usize,
    ) -> PoolPlan {
        let per_instance = if settings.copy_on_write {
            MAPPINGS_PER_INSTANCE_COW
        } else {
            MAPPINGS_PER_INSTANCE_COPY
        };
        let maps = max_map_count().map(|m| m.saturating_sub(MAPPINGS_RESERVED) / per_instance);
        let fds = open_files().map(|f| f.saturating_sub(FDS_RESERVED));
        let mut candidates = vec![(max_connections as u64, "limits.max_connections".to_string())];
        if let Some(m) = maps {
            candidates.push((
                m,
                format!("vm.max_map_count ({})", max_map_count().unwrap_or(0)),
            ));
        }
        if let Some(f) = fds {
            candidates.push((f, format!("the open-file limit ({})", f + FDS_RESERVED)));
        }
        let (derived, why) = candidates
            .into_iter()
            .min_by_key(|(n, _)| *n)
            .unwrap_or((max_connections as u64, "limits.max_connections".into()));
        let derived = derived.clamp(1, u64::from(u32::MAX)) as u32;
        let (instances, bound, warning) = match settings.instances {
            Some(n) => {
                let warning = maps.filter(|&m| u64::from(n) > m).map(|m| {
                    format!(
                        "pool.instances = {n} is above the {m} instances vm.max_map_count leaves \
                         room for: past about that many, new per-connection clients get 503 \
                         (raise vm.max_map_count to hold more)"
                    )
                });
                (n, "pool.instances".to_string(), warning)
            }
            None => (derived, why, None),
        };
        PoolPlan {
            instances,
            memory: settings.memory.unwrap_or(default_memory_mb << 20),
            table_elements: settings.table_elements,
            copy_on_write: settings.copy_on_write,
            bound,
            warning,
        }
    }

    /// One line for the log when the pool is built.
    pub fn describe(&self) -> String {
        let reserved_gib =
            (self.instances as f64) * (self.memory as f64 + 65536.0) / (1u64 << 30) as f64;
        format!(
            "per-connection instance pool: {} instances (set by {}) of up to {} MiB memory and \
             {} table elements, copy-on-write images {}; {reserved_gib:.0} GiB of address space \
             reserved, none committed until used{}",
            self.instances,
            self.bound,
            self.memory >> 20,
            self.table_elements,
            if self.copy_on_write { "on" } else { "off" },
            self.warning
                .as_ref()
                .map(|w| format!("; warning: {w}"))
                .unwrap_or_default()
        )
    }
}

/// Whether `e` is the host running out of something (the pool is full, an
/// `mmap` or `mprotect` failed for lack of memory or mappings) rather than
/// anything the plugin did.
pub fn host_resource(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<wasmtime::PoolConcurrencyLimitError>()
            || c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                io.kind() == std::io::ErrorKind::OutOfMemory || io.raw_os_error() == Some(12)
            })
            || c.to_string().contains("(os error 12)")
    })
}

/// Connections refused for lack of room since the server started.
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// When the last "no room" line was logged, and how many were refused then.
static LAST_LOG: Mutex<Option<(Instant, u64)>> = Mutex::new(None);

/// Per-connection clients answered 503 because the pool (or the host) had
/// no room for another instance, since the server started.
pub fn refused() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// Count a connection refused for lack of room, and log it (with how many
/// since the last line) at most once a second.
pub fn note_refused(plugin: &str, why: &str) {
    let total = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    let mut last = LAST_LOG.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let since = match *last {
        Some((at, _)) if now.duration_since(at) < Duration::from_secs(1) => return,
        Some((_, logged)) => total - logged,
        None => total,
    };
    *last = Some((now, total));
    tracing::warn!(
        plugin,
        refused = since,
        total,
        "no room for another per-connection instance; answering 503 (not the plugin's failure): {why}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_size_wins_and_a_derived_one_stays_within_the_limits() {
        let mut settings = PoolSettings::derived();
        let derived = PoolPlan::new(&settings, 500, 64);
        assert!(derived.instances <= 500, "{derived:?}");
        assert_eq!(derived.memory, 64 << 20);
        settings.instances = Some(7);
        settings.memory = Some(8 << 20);
        let set = PoolPlan::new(&settings, 500, 64);
        assert_eq!((set.instances, set.memory), (7, 8 << 20));
        assert_eq!(set.bound, "pool.instances");
        assert!(set
            .describe()
            .contains("7 instances (set by pool.instances)"));
    }

    #[test]
    fn running_out_of_memory_is_the_hosts_and_a_trap_is_not() {
        let enomem =
            anyhow::Error::from(std::io::Error::from_raw_os_error(12)).context("failed to mmap");
        assert!(host_resource(&enomem));
        let trap = anyhow::anyhow!("wasm trap: wasm `unreachable` instruction executed");
        assert!(!host_resource(&trap));
    }
}
