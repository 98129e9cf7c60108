//! The one place that configures wasmtime: every plugin of a server shares
//! these engines and their linkers (every import a plugin may use,
//! registered once), and every store made on them carries the per-call CPU
//! deadline and the memory cap.
//!
//! There are two engines. Shared shards run on the default one, whose 4 GiB
//! memory reservations let compiled code skip bounds checks: there are few
//! such instances and each is hot. Per-connection plugins run on a second
//! engine with wasmtime's pooling allocator (`runtime::pool`), built when the
//! first of them loads: one reservation for every instance, slots sized from
//! `[pool]`, copy-on-write memory images, and a clear "full" instead of a
//! failed `mmap` per instance. Its memories are as large as the pool's
//! slots, so its code keeps explicit bounds checks: the price of holding
//! tens of thousands of instances without reserving terabytes.
//!
//! Shared shards are called asynchronously: a call runs on a fiber and
//! yields to tokio at every epoch tick, so a long call never holds a worker
//! thread for more than a tick. Per-connection instances are called
//! synchronously, on the worker thread's own stack: a store keeps its fiber
//! stack between calls, so async calls would need a pooled stack per
//! instance (two mappings and about 9 KiB of resident memory each, idle).
//! The trade-off: their epoch callback cannot yield, only trap at the
//! deadline, so a runaway per-connection call holds its worker thread until
//! its `call_timeout_ms` (100 ms by default) is spent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{
    Cache, CacheConfig, Config, Engine, EngineWeak, InstanceAllocationStrategy, Store,
    StoreLimitsBuilder, UpdateDeadline,
};

use super::budget::EPOCH_TICK;
use super::pool::PoolPlan;
use super::state::HostState;
use crate::config::InstanceMode;

/// One wasmtime engine and the linker built on it.
pub struct Flavor {
    /// The engine.
    engine: Engine,
    /// True when its stores are called synchronously (no fiber): the
    /// pooled engine.
    sync: bool,
    /// WASI and the wasmsock interfaces, linked once for every plugin.
    linker: Linker<HostState>,
}

impl Flavor {
    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker plugins of this flavor are checked against and
    /// instantiated with.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// True when instances of this flavor are called synchronously.
    pub fn sync(&self) -> bool {
        self.sync
    }
}

/// The engines (default and pooled), their linkers, and the thread that
/// ticks their epochs.
#[derive(Clone)]
pub struct WasmEngine {
    /// Shared shards: on-demand allocation, bounds checks elided.
    shared: Arc<Flavor>,
    /// Per-connection instances: the pooling allocator, built on first use.
    pooled: Arc<Mutex<Option<Arc<Flavor>>>>,
    /// How the pool is sized; `None` when `[pool] enabled = false`.
    plan: Option<Arc<PoolPlan>>,
    /// The on-disk cache folder, for the pooled engine built later.
    cache_dir: Option<PathBuf>,
    /// Engines the ticker advances.
    ticked: Arc<Mutex<Vec<EngineWeak>>>,
    /// Stops the ticker thread when the last clone is dropped.
    _ticker: Arc<StopOnDrop>,
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What every engine shares: epoch interruption, stack sizes, the cache.
fn base_config(cache_dir: Option<&Path>) -> anyhow::Result<Config> {
    let mut config = Config::new();
    // Calls are driven from tokio tasks; epoch interruption lets a long
    // call trap at its deadline and, on the async (shared) engine, yield
    // every tick, so no worker thread is held for more than a tick at a
    // time there.
    config.epoch_interruption(true);
    // Plugins use the synchronous component ABI. Without the async
    // component-model bookkeeping a small call costs about half as much.
    config.concurrency_support(false);
    // A guest that recurses without end traps well before the host stack
    // is at risk; the async fiber stack is sized with room to spare.
    config.max_wasm_stack(1 << 20);
    config.async_stack_size(2 << 20);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if let Some(dir) = cache_dir {
        // wasmtime's cache wants an absolute path.
        let dir = std::path::absolute(dir)
            .with_context(|| format!("resolving cache folder {}", dir.display()))?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating cache folder {}", dir.display()))?;
        let mut cache_config = CacheConfig::new();
        cache_config.with_directory(&dir);
        let cache = Cache::new(cache_config).map_err(anyhow::Error::from);
        config.cache(Some(
            cache.context("configuring the compiled-plugin cache")?,
        ));
    }
    Ok(config)
}

fn flavor(config: &Config, sync: bool) -> anyhow::Result<Flavor> {
    let engine = Engine::new(config)
        .map_err(anyhow::Error::from)
        .context("configuring wasmtime")?;
    let linker = super::imports::linker(&engine, sync).context("setting up plugin imports")?;
    Ok(Flavor {
        engine,
        sync,
        linker,
    })
}

impl WasmEngine {
    /// Build the engine with the pool's derived defaults. `cache_dir`
    /// enables wasmtime's on-disk cache of compiled plugins, keyed by
    /// content hash and compiler settings.
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<WasmEngine> {
        let plan = PoolPlan::new(
            &crate::config::PoolSettings::derived(),
            crate::config::Limits::default().max_connections,
            crate::config::PluginDefaults::default().memory_limit_mb as usize,
        );
        WasmEngine::with_pool(cache_dir, Some(plan))
    }

    /// Build the engine; per-connection plugins use a pool sized by `plan`
    /// (built when the first of them loads), or allocate on demand when
    /// `plan` is `None`.
    pub fn with_pool(
        cache_dir: Option<&Path>,
        plan: Option<PoolPlan>,
    ) -> anyhow::Result<WasmEngine> {
        let shared = flavor(&base_config(cache_dir)?, false)?;
        let ticked = Arc::new(Mutex::new(vec![shared.engine.weak()]));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engines = ticked.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("wasmsock-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    let engines = ticker_engines.lock().unwrap_or_else(|p| p.into_inner());
                    let mut alive = false;
                    for engine in engines.iter().filter_map(EngineWeak::upgrade) {
                        engine.increment_epoch();
                        alive = true;
                    }
                    if !alive {
                        break;
                    }
                }
            })
            .context("starting the epoch thread")?;
        Ok(WasmEngine {
            shared: Arc::new(shared),
            pooled: Arc::new(Mutex::new(None)),
            plan: plan.map(Arc::new),
            cache_dir: cache_dir.map(Path::to_path_buf),
            ticked,
            _ticker: Arc::new(StopOnDrop(stop)),
        })
    }

    /// The default engine (shared shards, `wasmsock check`).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The default engine's linker.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.shared.linker
    }

    /// How the per-connection pool is sized, if there is one.
    pub fn pool(&self) -> Option<&PoolPlan> {
        self.plan.as_deref()
    }

    /// The engine plugins of `mode` are compiled for: the pooled one for
    /// per-connection plugins (built on first use), else the default one.
    pub fn flavor(&self, mode: InstanceMode) -> anyhow::Result<Arc<Flavor>> {
        let (InstanceMode::PerConnection, Some(plan)) = (mode, &self.plan) else {
            return Ok(self.shared.clone());
        };
        let mut pooled = self.pooled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = &*pooled {
            return Ok(f.clone());
        }
        let mut config = base_config(self.cache_dir.as_deref())?;
        pooled_config(&mut config, plan);
        let f = Arc::new(flavor(&config, true).with_context(|| {
            format!(
                "building the per-connection instance pool ({} instances of up to {} MiB; see \
                 [pool] in the server file)",
                plan.instances,
                plan.memory >> 20
            )
        })?);
        tracing::info!("{}", plan.describe());
        self.ticked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(f.engine.weak());
        *pooled = Some(f.clone());
        Ok(f)
    }

    /// A store on the default engine; see [`WasmEngine::store_on`].
    pub fn store(&self, state: HostState, memory_limit: usize) -> Store<HostState> {
        WasmEngine::store_on(&self.shared.engine, state, memory_limit, false)
    }

    /// A store on `engine` with the plugin's memory cap and a deadline
    /// check that traps once the current call is over budget. Between, it
    /// yields to tokio on every tick, unless the store is called
    /// synchronously (`sync`), which cannot yield: then the call goes on.
    pub fn store_on(
        engine: &Engine,
        state: HostState,
        memory_limit: usize,
        sync: bool,
    ) -> Store<HostState> {
        let mut store = Store::new(engine, state);
        store.data_mut().limits.caps = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .table_elements(memory_limit / 8)
            .instances(64)
            .memories(8)
            .tables(64)
            .trap_on_grow_failure(false)
            .build();
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(move |mut ctx| {
            if ctx.data_mut().budget.tick() {
                return Err(wasmtime::Error::new(super::DeadlineExceeded));
            }
            Ok(if sync {
                UpdateDeadline::Continue(1)
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        store
    }
}

/// Core instances, memories and tables one component may have in the pool:
/// a Rust or C plugin has one memory, two or three tables and a handful of
/// core instances (the module, WASI adapter shims); interpreters a few more.
const CORE_INSTANCES_PER_COMPONENT: u32 = 50;
/// See [`CORE_INSTANCES_PER_COMPONENT`].
const MEMORIES_PER_COMPONENT: u32 = 2;
/// See [`CORE_INSTANCES_PER_COMPONENT`].
const TABLES_PER_COMPONENT: u32 = 16;
/// Tables the pool holds per instance on average (a slot of table space is
/// only virtual memory until used).
const TABLES_PER_INSTANCE: u32 = 4;
/// Guard after each pooled memory: static offsets below it need no add in
/// the bounds check. Small, since it is reserved for every slot.
const POOLED_GUARD: u64 = 64 << 10;

/// The pooling allocator, sized by `plan`, on the per-connection engine.
fn pooled_config(config: &mut Config, plan: &PoolPlan) {
    let n = plan.instances;
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n)
        .total_tables(n.saturating_mul(TABLES_PER_INSTANCE))
        // Calls are synchronous: no fiber, so no stack in the pool.
        .total_stacks(0)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memories_per_module(1)
        .max_tables_per_module(TABLES_PER_COMPONENT)
        .table_elements(plan.table_elements as usize)
        .max_memory_size(plan.memory);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // Each slot reserves just the largest memory allowed, not 4 GiB: 20,000
    // slots of 64 MiB are 1.25 TiB of address space (never committed), where
    // 4 GiB slots would be 80 TiB.
    config.memory_reservation(plan.memory as u64);
    config.memory_guard_size(POOLED_GUARD);
    config.memory_reservation_for_growth(0);
    // A new instance maps its memory's initial image copy-on-write from one
    // shared file instead of copying the data segments (unless `[pool]
    // copy_on_write = false`: two mappings fewer per instance).
    config.memory_init_cow(plan.copy_on_write);
}
