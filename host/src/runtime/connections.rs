//! The connection registry: every connection of the process by id, with
//! where its output goes, which plugin version serves it and which shard.
//!
//! A plugin instance only reaches the connections it serves (its
//! `HostState::conns`); the registry is the index for everything that must
//! reach a connection from elsewhere: a group send to members on other
//! shards, a live upgrade handing a connection to a new shard, the admin
//! figures.
//!
//! Who may hold what:
//! - The registry owns one [`Entry`] per connection from admission (before
//!   `on-connect`, so the plugin may send at once) until the connection
//!   ends. Entries hold `Arc`s, never the socket.
//! - The connection's [`Registration`] is held by whoever plays the
//!   connection (the server's connection task, or the test harness's
//!   `TestConnection`); dropping it removes the entry, on every path out.
//! - A shard's instance holds the outboxes of the connections it serves, in
//!   its own map, for its `send` and `close`: the hot path takes no lock of
//!   the registry.
//! - Others (upgrades, metrics) look entries up and clone what they need;
//!   they never keep an `Entry` past the call that uses it, so a closed
//!   connection's outbox is freed when its task ends.
//! - The group table beside the entries holds a member's outbox while it is
//!   in a group; the registration's drop takes it out of every group, so a
//!   closed connection is never a member.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::health::Health;
use super::outbox::Outbox;
use super::shard::ShardHandle;
use super::state::ConnMap;
use crate::config::GroupQueueFull;
use crate::layer::{Groups, Inbound, Layer, Memory};

/// The group membership of connections: members are reached through their
/// registry entries (outbox for messages, shard for events).
pub type GroupTable = Groups<Entry>;

/// Stripes of the map: connection tasks register and leave concurrently,
/// and ids are sequential, so consecutive ids land on different locks.
const STRIPES: usize = 64;

/// What the registry knows of one connection.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its outbound queue.
    pub outbox: Arc<Outbox>,
    /// The plugin serving it.
    pub plugin: Arc<str>,
    /// The version of that plugin it was admitted by.
    pub version: u64,
    /// The shard whose instance serves it.
    pub shard: ShardHandle,
    /// Its plugin version's counters, where group traffic it misses is
    /// counted.
    pub health: Arc<Health>,
}

/// Every connection of the process (or of one test harness) by id.
#[derive(Debug)]
pub struct Connections {
    /// Entries, striped by id.
    stripes: Box<[Mutex<ConnMap<Entry>>]>,
    /// The next id to hand out; ids are never reused.
    next_id: AtomicU64,
    /// Entries held now.
    count: AtomicUsize,
    /// The groups the connections are in; a connection leaves them all
    /// when its entry goes.
    groups: GroupTable,
    /// Names this registry among the hosts of a cluster, in addresses.
    host_id: String,
    /// What other hosts learn of these connections' groups, and how they
    /// reach them.
    layer: Arc<dyn Layer>,
    /// What group traffic does to a member whose outbound queue is full.
    pub(crate) queue_full: GroupQueueFull,
    /// Counts of group traffic, for `/status`.
    pub(crate) traffic: super::delivery::Traffic,
}

/// A host id unlikely to repeat: eight hex digits from the process id, the
/// time and the standard library's random hash keys.
pub fn new_host_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    format!("{:08x}", h.finish() as u32)
}

impl Connections {
    /// An empty registry of one host alone (the memory layer), whose ids
    /// count from 1.
    pub fn new() -> Arc<Connections> {
        Connections::with_layer(GroupQueueFull::default(), new_host_id(), |_| {
            Arc::new(Memory)
        })
    }

    /// An empty registry named `host_id` among the hosts of a cluster,
    /// with the layer `layer` builds; it is handed where to deliver what
    /// other hosts send.
    pub fn with_layer(
        queue_full: GroupQueueFull,
        host_id: String,
        layer: impl FnOnce(Weak<dyn Inbound>) -> Arc<dyn Layer>,
    ) -> Arc<Connections> {
        Arc::new_cyclic(|me: &Weak<Connections>| {
            let inbound: Weak<dyn Inbound> = me.clone();
            Connections {
                stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
                next_id: AtomicU64::new(1),
                count: AtomicUsize::new(0),
                groups: Groups::default(),
                host_id,
                layer: layer(inbound),
                queue_full,
                traffic: Default::default(),
            }
        })
    }

    /// This host's name in addresses.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// The layer that reaches other hosts.
    pub fn layer(&self) -> &dyn Layer {
        &*self.layer
    }

    /// A fresh connection id, unique within this registry.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn stripe(&self, id: u64) -> MutexGuard<'_, ConnMap<Entry>> {
        // Every update is one insert or remove: a panic elsewhere cannot
        // leave a stripe half-changed, so poisoning is ignored.
        self.stripes[(id % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Enter connection `id`; the entry lives as long as the returned
    /// registration.
    pub fn register(self: &Arc<Self>, id: u64, entry: Entry) -> Registration {
        if self.stripe(id).insert(id, entry).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Registration {
            connections: self.clone(),
            id,
        }
    }

    /// The entry of connection `id`, if it is open.
    pub fn get(&self, id: u64) -> Option<Entry> {
        self.stripe(id).get(&id).cloned()
    }

    /// Connection `id` is now served by another instance (`shard`, of
    /// `version`, whose counters are `health`): group traffic and events
    /// go there from now on.
    pub fn relink(&self, id: u64, shard: ShardHandle, version: u64, health: Arc<Health>) {
        let entry = {
            let mut stripe = self.stripe(id);
            let Some(entry) = stripe.get_mut(&id) else {
                return;
            };
            entry.shard = shard;
            entry.version = version;
            entry.health = health;
            entry.clone()
        };
        self.groups.update(id, &entry);
    }

    /// The groups of these connections.
    pub fn groups(&self) -> &GroupTable {
        &self.groups
    }

    /// The address of connection `id`: valid on every host of a cluster.
    pub fn address(&self, id: u64) -> String {
        crate::layer::address(&self.host_id, id)
    }

    /// Connections registered now.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, id: u64) {
        if self.stripe(id).remove(&id).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        for (plugin, group) in self.groups.leave_all(id) {
            self.layer.left(&plugin, &group, id);
        }
    }
}

/// A connection's place in the registry, removed when dropped.
#[derive(Debug)]
pub struct Registration {
    /// The registry holding the entry.
    connections: Arc<Connections>,
    /// The connection.
    id: u64,
}

impl Registration {
    /// The connection's id.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}
