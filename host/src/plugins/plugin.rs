//! One loaded version of a plugin: its settings, its shards, and its place
//! in the plugin's connection limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use super::fate::Fate;
use super::loader::Loaded;
use crate::config::{InstanceMode, Manifest, OnReload};
use crate::runtime::health::Health;
use crate::runtime::shard::{self, ShardHandle, ShardSpec};

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
    pub(crate) spec: Arc<ShardSpec>,
    /// Shared mode: the fixed shards, picked by connection id.
    shards: Vec<ShardHandle>,
    /// Connections held by every version of this plugin, for its limit.
    pub(crate) active: Arc<AtomicUsize>,
    /// Connections on this version now (admitted here or moved here).
    live: AtomicUsize,
    /// What its connections do once it is no longer in force; each
    /// connection task watches it.
    pub(super) fate: watch::Sender<Fate>,
    /// Hand-overs into this version at once: a reload moves connections in
    /// batches of this many, so the new shards keep serving the ones that
    /// already moved meanwhile.
    moving: Semaphore,
}

/// Hand-overs into one version at a time.
const MOVES_AT_ONCE: usize = 32;

/// A connection's hold on the version that serves it: counted in
/// [`Plugin::live`] while it lasts, and keeping the version alive.
#[derive(Debug)]
pub struct OnVersion(Arc<Plugin>);

impl OnVersion {
    /// Count a connection on `plugin`.
    pub fn new(plugin: Arc<Plugin>) -> OnVersion {
        plugin.live.fetch_add(1, Ordering::Relaxed);
        OnVersion(plugin)
    }
}

impl std::ops::Deref for OnVersion {
    type Target = Arc<Plugin>;
    fn deref(&self) -> &Arc<Plugin> {
        &self.0
    }
}

impl Drop for OnVersion {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
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
    /// Start a version loaded with `manifest`: its shards (shared mode; the
    /// first is the instance that proved the load) or none until
    /// connections come (per-connection mode). `active` is the connection
    /// count shared with the version it replaces, so the plugin's limit
    /// spans versions.
    pub fn start(
        loaded: Loaded,
        manifest: Manifest,
        version: u64,
        active: Arc<AtomicUsize>,
    ) -> Plugin {
        let shards = match manifest.instance {
            InstanceMode::Shared => {
                let mut shards = vec![shard::spawn(loaded.spec.clone(), Some(loaded.first))];
                shards
                    .extend((1..manifest.shards).map(|_| shard::spawn(loaded.spec.clone(), None)));
                shards
            }
            InstanceMode::PerConnection => Vec::new(),
        };
        Plugin {
            name: loaded.spec.base.name.clone(),
            version,
            hash: loaded.hash,
            manifest,
            size: loaded.size,
            compile_time: loaded.compile_time,
            spec: loaded.spec,
            shards,
            active,
            live: AtomicUsize::new(0),
            fate: watch::Sender::new(Fate::Serving),
            moving: Semaphore::new(MOVES_AT_ONCE),
        }
    }

    /// Connections on this version now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Follow this version's fate; the first `changed()` fires at once, so
    /// a fate decided before the watch began is not missed.
    pub fn watch(&self) -> watch::Receiver<Fate> {
        let mut rx = self.fate.subscribe();
        rx.mark_changed();
        rx
    }

    /// True if the plugin exports `adopt-handler`.
    pub fn adopts(&self) -> bool {
        self.spec.pre.adopts()
    }

    /// What a reload to this version does to the connections of the one
    /// it replaces.
    pub fn reload_mode(&self) -> OnReload {
        self.manifest.reload.mode(self.adopts())
    }

    /// Send the plugin timers of each of this version's shards to the
    /// matching shard of `next` (shared mode; a per-connection instance's
    /// own timers end with it).
    pub(super) fn hand_timers_to(&self, next: &Plugin) {
        if next.shards.is_empty() {
            return;
        }
        for (i, shard) in self.shards.iter().enumerate() {
            let to = next.shards[i % next.shards.len()].clone();
            let _ = shard.offer(crate::runtime::shard::Request::HandTimers { to });
        }
    }

    /// Wait for a turn to move a connection into this version.
    pub async fn move_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.moving.acquire().await.ok()
    }

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
        &self.spec.base.health
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
