//! The plugin registry: every plugin in the folder, its current version, and
//! the route table built from them. The watcher calls [`Registry::reload`]
//! for each changed name; connections look routes up without locking.

pub mod check;
pub mod loader;
pub mod watcher;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use wasmtime::component::Linker;

use crate::config::{ConfigError, InstanceMode, Limits, Manifest, PluginDefaults};
use crate::routing::{RouteMatch, RoutePattern, RouteTable};
use crate::runtime::health::Health;
use crate::runtime::shard::{self, ShardHandle, ShardSpec};
use crate::runtime::state::HostState;
use crate::runtime::WasmEngine;
use loader::LoadError;

/// One loaded version of a plugin.
pub struct Plugin {
    /// Name: the file stem.
    pub name: Arc<str>,
    /// Counts loads of this name, from 1.
    pub version: u64,
    /// SHA-256 of the `.wasm`, hex.
    pub hash: String,
    /// Effective settings.
    pub manifest: Manifest,
    /// Size of the `.wasm` in bytes.
    pub size: usize,
    /// How long compiling took (near zero from the cache).
    pub compile_time: Duration,
    /// Builds instances.
    spec: Arc<ShardSpec>,
    /// Shared mode: the fixed shards, picked by connection id.
    shards: Vec<ShardHandle>,
    /// Connections held by every version of this plugin, for its limit.
    active: Arc<AtomicUsize>,
}

/// A place under a plugin's connection limit, given back on drop.
#[derive(Debug)]
pub struct ConnSlot(Arc<AtomicUsize>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Plugin {
    /// Take a place under the plugin's connection limit, if one is free.
    pub fn admit(&self) -> Option<ConnSlot> {
        let max = self
            .manifest
            .max_connections
            .map_or(usize::MAX, |m| m as usize);
        if self.active.fetch_add(1, Ordering::AcqRel) >= max {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ConnSlot(self.active.clone()))
    }

    /// Connections held by all versions of this plugin.
    pub fn connections(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Failures, quarantine and counters of this version.
    pub fn health(&self) -> &Arc<Health> {
        &self.spec.health
    }

    /// The shard that serves connection `conn`: one of the fixed shards in
    /// shared mode, a new one in per-connection mode.
    pub fn shard_for(&self, conn: u64) -> ShardHandle {
        match self.manifest.instance {
            InstanceMode::Shared if !self.shards.is_empty() => {
                self.shards[(conn % self.shards.len() as u64) as usize].clone()
            }
            _ => shard::spawn(self.spec.clone(), None),
        }
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

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
    /// The shared engine.
    engine: WasmEngine,
    /// WASI and the wasmsock imports, shared by every plugin.
    linker: Linker<HostState>,
    /// Settings a manifest may override.
    defaults: PluginDefaults,
    /// Connection limits (the message size applies to plugin sends too).
    limits: Limits,
    /// Current version of each plugin, by name. Only the reload path writes.
    plugins: Mutex<BTreeMap<String, Arc<Plugin>>>,
    /// The route table in force, replaced whole on every change.
    routes: ArcSwap<RouteTable<Plugin>>,
    /// Version counter per name survives removal, so versions never repeat.
    versions: Mutex<BTreeMap<String, u64>>,
    /// Last refusal per plugin name, cleared by a successful load.
    errors: Mutex<BTreeMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// An empty registry for `dir`.
    pub fn new(
        dir: PathBuf,
        engine: WasmEngine,
        defaults: PluginDefaults,
        limits: Limits,
    ) -> anyhow::Result<Registry> {
        let linker =
            crate::runtime::linker(engine.engine()).context("setting up plugin imports")?;
        Ok(Registry {
            dir,
            engine,
            linker,
            defaults,
            limits,
            plugins: Mutex::new(BTreeMap::new()),
            routes: ArcSwap::from_pointee(RouteTable::default()),
            versions: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
        })
    }

    /// The plugins folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Find the plugin serving `path`.
    pub fn route(&self, path: &str) -> Option<RouteMatch<Plugin>> {
        self.routes.load().lookup(path)
    }

    /// The current version of a plugin.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        lock(&self.plugins).get(name).cloned()
    }

    /// Names of loaded plugins.
    pub fn names(&self) -> Vec<String> {
        lock(&self.plugins).keys().cloned().collect()
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
        Ok(())
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
                let keeps = if self.get(name).is_some() {
                    "; the previous version keeps serving"
                } else {
                    ""
                };
                let message = crate::text::one_line(&e.to_string());
                tracing::error!(plugin = name, "{message}{keeps}");
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
        let hash = loader::content_hash(&bytes);
        if let Some(cur) = &current {
            if cur.hash == hash && cur.manifest == manifest {
                tracing::debug!(plugin = name, "unchanged; nothing to reload");
                return Ok(());
            }
        }
        self.check_routes(name, &wasm_path, &manifest)?;

        // Reuse the compiled component of the version in force when only the
        // manifest changed.
        let known = current
            .as_ref()
            .filter(|c| c.hash == hash)
            .map(|c| c.spec.pre.instance_pre().component().clone());
        let engine = self.engine.clone();
        let linker = self.linker.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            loader::compile(&engine, &linker, &bytes, known.as_ref())
        })
        .await
        .map_err(|e| load_err(LoadError::Internal(e.to_string())))?
        .map_err(load_err)?;

        let plugin_name: Arc<str> = Arc::from(name);
        // Prove it instantiates before it replaces anything; the instance
        // becomes the first shard.
        let (spec, first) = ShardSpec::with_first_instance(
            self.engine.clone(),
            compiled.pre,
            plugin_name.clone(),
            &manifest,
            self.limits.max_message_size as usize,
        )
        .await
        .map_err(|e| load_err(LoadError::Instantiate(e)))?;
        let shards = match manifest.instance {
            InstanceMode::Shared => {
                let mut shards = vec![shard::spawn(spec.clone(), Some(first))];
                shards.extend((1..manifest.shards).map(|_| shard::spawn(spec.clone(), None)));
                shards
            }
            InstanceMode::PerConnection => Vec::new(),
        };
        let version = {
            let mut versions = lock(&self.versions);
            let v = versions.entry(name.to_string()).or_insert(0);
            *v += 1;
            *v
        };
        let plugin = Arc::new(Plugin {
            name: plugin_name,
            version,
            hash: compiled.hash,
            manifest,
            size: compiled.size,
            compile_time: compiled.compile_time,
            spec,
            shards,
            active: current
                .as_ref()
                .map(|c| c.active.clone())
                .unwrap_or_default(),
        });
        let routes: Vec<String> = plugin
            .manifest
            .routes
            .iter()
            .map(|r| r.to_string())
            .collect();
        tracing::info!(
            plugin = name,
            version,
            sha256 = &plugin.hash[..12],
            size = plugin.size,
            compile_ms = plugin.compile_time.as_millis() as u64,
            "{} plugin `{name}` (version {version}) serving {}",
            if current.is_some() {
                "replaced"
            } else {
                "loaded"
            },
            routes.join(", ")
        );
        lock(&self.plugins).insert(name.to_string(), plugin);
        self.rebuild_routes();
        Ok(())
    }

    fn check_routes(
        &self,
        name: &str,
        path: &Path,
        manifest: &Manifest,
    ) -> Result<(), RefuseError> {
        let plugins = lock(&self.plugins);
        for route in &manifest.routes {
            for (owner, plugin) in plugins.iter().filter(|(n, _)| n.as_str() != name) {
                if let Some(existing) = plugin.manifest.routes.iter().find(|r| r.same_route(route))
                {
                    return Err(RefuseError::RouteTaken {
                        path: path.to_path_buf(),
                        route: route.to_string(),
                        owner: owner.clone(),
                        existing: existing.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn remove(&self, name: &str) {
        let removed = lock(&self.plugins).remove(name);
        if let Some(p) = removed {
            let routes: Vec<&str> = p.manifest.routes.iter().map(RoutePattern::as_str).collect();
            tracing::info!(
                plugin = name,
                "removed plugin `{name}`; {} no longer served",
                routes.join(", ")
            );
            self.rebuild_routes();
        }
        lock(&self.errors).remove(name);
    }

    fn rebuild_routes(&self) {
        let plugins = lock(&self.plugins);
        let entries = plugins.values().flat_map(|p| {
            p.manifest
                .routes
                .iter()
                .map(move |r| (r.clone(), p.clone()))
        });
        let (table, conflicts) = RouteTable::build(entries);
        for (route, plugin, existing) in conflicts {
            // check_routes prevents this; kept as a guard with a clear trace.
            tracing::error!(
                plugin = &*plugin.name,
                "route {route} conflicts with {existing}; ignored"
            );
        }
        self.routes.store(Arc::new(table));
    }
}
