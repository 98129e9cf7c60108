//! The one place that configures wasmtime: every plugin of a server shares
//! this engine and its linker (every import a plugin may use, registered
//! once), and every store it makes carries the per-call CPU deadline and the
//! memory cap.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{Cache, CacheConfig, Config, Engine, Store, StoreLimitsBuilder, UpdateDeadline};

use super::state::HostState;

/// How often the epoch advances. A running guest notices its deadline, or
/// yields to the tokio scheduler, at most this long after the fact.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The CPU budget of the call in progress.
///
/// A call is over budget when it has both run for the budget's number of
/// epoch ticks (each tick the guest observes while running counts; ticks
/// spent waiting for a tokio worker after a yield do not) and passed its
/// wall-clock deadline. On an idle server the two agree; on a loaded one the
/// tick count keeps a call that was merely waiting for a CPU from being
/// cut off, while a runaway loop is still stopped after about the budget of
/// its own running time.
#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    /// Wall-clock deadline.
    deadline: Instant,
    /// Ticks left before the call may be cut off.
    ticks_left: u32,
}

impl CallBudget {
    /// A budget of `length` starting now.
    pub fn start(length: Duration) -> CallBudget {
        let ticks = length.as_micros().div_ceil(EPOCH_TICK.as_micros());
        CallBudget {
            deadline: Instant::now() + length,
            ticks_left: u32::try_from(ticks).unwrap_or(u32::MAX).max(1),
        }
    }

    /// Count one tick of running; true when the call is over budget.
    pub fn tick(&mut self) -> bool {
        self.ticks_left = self.ticks_left.saturating_sub(1);
        self.ticks_left == 0 && Instant::now() >= self.deadline
    }
}

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
        store.data_mut().limits = StoreLimitsBuilder::new()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_over_budget_only_after_its_ticks_and_its_deadline() {
        // 20 ms is four ticks.
        let mut b = CallBudget::start(Duration::from_millis(20));
        for _ in 0..3 {
            assert!(!b.tick());
        }
        // The fourth tick came early (the clock has not reached the
        // deadline): not over yet.
        assert!(!b.tick());
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.tick());
        // A call that waited past its deadline without running keeps its ticks.
        let mut waited = CallBudget::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(25));
        assert!(!waited.tick());
    }
}
