//! The admin listener (`--admin ADDR`): what operators and tests read to see
//! the server's state. It is separate from the public listener so that it
//! can stay on loopback or a private network.
//!
//! Served with hyper (HTTP/1.1, keep-alive):
//! - `GET /healthz`: `ok` while the process runs;
//! - `GET /readyz`: 200 once the plugins folder is loaded and the channel
//!   layer is connected, 503 with the reason before;
//! - `GET /metrics`: the Prometheus families of [`crate::metrics`];
//! - `GET /status`: JSON with open connections, live shards, resident
//!   memory, and per plugin its version, routes, connections, shards,
//!   failures, dropped log lines and quarantine; and the last refusal of each
//!   plugin file that was not loaded.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;

use super::Stats;
use crate::config::InstanceMode;
use crate::metrics::{self, Snapshot};
use crate::plugins::Registry;
use crate::runtime::shard::live_shards;

/// The whole `/status` answer.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Open TCP connections (handshakes included) and open WebSockets.
    pub connections: Connections,
    /// Shard tasks running, all plugins and versions together.
    pub shards: usize,
    /// Resident memory of the process, in bytes (0 where unknown).
    pub rss_bytes: u64,
    /// The current version of each loaded plugin.
    pub plugins: BTreeMap<String, PluginStatus>,
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
                instance: match p.manifest.instance {
                    InstanceMode::Shared => "shared",
                    InstanceMode::PerConnection => "per-connection",
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
fn snapshot(status: &Status, registry: &Registry) -> Snapshot {
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

/// Serve admin requests until the task is dropped: HTTP/1.1 with
/// keep-alive, a connection's task per client.
pub async fn run(listener: TcpListener, registry: Arc<Registry>, stats: Arc<Stats>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let registry = registry.clone();
                let stats = stats.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let answer = route(&req, &registry, &stats);
                        async move { Ok::<_, Infallible>(answer) }
                    });
                    let served = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(e) = served {
                        tracing::debug!("admin connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("admin accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

const TEXT: &str = "text/plain; charset=utf-8";

/// The answer to one admin request.
fn route(req: &Request<Incoming>, registry: &Registry, stats: &Stats) -> Answer {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = answer(405, TEXT, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/healthz" => answer(200, TEXT, "ok\n"),
        "/readyz" => match unready(registry) {
            None => answer(200, TEXT, "ready\n"),
            Some(why) => answer(503, TEXT, format!("not ready: {why}\n")),
        },
        "/status" => match serde_json::to_string_pretty(&status(registry, stats)) {
            Ok(body) => answer(200, "application/json", body + "\n"),
            Err(e) => answer(500, TEXT, format!("{e}\n")),
        },
        "/metrics" => {
            let now = status(registry, stats);
            let text = metrics::global().encode(&snapshot(&now, registry));
            answer(
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        path => answer(
            404,
            TEXT,
            format!("no admin page {path}; try /status, /metrics, /healthz or /readyz\n"),
        ),
    }
}
