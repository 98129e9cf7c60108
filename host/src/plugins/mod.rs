//! The plugin registry: every plugin in the folder, its current version, and
//! the route table built from them. The watcher calls [`Registry::reload`]
//! for each changed name; connections look routes up without locking.

mod apply;
pub mod check;
mod fate;
pub mod loader;
mod middleware;
mod plugin;
pub mod watcher;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use arc_swap::ArcSwap;

use crate::config::{ConfigError, InstanceMode, LayerConfig, Limits, Manifest, PluginDefaults};
use crate::events::{self, Kind};
use crate::layer::{Memory, Redis};
use crate::routing::{RouteMatch, RouteTable};
use crate::runtime::connections::{new_host_id, Connections};

pub use crate::layer::RedisError;
use crate::runtime::WasmEngine;
pub use fate::Fate;
use loader::{LoadError, LoadSpec, LoadedAny};
pub use middleware::{Middleware, Middlewares};
pub use plugin::{ConnSlot, OnVersion, Plugin};

/// Why a plugin was not (re)loaded; the previous version, if any, still serves.
#[derive(Debug, thiserror::Error)]
pub enum RefuseError {
    /// The `.wasm` was refused.
    #[error("{path}: refused: {source}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        source: LoadError,
    },
    /// The manifest was refused.
    #[error("{0}; the plugin was not loaded")]
    Manifest(#[from] ConfigError),
    /// A route is already served by another plugin.
    #[error(
        "{path}: refused: route {route} is already served by plugin `{owner}` (route {existing})"
    )]
    RouteTaken {
        /// The plugin's file.
        path: PathBuf,
        /// The route asked for.
        route: String,
        /// The plugin that has it.
        owner: String,
        /// Its pattern.
        existing: String,
    },
}

/// `shared` or `per-connection`, as the manifest and `/status` write it.
pub fn instance_mode(manifest: &Manifest) -> &'static str {
    match manifest.instance {
        InstanceMode::Shared => "shared",
        InstanceMode::PerConnection => "per-connection",
    }
}

/// True for names a plugin file may have: letters, digits, '-' and '_'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every plugin in the folder and the routes they serve.
pub struct Registry {
    /// The plugins folder.
    dir: PathBuf,
    /// The shared engine and its linker.
    engine: WasmEngine,
    /// Every open connection of the server, by id.
    connections: Arc<Connections>,
    /// Settings a manifest may override.
    defaults: PluginDefaults,
    /// Connection limits (the message size applies to plugin sends too).
    limits: Limits,
    /// Current version of each plugin, by name. Only the reload path writes.
    plugins: Mutex<BTreeMap<String, Arc<Plugin>>>,
    /// The middleware in force, by name (components that export
    /// `middleware-handler`); admission reads it at each handshake.
    middleware: Arc<Middlewares>,
    /// The route table in force, replaced whole on every change.
    routes: ArcSwap<RouteTable<Plugin>>,
    /// Version counter per name survives removal, so versions never repeat.
    versions: Mutex<BTreeMap<String, u64>>,
    /// Versions replaced or removed, until their last connection has gone.
    retired: Mutex<Vec<std::sync::Weak<Plugin>>>,
    /// Last refusal per plugin name, cleared by a successful load.
    errors: Mutex<BTreeMap<String, String>>,
    /// The folder's first scan is over: every plugin in it was loaded or
    /// refused (what `/readyz` waits for).
    scanned: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// An empty registry for `dir`.
    ///
    /// With a Redis layer the URL is checked here; the connection to Redis
    /// is made in the background (local groups work while it is down).
    pub fn new(
        dir: PathBuf,
        engine: WasmEngine,
        defaults: PluginDefaults,
        limits: Limits,
        layer: &LayerConfig,
    ) -> Result<Registry, RedisError> {
        let host_id = new_host_id();
        let connections = match layer {
            LayerConfig::Memory => {
                Connections::with_layer(limits.group_queue_full, host_id, |_| Arc::new(Memory))
            }
            LayerConfig::Redis(url) => {
                let client = Redis::client(url)?;
                Connections::with_layer(limits.group_queue_full, host_id.clone(), |inbound| {
                    Redis::start(client, url, host_id, inbound)
                })
            }
        };
        Ok(Registry {
            dir,
            engine,
            connections,
            defaults,
            limits,
            plugins: Mutex::new(BTreeMap::new()),
            middleware: Arc::default(),
            routes: ArcSwap::from_pointee(RouteTable::default()),
            versions: Mutex::new(BTreeMap::new()),
            retired: Mutex::new(Vec::new()),
            errors: Mutex::new(BTreeMap::new()),
            scanned: AtomicBool::new(false),
        })
    }

    /// Every open connection of the server.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// Connection limits (the message size applies to plugin sends too).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The plugins folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The middleware in force, by name.
    pub fn middleware(&self) -> &Arc<Middlewares> {
        &self.middleware
    }

    /// Find the plugin serving `path`.
    pub fn route(&self, path: &str) -> Option<RouteMatch<Plugin>> {
        self.routes.load().lookup(path)
    }

    /// The current version of a plugin.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        lock(&self.plugins).get(name).cloned()
    }

    /// Every version of plugin `name` that still serves connections: the
    /// one in force first, then those replaced or removed, newest first.
    pub fn versions(&self, name: &str) -> Vec<Arc<Plugin>> {
        let mut out: Vec<Arc<Plugin>> = self.get(name).into_iter().collect();
        let mut retired = lock(&self.retired);
        retired.retain(|w| w.strong_count() > 0);
        let mut old: Vec<Arc<Plugin>> = retired
            .iter()
            .filter_map(|w| w.upgrade())
            .filter(|p| &*p.name == name)
            .collect();
        old.sort_by_key(|p| std::cmp::Reverse(p.version));
        out.extend(old);
        out
    }

    /// Names of loaded plugins.
    pub fn names(&self) -> Vec<String> {
        lock(&self.plugins).keys().cloned().collect()
    }

    /// The engines plugins run on (the admin listener reads the pool's size).
    pub fn engine(&self) -> &WasmEngine {
        &self.engine
    }

    /// The last refusal of each plugin that has one.
    pub fn errors(&self) -> BTreeMap<String, String> {
        lock(&self.errors).clone()
    }

    /// Names of every plugin file in the folder, sorted.
    pub fn scan(&self) -> anyhow::Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("reading the plugins folder {}", self.dir.display()))?;
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                if let Some(name) = path.file_stem().and_then(|s| s.to_str()) {
                    if valid_name(name) {
                        names.push(name.to_string());
                    } else {
                        tracing::warn!(
                            "{}: ignored: plugin names are letters, digits, '-' and '_'",
                            path.display()
                        );
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Load every plugin at start, in name order. A manifest error stops the
    /// server (it never starts half-configured); a refused `.wasm` or a route
    /// already taken by an earlier plugin is logged and skipped, as it would
    /// be when dropped in later.
    pub async fn load_all(&self) -> anyhow::Result<()> {
        for name in self.scan()? {
            match self.reload(&name).await {
                Ok(()) => {}
                Err(e @ (RefuseError::Manifest(_) | RefuseError::RouteTaken { .. })) => {
                    return Err(e.into())
                }
                Err(RefuseError::Load { .. }) => {} // logged by reload
            }
        }
        self.scanned.store(true, Ordering::Release);
        Ok(())
    }

    /// True once [`Registry::load_all`] has been through the folder.
    pub fn scanned(&self) -> bool {
        self.scanned.load(Ordering::Acquire)
    }

    fn manifest_for(&self, name: &str) -> Result<Manifest, RefuseError> {
        let path = self.dir.join(format!("{name}.toml"));
        if path.exists() {
            Ok(Manifest::load(&path, name, &self.defaults)?)
        } else {
            Manifest::defaults(name, &self.defaults).map_err(|e| {
                RefuseError::Manifest(ConfigError::Invalid {
                    path: self.dir.join(format!("{name}.wasm")),
                    key: "routes".into(),
                    message: format!("the file name does not make a route: {e}"),
                })
            })
        }
    }

    /// Bring plugin `name` in line with the folder: load or replace it when
    /// `NAME.wasm` exists, remove it when it does not. On refusal the old
    /// version keeps serving and the reason is logged and kept.
    pub async fn reload(&self, name: &str) -> Result<(), RefuseError> {
        let result = self.reload_inner(name).await;
        match &result {
            Ok(()) => {
                lock(&self.errors).remove(name);
            }
            Err(e) => {
                let keeps = if self.get(name).is_some() || self.middleware.get(name).is_some() {
                    "; the previous version keeps serving"
                } else {
                    ""
                };
                let message = crate::text::one_line(&e.to_string());
                tracing::error!(plugin = name, "{message}{keeps}");
                crate::metrics::global().refused(name);
                events::global().record(Kind::Refused, name, None, &format!("{message}{keeps}"));
                lock(&self.errors).insert(name.to_string(), message);
            }
        }
        result
    }

    async fn reload_inner(&self, name: &str) -> Result<(), RefuseError> {
        let wasm_path = self.dir.join(format!("{name}.wasm"));
        let load_err = |source| RefuseError::Load {
            path: wasm_path.clone(),
            source,
        };
        let bytes = match tokio::fs::read(&wasm_path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.remove(name);
                return Ok(());
            }
            Err(e) => return Err(load_err(LoadError::Read(e))),
        };
        let manifest = self.manifest_for(name)?;
        let current = self.get(name);
        let current_mw = self.middleware.get(name);
        let hash = loader::content_hash(&bytes);
        let unchanged = current
            .as_ref()
            .is_some_and(|c| c.hash == hash && c.manifest == manifest)
            || current_mw
                .as_ref()
                .is_some_and(|m| m.hash == hash && m.manifest == manifest);
        if unchanged {
            tracing::debug!(plugin = name, "unchanged; nothing to reload");
            return Ok(());
        }

        // Reuse the compiled component of the version in force when only the
        // manifest changed. The load instantiates once before it replaces
        // anything; that instance becomes the first shard.
        let reuse = current
            .as_ref()
            .filter(|c| c.hash == hash)
            .map(|c| c.spec.pre.instance_pre().component().clone())
            .or_else(|| {
                current_mw
                    .as_ref()
                    .filter(|m| m.hash == hash)
                    .map(|m| m.spec.pre.instance_pre().component().clone())
            });
        // The number it will have if it loads: its instances tag their log
        // lines with it from the first. Reloads of one name come one at a
        // time (the watcher's task), and a refusal uses no number.
        let version = lock(&self.versions).get(name).copied().unwrap_or(0) + 1;
        let loaded = loader::load_any(
            &self.engine,
            bytes,
            LoadSpec {
                name,
                version,
                manifest: &manifest,
                max_message_size: self.limits.max_message_size,
                reuse,
                log: None,
                connections: self.connections.clone(),
            },
        )
        .await
        .map_err(load_err)?;
        match loaded {
            LoadedAny::Consumer(loaded) => {
                // Only a consumer serves routes; a middleware's default
                // route means nothing.
                self.check_routes(name, &wasm_path, &manifest)?;
                self.note_version(name, version);
                self.put_consumer(name, loaded, manifest, version, current);
            }
            LoadedAny::Middleware(loaded) => {
                self.note_version(name, version);
                self.put_middleware(name, loaded, manifest, version);
            }
        }
        Ok(())
    }

    /// Drop every version at shutdown: no route is served any more, and
    /// each shard stops once its open connections have finished (their
    /// `on-disconnect` included).
    pub fn unload_all(&self) {
        let unloaded = std::mem::take(&mut *lock(&self.plugins));
        self.routes.store(Arc::new(RouteTable::default()));
        drop(unloaded);
        self.middleware.clear();
    }
}
