//! Turning a `.wasm` file into a plugin version that has proved it runs:
//! compiled, type-checked against the world (`consumer`, or `middleware`
//! for a component that exports `middleware-handler`), instantiated once.
//! The one load path of the registry, `wasmsock check` and the test
//! harness, with errors a plugin author can act on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::config::{InstanceMode, Manifest};
use crate::runtime::bindings::{is_middleware, MiddlewarePre, PluginPre};
use crate::runtime::connections::Connections;
use crate::runtime::middleware::{MiddlewareInstance, MiddlewareSpec};
use crate::runtime::shard::{Instance, ShardSpec};
use crate::runtime::state::HostState;
use crate::runtime::version::VersionBase;
use crate::runtime::WasmEngine;

/// Why a file was refused as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(#[from] std::io::Error),
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// No `\0asm` magic.
    #[error("not a WebAssembly file (it does not start with the \\0asm magic)")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "a core WebAssembly module, not a component: build for the wasm32-wasip2 target, or wrap the module with \
         `wasm-tools component new`"
    )]
    CoreModule,
    /// Malformed or truncated, or uses features the host does not enable.
    #[error("not a valid component (a half-written file looks like this too): {0:#}")]
    Invalid(anyhow::Error),
    /// Imports the host does not provide, or lacks the `handler` export.
    #[error("does not implement the wasmsock:plugin/consumer world: {0:#}")]
    WrongWorld(anyhow::Error),
    /// Exports `middleware-handler`, but not in the middleware world's shape.
    #[error(
        "exports middleware-handler but does not implement the wasmsock:plugin/middleware world: {0:#}"
    )]
    WrongMiddleware(anyhow::Error),
    /// A middleware where a consumer was asked for (the test harness).
    #[error("a middleware (it exports middleware-handler), not a consumer: it serves no route")]
    IsMiddleware,
    /// The component failed while being instantiated.
    #[error("fails while instantiating: {0:#}")]
    Instantiate(anyhow::Error),
    /// A per-connection plugin asks for more memory than a pool slot holds.
    #[error(
        "memory_limit_mb = {wanted} is above the per-connection pool's {slot} MiB slots: lower it, or raise \
         [pool] memory_mb in the server file"
    )]
    TooBigForPool {
        /// The manifest's memory cap, MiB.
        wanted: usize,
        /// The pool's slot size, MiB.
        slot: usize,
    },
    /// The compile task itself failed.
    #[error("internal error while compiling: {0}")]
    Internal(String),
}

/// A compiled, type-checked plugin file.
pub struct Compiled {
    /// The component, ready to instantiate.
    pub pre: PluginPre<HostState>,
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Size of the file in bytes.
    pub size: usize,
    /// Time spent compiling (or fetching from the cache).
    pub compile_time: Duration,
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Check the header before handing bytes to the compiler, so the common
/// mistakes get their own message.
pub fn sniff(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    // Bytes 4..8: a core module has version 1 (01 00) and layer 0 (00 00);
    // a component has layer 1.
    if bytes.len() >= 8 && bytes[6..8] == [0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// A compiled, type-checked middleware file.
pub struct CompiledMiddleware {
    /// The component, ready to instantiate.
    pub pre: MiddlewarePre<HostState>,
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Size of the file in bytes.
    pub size: usize,
    /// Time spent compiling (or fetching from the cache).
    pub compile_time: Duration,
}

/// A compiled file of either kind: what it exports decides.
pub enum CompiledAny {
    /// It exports `handler`.
    Consumer(Compiled),
    /// It exports `middleware-handler`.
    Middleware(CompiledMiddleware),
}

/// Compile `bytes` for the engine of `mode` (reusing `known` when it has the
/// same content and was compiled for that engine) and check it against the
/// world. Blocking: call from a blocking thread.
pub fn compile(
    engine: &WasmEngine,
    mode: InstanceMode,
    bytes: &[u8],
    known: Option<&Component>,
) -> Result<Compiled, LoadError> {
    match compile_any(engine, mode, bytes, known)? {
        CompiledAny::Consumer(c) => Ok(c),
        CompiledAny::Middleware(_) => Err(LoadError::IsMiddleware),
    }
}

/// [`compile`] for a consumer or a middleware: a component that exports
/// `middleware-handler` is checked against the middleware world, any other
/// against the consumer world. Blocking: call from a blocking thread.
pub fn compile_any(
    engine: &WasmEngine,
    mode: InstanceMode,
    bytes: &[u8],
    known: Option<&Component>,
) -> Result<CompiledAny, LoadError> {
    let start = Instant::now();
    let flavor = engine
        .flavor(mode)
        .map_err(|e| LoadError::Internal(format!("{e:#}")))?;
    let component = match known.filter(|c| wasmtime::Engine::same(c.engine(), flavor.engine())) {
        Some(c) => c.clone(),
        None => {
            sniff(bytes)?;
            Component::new(flavor.engine(), bytes).map_err(|e| LoadError::Invalid(e.into()))?
        }
    };
    let compile_time = start.elapsed();
    let middleware = is_middleware(&component);
    let wrong = |e: wasmtime::Error| {
        if middleware {
            LoadError::WrongMiddleware(e.into())
        } else {
            LoadError::WrongWorld(e.into())
        }
    };
    if middleware && flavor.sync() {
        // Middleware is called asynchronously, on the default engine,
        // whatever `instance` says.
        return compile_any(engine, InstanceMode::Shared, bytes, None);
    }
    let instance_pre = flavor.linker().instantiate_pre(&component).map_err(wrong)?;
    if middleware {
        let pre = MiddlewarePre::new(instance_pre).map_err(wrong)?;
        return Ok(CompiledAny::Middleware(CompiledMiddleware {
            pre,
            hash: content_hash(bytes),
            size: bytes.len(),
            compile_time,
        }));
    }
    let pre = PluginPre::new(instance_pre, flavor.sync()).map_err(wrong)?;
    Ok(CompiledAny::Consumer(Compiled {
        pre,
        hash: content_hash(bytes),
        size: bytes.len(),
        compile_time,
    }))
}

/// What a load needs besides the file's bytes.
pub struct LoadSpec<'a> {
    /// The plugin's name (the file stem).
    pub name: &'a str,
    /// The version it will be if it loads (0 for `check`), for its log
    /// lines and events.
    pub version: u64,
    /// Its effective settings.
    pub manifest: &'a Manifest,
    /// Largest message the plugin may send (the server's message limit).
    pub max_message_size: usize,
    /// The compiled component of the version in force: reused, not
    /// recompiled, when only the manifest changed.
    pub reuse: Option<Component>,
    /// Where its shards log; `None` is the global subscriber.
    pub log: Option<tracing::Dispatch>,
    /// The connections (and groups) its instances act on.
    pub connections: Arc<Connections>,
}

/// A plugin version ready to serve: the spec its shards are built from and
/// the instance that proved it instantiates (it becomes the first shard).
pub struct Loaded {
    /// Builds instances of this version.
    pub spec: Arc<ShardSpec>,
    /// The first instance.
    pub first: Instance,
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Size of the file in bytes.
    pub size: usize,
    /// Time spent compiling (or fetching from the cache).
    pub compile_time: Duration,
}

/// A middleware version ready to serve: its spec and the instance that
/// proved it instantiates (its task's first).
pub struct LoadedMiddleware {
    /// Builds instances of this version.
    pub spec: Arc<MiddlewareSpec>,
    /// The first instance.
    pub first: MiddlewareInstance,
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Size of the file in bytes.
    pub size: usize,
    /// Time spent compiling (or fetching from the cache).
    pub compile_time: Duration,
}

/// A loaded file of either kind.
pub enum LoadedAny {
    /// A consumer: it serves routes.
    Consumer(Loaded),
    /// A middleware: consumers' handshakes go through it.
    Middleware(LoadedMiddleware),
}

/// Compile (on a blocking thread), link and instantiate `bytes` once, as a
/// consumer; a middleware is refused ([`LoadError::IsMiddleware`]).
pub async fn load(
    engine: &WasmEngine,
    bytes: Vec<u8>,
    spec: LoadSpec<'_>,
) -> Result<Loaded, LoadError> {
    match load_any(engine, bytes, spec).await? {
        LoadedAny::Consumer(loaded) => Ok(loaded),
        LoadedAny::Middleware(_) => Err(LoadError::IsMiddleware),
    }
}

/// Compile (on a blocking thread), link and instantiate `bytes` once, as
/// a consumer or a middleware, whichever it is: the one load path of both.
pub async fn load_any(
    engine: &WasmEngine,
    bytes: Vec<u8>,
    spec: LoadSpec<'_>,
) -> Result<LoadedAny, LoadError> {
    // The engine to compile for: per-connection plugins go to the pool
    // (called synchronously) unless their grants reach I/O that blocks a
    // thread; those stay on the default engine, whose calls yield.
    let mode = match spec.manifest.instance {
        InstanceMode::PerConnection if spec.manifest.wasi.reach_blocking_io() => {
            InstanceMode::Shared
        }
        mode => mode,
    };
    if let (InstanceMode::PerConnection, Some(plan)) = (mode, engine.pool()) {
        if spec.manifest.memory_limit > plan.memory {
            return Err(LoadError::TooBigForPool {
                wanted: spec.manifest.memory_limit >> 20,
                slot: plan.memory >> 20,
            });
        }
    }
    let compile_engine = engine.clone();
    let reuse = spec.reuse;
    let compiled = tokio::task::spawn_blocking(move || {
        compile_any(&compile_engine, mode, &bytes, reuse.as_ref())
    })
    .await
    .map_err(|e| LoadError::Internal(e.to_string()))??;
    let mut base = VersionBase::new(
        Arc::from(spec.name),
        spec.version,
        spec.manifest,
        spec.connections,
    );
    base.log = spec.log;
    let compiled = match compiled {
        CompiledAny::Consumer(c) => c,
        CompiledAny::Middleware(m) => {
            let mw_spec = Arc::new(MiddlewareSpec::new(m.pre, base));
            let first = mw_spec
                .instantiate()
                .await
                .map_err(LoadError::Instantiate)?;
            return Ok(LoadedAny::Middleware(LoadedMiddleware {
                spec: mw_spec,
                first,
                hash: m.hash,
                size: m.size,
                compile_time: m.compile_time,
            }));
        }
    };
    let shard_spec = Arc::new(ShardSpec::new(
        engine.clone(),
        compiled.pre,
        base,
        spec.manifest,
        spec.max_message_size,
    ));
    let first = shard_spec
        .instantiate()
        .await
        .map_err(LoadError::Instantiate)?;
    Ok(LoadedAny::Consumer(Loaded {
        spec: shard_spec,
        first,
        hash: compiled.hash,
        size: compiled.size,
        compile_time: compiled.compile_time,
    }))
}
