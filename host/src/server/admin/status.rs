//! What `/status`, `/readyz` and `/metrics` read: the server's state now,
//! gathered from the registry, the listener's counts and the layer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

use crate::metrics::Snapshot;
use crate::plugins::{instance_mode, Registry};
use crate::runtime::shard::live_shards;
use crate::server::Stats;

/// The whole `/status` answer.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The public WebSocket listener's address (`null` until it is bound):
    /// where the console's client panels connect.
    pub listen: Option<String>,
    /// The TLS (`wss://`) listener's address, if one runs (`null`
    /// otherwise).
    pub tls_listen: Option<String>,
    /// Open TCP connections (handshakes included) and open WebSockets.
    pub connections: Connections,
    /// Shard tasks running, all plugins and versions together.
    pub shards: usize,
    /// Resident memory of the process, in bytes (0 where unknown).
    pub rss_bytes: u64,
    /// The current version of each loaded plugin.
    pub plugins: BTreeMap<String, PluginStatus>,
    /// The middleware in force (components that export
    /// `middleware-handler`), apart from the plugins that serve routes.
    pub middleware: BTreeMap<String, MiddlewareStatus>,
    /// Why each plugin file that is not served was refused.
    pub refused: BTreeMap<String, String>,
    /// Group traffic and the channel layer.
    pub layer: LayerFigures,
    /// The per-connection instance pool.
    pub pool: PoolStatus,
}

/// The per-connection instance pool's size and what it refused.
#[derive(Debug, Serialize)]
pub struct PoolStatus {
    /// Instances it holds at once (0: no pool, `[pool] enabled = false`).
    pub instances: u32,
    /// Largest memory of one instance, in MiB.
    pub memory_mb: usize,
    /// Per-connection clients answered 503 for lack of room since start.
    pub refused: u64,
}

/// Group traffic on this host and what the layer reports.
#[derive(Debug, Serialize)]
pub struct LayerFigures {
    /// This host's id, the first part of its connections' addresses.
    pub host: String,
    /// The layer's own figures (`kind`, `connected`, `hosts`, ...).
    #[serde(flatten)]
    pub layer: crate::layer::LayerStatus,
    /// Group messages lost for members whose outbound queue was full.
    pub message_drops: u64,
    /// Events lost for members whose plugin shard was too far behind.
    pub event_drops: u64,
    /// Events for plugins that export no `event-handler`.
    pub events_unhandled: u64,
    /// Losses per plugin and group (groups that lost nothing are not
    /// listed).
    pub losses: Vec<GroupLossStatus>,
}

/// What one group lost on this host.
#[derive(Debug, Serialize)]
pub struct GroupLossStatus {
    /// The plugin.
    pub plugin: String,
    /// The group (`*`: groups past the first 1,000 that lost anything).
    pub group: String,
    /// The counts.
    #[serde(flatten)]
    pub losses: crate::runtime::delivery::GroupLosses,
}

/// Connection counts.
#[derive(Debug, Serialize)]
pub struct Connections {
    /// TCP connections held, handshakes included.
    pub open: usize,
    /// Upgraded connections.
    pub websocket: usize,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections in the connection registry: admitted by a plugin and not
    /// yet ended.
    pub registered: usize,
    /// Groups with at least one member, all plugins together.
    pub groups: usize,
}

/// One plugin's state.
#[derive(Debug, Serialize)]
pub struct PluginStatus {
    /// Load counter of this name.
    pub version: u64,
    /// SHA-256 of the `.wasm`, hex.
    pub sha256: String,
    /// Route patterns served.
    pub routes: Vec<String>,
    /// `shared` or `per-connection`.
    pub instance: &'static str,
    /// How connections must authenticate: `jwt` (its `[auth]`) or `none`.
    /// Never the key.
    pub auth: &'static str,
    /// Connections held by all its versions.
    pub connections: usize,
    /// True if it exports `adopt-handler` (takes connections over).
    pub adopts: bool,
    /// What loading a new version does to its open connections: adopt,
    /// drain or close (this version's manifest, when a new one says
    /// nothing).
    pub on_reload: &'static str,
    /// Every version that still serves connections, the one in force
    /// first.
    pub versions: Vec<VersionStatus>,
    /// Shard tasks of this version running.
    pub live_shards: usize,
    /// Failures of this version (traps, deadlines, memory cap, rebuilds).
    pub failures: u64,
    /// Log lines of this version dropped over the rate limit.
    pub log_lines_dropped: u64,
    /// Groups of this plugin with at least one member on this host.
    pub groups: usize,
    /// Group messages lost for a member whose outbound queue was full
    /// (under the `close` policy that member is closed with 1008).
    pub group_drops: u64,
    /// Events lost for a member whose shard was too far behind.
    pub event_drops: u64,
    /// The quarantine in force, if any.
    pub quarantine: Option<QuarantineStatus>,
}

/// One middleware in force.
#[derive(Debug, Serialize)]
pub struct MiddlewareStatus {
    /// Load counter of this name.
    pub version: u64,
    /// SHA-256 of the `.wasm`, hex.
    pub sha256: String,
    /// Handshakes this version was asked about.
    pub calls: u64,
    /// Its failed calls (traps, deadlines, memory cap, instantiation).
    pub failures: u64,
}

/// One live version of a plugin.
#[derive(Debug, Serialize)]
pub struct VersionStatus {
    /// Its load counter.
    pub version: u64,
    /// Connections it serves now.
    pub connections: usize,
    /// serving, handing-over, draining or closing.
    pub standing: &'static str,
}

/// A quarantine in force.
#[derive(Debug, Serialize)]
pub struct QuarantineStatus {
    /// Time until the plugin serves again, in ms.
    pub remaining_ms: u64,
    /// Its full length, in ms.
    pub length_ms: u64,
    /// Failures that started it.
    pub failures: u32,
    /// The last of them.
    pub reason: String,
}

/// Resident set size of this process, from `/proc` (0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The server's state now.
pub fn status(registry: &Registry, stats: &Stats) -> Status {
    let now = Instant::now();
    let plugins = registry
        .names()
        .into_iter()
        .filter_map(|name| registry.get(&name).map(|p| (name, p)))
        .map(|(name, p)| {
            let health = p.health();
            let quarantine = health.quarantined().map(|q| QuarantineStatus {
                remaining_ms: q.until.saturating_duration_since(now).as_millis() as u64,
                length_ms: q.length.as_millis() as u64,
                failures: q.failures,
                reason: q.reason,
            });
            let status = PluginStatus {
                version: p.version,
                sha256: p.hash.clone(),
                routes: p.manifest.routes.iter().map(|r| r.to_string()).collect(),
                instance: instance_mode(&p.manifest),
                auth: if p.manifest.auth.is_some() {
                    "jwt"
                } else {
                    "none"
                },
                connections: p.connections(),
                adopts: p.adopts(),
                on_reload: p.reload_mode().as_str(),
                versions: registry
                    .versions(&name)
                    .iter()
                    .map(|v| VersionStatus {
                        version: v.version,
                        connections: v.live(),
                        standing: v.standing(),
                    })
                    .collect(),
                live_shards: health.live_shards.load(Ordering::Relaxed),
                failures: health.failures.load(Ordering::Relaxed),
                log_lines_dropped: health.log_lines_dropped.load(Ordering::Relaxed),
                groups: registry.connections().groups().groups_of(&name),
                group_drops: health.group_drops.load(Ordering::Relaxed),
                event_drops: health.event_drops.load(Ordering::Relaxed),
                quarantine,
            };
            (name, status)
        })
        .collect();
    Status {
        listen: stats.listen.get().map(ToString::to_string),
        tls_listen: stats.tls_listen.get().map(ToString::to_string),
        connections: Connections {
            open: stats.open.load(Ordering::Relaxed),
            websocket: stats.websockets.load(Ordering::Relaxed),
            accepted: stats.accepted.load(Ordering::Relaxed),
            registered: registry.connections().len(),
            groups: registry.connections().groups().group_count(),
        },
        shards: live_shards(),
        rss_bytes: rss_bytes(),
        pool: {
            let plan = registry.engine().pool();
            PoolStatus {
                instances: plan.map_or(0, |p| p.instances),
                memory_mb: plan.map_or(0, |p| p.memory >> 20),
                refused: crate::runtime::pool::refused(),
            }
        },
        plugins,
        middleware: registry
            .middleware()
            .all()
            .into_iter()
            .map(|m| {
                let status = MiddlewareStatus {
                    version: m.version,
                    sha256: m.hash.clone(),
                    calls: m.calls(),
                    failures: m.failures(),
                };
                (m.name.to_string(), status)
            })
            .collect(),
        refused: registry.errors(),
        layer: {
            let c = registry.connections();
            let t = &c.traffic;
            LayerFigures {
                host: c.host_id().to_owned(),
                layer: c.layer().status(),
                message_drops: t.message_drops.load(Ordering::Relaxed),
                event_drops: t.event_drops.load(Ordering::Relaxed),
                events_unhandled: t.events_unhandled.load(Ordering::Relaxed),
                losses: t
                    .losses()
                    .into_iter()
                    .map(|(plugin, group, losses)| GroupLossStatus {
                        plugin,
                        group,
                        losses,
                    })
                    .collect(),
            }
        },
    }
}

/// Why the server is not ready, if it is not.
pub fn unready(registry: &Registry) -> Option<String> {
    if !registry.scanned() {
        return Some("the plugins folder is still being loaded".into());
    }
    let layer = registry.connections().layer().status();
    if !layer.connected {
        return Some(format!("the {} channel layer is not connected", layer.kind));
    }
    None
}

/// The figures `/status` holds that the metrics copy in when read.
pub fn snapshot(status: &Status, registry: &Registry) -> Snapshot {
    let groups = registry.connections().groups();
    let l = &status.layer;
    Snapshot {
        shards: status.shards,
        resident_bytes: status.rss_bytes,
        groups: status
            .plugins
            .keys()
            .map(|name| {
                let (g, m) = groups.figures_of(name);
                (name.clone(), g, m)
            })
            .collect(),
        layer_connected: l.layer.connected,
        layer_hosts: l.layer.hosts,
        layer_published: l.layer.published,
        layer_received: l.layer.received,
        losses: vec![
            ("message_drops", l.message_drops),
            ("event_drops", l.event_drops),
            ("events_unhandled", l.events_unhandled),
            ("gaps", l.layer.gaps),
            ("unpublished", l.layer.unpublished),
        ],
    }
}
