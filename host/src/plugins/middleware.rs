//! Middleware plugins in the registry: a component in the plugins folder
//! that exports `middleware-handler` serves no route; consumers name it in
//! their manifest's `middleware` chain, resolved by name at each handshake.
//! Loaded, replaced, refused and removed through the registry's one load
//! path; each version runs in its own task (`runtime::middleware`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::apply::Arrival;
use super::loader::LoadedMiddleware;
use super::Registry;
use crate::config::Manifest;
use crate::events::{self, Kind};
use crate::runtime::bindings::{IdentityRecord, Scope};
use crate::runtime::middleware::{self, MiddlewareHandle, MiddlewareSpec, Verdict};

/// One loaded version of a middleware.
pub struct Middleware {
    /// Name: the file stem, as chains name it.
    pub name: Arc<str>,
    /// Counts loads of this name, from 1.
    pub version: u64,
    /// SHA-256 of the `.wasm`, hex.
    pub hash: String,
    /// Size of the `.wasm` in bytes.
    pub size: usize,
    /// How long compiling took (near zero from the cache).
    pub compile_time: Duration,
    /// Effective settings (its routes are not used).
    pub manifest: Manifest,
    /// Builds its instances; kept to reuse the compiled component when
    /// only the manifest changes.
    pub(crate) spec: Arc<MiddlewareSpec>,
    /// Its task's queue; the task stops when the version is dropped.
    handle: MiddlewareHandle,
}

impl Middleware {
    /// Start a loaded version's task, with the instance that proved it.
    pub fn start(loaded: LoadedMiddleware, manifest: Manifest, version: u64) -> Middleware {
        let handle = middleware::spawn(loaded.spec.clone(), Some(loaded.first));
        Middleware {
            name: loaded.spec.base.name.clone(),
            version,
            hash: loaded.hash,
            size: loaded.size,
            compile_time: loaded.compile_time,
            manifest,
            spec: loaded.spec,
            handle,
        }
    }

    /// Ask it about one handshake.
    pub async fn call(&self, scope: Scope, identity: IdentityRecord) -> Verdict {
        self.handle.call(scope, identity).await
    }

    /// Handshakes it was asked about.
    pub fn calls(&self) -> u64 {
        self.handle.stats.calls.load(Ordering::Relaxed)
    }

    /// Its failed calls.
    pub fn failures(&self) -> u64 {
        self.handle.stats.failures.load(Ordering::Relaxed)
    }
}

/// The middleware in force, by name: read at every handshake without a
/// lock, replaced whole by the reload path.
#[derive(Default)]
pub struct Middlewares {
    /// By name.
    table: ArcSwap<BTreeMap<String, Arc<Middleware>>>,
}

impl std::fmt::Debug for Middlewares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.table.load().keys()).finish()
    }
}

impl Middlewares {
    /// The version of `name` in force, if one is loaded.
    pub fn get(&self, name: &str) -> Option<Arc<Middleware>> {
        self.table.load().get(name).cloned()
    }

    /// Every middleware in force, by name.
    pub fn all(&self) -> Vec<Arc<Middleware>> {
        self.table.load().values().cloned().collect()
    }

    /// Drop every version (shutdown): their tasks stop once idle.
    pub(super) fn clear(&self) {
        self.table.store(Arc::default());
    }

    fn insert(&self, m: Arc<Middleware>) {
        self.table.rcu(|t| {
            let mut t = BTreeMap::clone(t);
            t.insert(m.name.to_string(), m.clone());
            t
        });
    }

    fn take(&self, name: &str) -> Option<Arc<Middleware>> {
        let old = self.get(name)?;
        self.table.rcu(|t| {
            let mut t = BTreeMap::clone(t);
            t.remove(name);
            t
        });
        Some(old)
    }
}

impl Registry {
    /// Put a loaded middleware version in force (replacing an earlier
    /// one, or a consumer of the same name, whose routes go).
    pub(super) fn put_middleware(
        &self,
        name: &str,
        loaded: LoadedMiddleware,
        manifest: Manifest,
        version: u64,
    ) {
        if self.get(name).is_some() {
            self.remove_consumer(name);
        }
        let m = Arc::new(Middleware::start(loaded, manifest, version));
        Arrival {
            name,
            version,
            hash: &m.hash,
            size: m.size,
            compile_time: m.compile_time,
        }
        .announce(
            self.middleware.get(name).is_some(),
            "middleware",
            "",
            &format!("middleware (sha256 {}, {} bytes)", &m.hash[..12], m.size),
        );
        self.middleware.insert(m);
    }

    /// Take middleware `name` out of service, if it is one: chains naming
    /// it answer 503 from the next handshake.
    pub(super) fn remove_middleware(&self, name: &str) {
        if let Some(m) = self.middleware.take(name) {
            tracing::info!(
                plugin = name,
                "removed middleware `{name}`; chains naming it answer 503"
            );
            events::global().record(
                Kind::Removed,
                name,
                Some(m.version),
                "the file is gone (or is no longer a middleware); chains naming it answer 503",
            );
        }
    }
}
