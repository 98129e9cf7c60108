//! The one place that configures wasmtime: every plugin of a server shares
//! this engine and its linker (every import a plugin may use, registered
//! once), and every store it makes carries the per-call CPU deadline and the
//! memory cap.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{Cache, CacheConfig, Config, Engine, Store, StoreLimitsBuilder, UpdateDeadline};

use super::budget::EPOCH_TICK;
use super::state::HostState;

/// The shared wasmtime engine, its linker, and the thread that ticks its
/// epoch.
#[derive(Clone)]
pub struct WasmEngine {
    /// The engine; cheap to clone, shared by every plugin.
    engine: Engine,
    /// WASI and the wasmsock interfaces, linked once for every plugin.
    linker: Arc<Linker<HostState>>,
    /// Stops the ticker thread when the last clone is dropped.
    _ticker: Arc<StopOnDrop>,
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl WasmEngine {
    /// Build the engine. `cache_dir` enables wasmtime's on-disk cache of
    /// compiled plugins, keyed by content hash and compiler settings.
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<WasmEngine> {
        let mut config = Config::new();
        // Calls are driven from tokio tasks; epoch interruption lets a long
        // call yield every tick and trap at its deadline, so no worker thread
        // is held for more than a tick at a time.
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
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("configuring wasmtime")?;
        let linker = super::imports::linker(&engine).context("setting up plugin imports")?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.weak();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("wasmsock-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .context("starting the epoch thread")?;
        Ok(WasmEngine {
            engine,
            linker: Arc::new(linker),
            _ticker: Arc::new(StopOnDrop(stop)),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every plugin is checked against and instantiated with.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// A store with the plugin's memory cap and a deadline check that yields
    /// to tokio on every tick and traps once the current call is over budget.
    pub fn store(&self, state: HostState, memory_limit: usize) -> Store<HostState> {
        let mut store = Store::new(&self.engine, state);
        store.data_mut().limits.caps = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .table_elements(memory_limit / 8)
            .instances(64)
            .memories(8)
            .tables(64)
            .trap_on_grow_failure(false)
            .build();
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut ctx| {
            if ctx.data_mut().budget.tick() {
                return Err(wasmtime::Error::new(super::DeadlineExceeded));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        store
    }
}
