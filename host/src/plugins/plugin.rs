//! One loaded version of a plugin: its settings, its shards, and its place
//! in the plugin's connection limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::loader::Loaded;
use crate::config::{InstanceMode, Manifest};
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
            name: loaded.spec.plugin.clone(),
            version,
            hash: loaded.hash,
            manifest,
            size: loaded.size,
            compile_time: loaded.compile_time,
            spec: loaded.spec,
            shards,
            active,
        }
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
