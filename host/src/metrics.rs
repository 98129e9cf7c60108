//! Prometheus metrics, served as text on the admin listener's `/metrics`.
//!
//! One set per process (a process serves one server), so that every floor
//! records into it without a handle threaded through each constructor. Hot
//! paths hold their counters already resolved ([`PluginMetrics`], one
//! lookup per connection, then an atomic add per message); what the server
//! already counts for `/status` (shards, groups, the layer) is copied in
//! when `/metrics` is read. Labels stay bounded: plugin names (one per
//! plugin file), call exports, failure kinds and refusal reasons, never a
//! connection id or a group name.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Label of figures kept per plugin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    /// The plugin's name.
    pub plugin: String,
}

/// Labels of a plugin call's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The plugin's name.
    pub plugin: String,
    /// The export called: on_connect, on_message, on_disconnect, on_event,
    /// on_gap.
    pub export: &'static str,
}

/// Labels of a plugin failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The plugin's name.
    pub plugin: String,
    /// trap, deadline, memory or instantiate.
    pub kind: &'static str,
}

/// Label of a refused handshake.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why: not_found, bad_request, origin, unauthenticated, over_capacity,
    /// quarantined, unavailable, plugin, rejected, server_busy, timeout, tls,
    /// per_ip_connections, per_ip_rate.
    pub reason: &'static str,
}

/// Label of a TLS certificate reload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// loaded (the new pair serves new handshakes) or refused (the old
    /// pair kept serving).
    pub outcome: &'static str,
}

/// Labels of a handshake refused by a plugin's `[auth]`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthFailureLabels {
    /// The plugin's name.
    pub plugin: String,
    /// missing, malformed, expired, not_yet_valid, audience, issuer,
    /// signature or algorithm.
    pub reason: &'static str,
}

/// Labels of an outcome for one plugin: what became of a connection
/// handed to another instance (`connections_moved`), or of a timer
/// (`timers`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginOutcomeLabels {
    /// The plugin's name.
    pub plugin: String,
    /// For a moved connection: adopted (the new instance kept it), refused
    /// (its `on-adopt` said no: closed with 1012), lost (it could not be
    /// handed over: closed), drained (closed at the end of a drain or by
    /// `on_reload = "close"`). For a timer: fired, refused (over
    /// `timers_max`) or dropped.
    pub outcome: &'static str,
}

/// Labels of a middleware call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MiddlewareLabels {
    /// The middleware's name.
    pub middleware: String,
    /// admitted, rejected, trap, deadline, memory, instantiate, busy,
    /// gone or missing.
    pub outcome: &'static str,
}

/// Label of a layer figure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Which loss: message_drops, event_drops, events_unhandled, gaps,
    /// unpublished.
    pub kind: &'static str,
}

/// Every metric family of the process.
#[derive(Debug)]
pub struct Metrics {
    /// The families, for encoding.
    registry: Registry,
    /// Open WebSocket connections, per plugin.
    connections_open: Family<PluginLabel, Gauge>,
    /// Connections upgraded since start, per plugin.
    connections: Family<PluginLabel, Counter>,
    /// Messages from clients, per plugin.
    messages_received: Family<PluginLabel, Counter>,
    /// Messages to clients, per plugin.
    messages_sent: Family<PluginLabel, Counter>,
    /// Payload bytes from clients, per plugin.
    bytes_received: Family<PluginLabel, Counter>,
    /// Payload bytes to clients, per plugin.
    bytes_sent: Family<PluginLabel, Counter>,
    /// Handshakes answered without an upgrade, per reason.
    rejections: Family<ReasonLabel, Counter>,
    /// Handshakes refused by a plugin's `[auth]`, by plugin and reason.
    auth_failures: Family<AuthFailureLabels, Counter>,
    /// Time in each plugin export call.
    calls: Family<CallLabels, Histogram, fn() -> Histogram>,
    /// Plugin failures, per plugin and kind.
    failures: Family<FailureLabels, Counter>,
    /// New versions of a plugin loaded (the first load is not a reload).
    reloads: Family<PluginLabel, Counter>,
    /// Plugin files refused (broken, invalid manifest, ...).
    refused: Family<PluginLabel, Counter>,
    /// Messages for a client lost because its queue was full, per plugin.
    outbound_dropped: Family<PluginLabel, Counter>,
    /// Plugin log lines dropped over the rate limit, per plugin.
    log_lines_dropped: Family<PluginLabel, Counter>,
    /// Connections handed from one instance to another, per plugin and
    /// outcome.
    moves: Family<PluginOutcomeLabels, Counter>,
    /// Timers fired, refused (over `timers_max`) and dropped (no
    /// `timer-handler`, or over the cap of the instance they moved to).
    timers: Family<PluginOutcomeLabels, Counter>,
    /// Attachment bytes held for open connections, per plugin.
    attachment_bytes: Family<PluginLabel, Gauge>,
    /// TLS certificate reloads after a change on disk, per outcome.
    tls_reloads: Family<OutcomeLabel, Counter>,
    /// Middleware calls, per middleware and outcome.
    middleware_calls: Family<MiddlewareLabels, Counter>,
    /// Copied in at each read: live plugin shards.
    shards: Gauge,
    /// Copied in at each read: resident memory, bytes.
    resident: Gauge,
    /// Copied in at each read: groups with members, per plugin.
    groups: Family<PluginLabel, Gauge>,
    /// Copied in at each read: group members on this host, per plugin.
    group_members: Family<PluginLabel, Gauge>,
    /// Copied in at each read: 1 while the channel layer is connected (the
    /// memory layer always is).
    layer_connected: Gauge,
    /// Copied in at each read: other hosts alive in the layer.
    layer_hosts: Gauge,
    /// Copied in at each read: frames published to the layer.
    layer_published: Counter,
    /// Copied in at each read: frames received from other hosts.
    layer_received: Counter,
    /// Copied in at each read: group traffic lost, per kind.
    group_losses: Family<KindLabel, Counter>,
}

/// Buckets of call durations, seconds: 10 µs to 10 s.
fn call_histogram() -> Histogram {
    Histogram::new([
        1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0,
    ])
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// A plugin's per-message counters, resolved once per connection.
#[derive(Debug, Clone)]
pub struct PluginMetrics {
    /// Open connections of the plugin.
    pub open: Gauge,
    /// Connections of the plugin upgraded since start.
    pub upgraded: Counter,
    /// Messages from clients.
    pub received: Counter,
    /// Messages to clients.
    pub sent: Counter,
    /// Payload bytes from clients.
    pub bytes_received: Counter,
    /// Payload bytes to clients.
    pub bytes_sent: Counter,
    /// Messages lost to a full queue.
    pub dropped: Counter,
}

/// What `/status` counts, copied into the gauges when `/metrics` is read.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Live plugin shards.
    pub shards: usize,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
    /// Per plugin: groups with members, and members on this host.
    pub groups: Vec<(String, usize, usize)>,
    /// The layer is connected.
    pub layer_connected: bool,
    /// Other hosts alive.
    pub layer_hosts: usize,
    /// Frames published.
    pub layer_published: u64,
    /// Frames received.
    pub layer_received: u64,
    /// Losses by kind.
    pub losses: Vec<(&'static str, u64)>,
}

/// Add one to `plugin`'s counter of `family`.
fn count(family: &Family<PluginLabel, Counter>, plugin: &str) {
    family
        .get_or_create(&PluginLabel {
            plugin: plugin.to_owned(),
        })
        .inc();
}

fn gauge_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wasmsock");
        let m = Metrics {
            connections_open: Family::default(),
            connections: Family::default(),
            messages_received: Family::default(),
            messages_sent: Family::default(),
            bytes_received: Family::default(),
            bytes_sent: Family::default(),
            rejections: Family::default(),
            auth_failures: Family::default(),
            calls: Family::new_with_constructor(call_histogram),
            failures: Family::default(),
            reloads: Family::default(),
            refused: Family::default(),
            outbound_dropped: Family::default(),
            log_lines_dropped: Family::default(),
            moves: Family::default(),
            attachment_bytes: Family::default(),
            middleware_calls: Family::default(),
            timers: Family::default(),
            tls_reloads: Family::default(),
            shards: Gauge::default(),
            resident: Gauge::default(),
            groups: Family::default(),
            group_members: Family::default(),
            layer_connected: Gauge::default(),
            layer_hosts: Gauge::default(),
            layer_published: Counter::default(),
            layer_received: Counter::default(),
            group_losses: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "connections_open",
            "WebSocket connections open now",
            m.connections_open.clone(),
        );
        r.register(
            "auth_failures",
            "Handshakes refused by a plugin's [auth] (401), by reason",
            m.auth_failures.clone(),
        );
        r.register(
            "connections",
            "WebSocket connections upgraded since start",
            m.connections.clone(),
        );
        r.register(
            "messages_received",
            "Messages received from clients",
            m.messages_received.clone(),
        );
        r.register(
            "messages_sent",
            "Messages sent to clients",
            m.messages_sent.clone(),
        );
        r.register_with_unit(
            "received",
            "Payload received from clients",
            Unit::Bytes,
            m.bytes_received.clone(),
        );
        r.register_with_unit(
            "sent",
            "Payload sent to clients",
            Unit::Bytes,
            m.bytes_sent.clone(),
        );
        r.register(
            "handshake_rejections",
            "Requests answered without an upgrade, by reason",
            m.rejections.clone(),
        );
        r.register_with_unit(
            "plugin_call",
            "Time spent in one plugin export call (CPU and host calls)",
            Unit::Seconds,
            m.calls.clone(),
        );
        r.register(
            "plugin_failures",
            "Plugin calls that failed: trap, deadline (CPU budget), memory (cap hit), instantiate",
            m.failures.clone(),
        );
        r.register(
            "plugin_reloads",
            "New versions of a plugin put in service",
            m.reloads.clone(),
        );
        r.register(
            "plugin_refused",
            "Plugin files refused (broken component, bad manifest)",
            m.refused.clone(),
        );
        r.register(
            "outbound_dropped",
            "Messages for a client lost because its outbound queue was full",
            m.outbound_dropped.clone(),
        );
        r.register(
            "log_lines_dropped",
            "Plugin log lines dropped over the plugin's rate limit",
            m.log_lines_dropped.clone(),
        );
        r.register("shards", "Plugin shards running", m.shards.clone());
        r.register_with_unit(
            "resident_memory",
            "Resident memory of the process",
            Unit::Bytes,
            m.resident.clone(),
        );
        r.register(
            "groups",
            "Groups with at least one member on this host",
            m.groups.clone(),
        );
        r.register(
            "group_members",
            "Group memberships of this host's connections",
            m.group_members.clone(),
        );
        r.register(
            "layer_connected",
            "1 while the channel layer is connected (always for the memory layer)",
            m.layer_connected.clone(),
        );
        r.register(
            "connections_moved",
            "Open connections handed from one plugin instance to another (a reload, a failed instance rebuilt), by outcome",
            m.moves.clone(),
        );
        r.register(
            "timers",
            "Plugin timers by outcome: fired, refused (over timers_max), dropped (no timer-handler, or over the cap where they moved)",
            m.timers.clone(),
        );
        r.register(
            "attachment_bytes",
            "Bytes of connection attachments the host holds for a plugin",
            m.attachment_bytes.clone(),
        );
        r.register(
            "tls_reloads",
            "TLS certificate and key pairs reloaded after a change on disk: loaded, or refused (the old pair kept serving)",
            m.tls_reloads.clone(),
        );
        r.register(
            "middleware_calls",
            "Handshakes through each middleware, by outcome",
            m.middleware_calls.clone(),
        );
        r.register(
            "layer_hosts",
            "Other hosts alive in the channel layer",
            m.layer_hosts.clone(),
        );
        r.register(
            "layer_published",
            "Frames this host published to the channel layer",
            m.layer_published.clone(),
        );
        r.register(
            "layer_received",
            "Frames received from other hosts",
            m.layer_received.clone(),
        );
        r.register(
            "group_losses",
            "Group traffic lost, by kind (every loss is counted)",
            m.group_losses.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The counters of `plugin`'s connections.
    pub fn plugin(&self, plugin: &str) -> PluginMetrics {
        let l = PluginLabel {
            plugin: plugin.to_owned(),
        };
        PluginMetrics {
            open: self.connections_open.get_or_create_owned(&l),
            upgraded: self.connections.get_or_create_owned(&l),
            received: self.messages_received.get_or_create_owned(&l),
            sent: self.messages_sent.get_or_create_owned(&l),
            bytes_received: self.bytes_received.get_or_create_owned(&l),
            bytes_sent: self.bytes_sent.get_or_create_owned(&l),
            dropped: self.outbound_dropped.get_or_create_owned(&l),
        }
    }

    /// A handshake was answered without an upgrade.
    pub fn rejected(&self, reason: &'static str) {
        self.rejections.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A handshake to `plugin` failed its `[auth]` for `reason`.
    pub fn auth_failed(&self, plugin: &str, reason: &'static str) {
        self.auth_failures
            .get_or_create(&AuthFailureLabels {
                plugin: plugin.to_owned(),
                reason,
            })
            .inc();
    }

    /// The histogram of `plugin`'s `export` calls.
    pub fn calls(&self, plugin: &str, export: &'static str) -> Histogram {
        self.calls.get_or_create_owned(&CallLabels {
            plugin: plugin.to_owned(),
            export,
        })
    }

    /// A call of `plugin` failed.
    pub fn failed(&self, plugin: &str, kind: &'static str) {
        self.failures
            .get_or_create(&FailureLabels {
                plugin: plugin.to_owned(),
                kind,
            })
            .inc();
    }

    /// A new version of `plugin` is in service.
    pub fn reloaded(&self, plugin: &str) {
        count(&self.reloads, plugin);
    }

    /// The file of `plugin` was refused.
    pub fn refused(&self, plugin: &str) {
        count(&self.refused, plugin);
    }

    /// A message for one of `plugin`'s clients was lost to a full queue.
    pub fn outbound_dropped(&self, plugin: &str) {
        count(&self.outbound_dropped, plugin);
    }

    /// A connection of `plugin` was handed over with this outcome.
    pub fn moved(&self, plugin: &str, outcome: &'static str) {
        self.moves
            .get_or_create(&PluginOutcomeLabels {
                plugin: plugin.to_owned(),
                outcome,
            })
            .inc();
    }

    /// `n` of `plugin`'s timers had this outcome.
    pub fn timers(&self, plugin: &str, outcome: &'static str, n: u64) {
        self.timers
            .get_or_create(&PluginOutcomeLabels {
                plugin: plugin.to_owned(),
                outcome,
            })
            .inc_by(n);
    }

    /// The TLS pair was reloaded from disk with this outcome.
    pub fn tls_reload(&self, outcome: &'static str) {
        self.tls_reloads
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A handshake went through middleware `name` with this outcome.
    pub fn middleware_call(&self, name: &str, outcome: &'static str) {
        self.middleware_calls
            .get_or_create(&MiddlewareLabels {
                middleware: name.to_owned(),
                outcome,
            })
            .inc();
    }

    /// The gauge of `plugin`'s attachment bytes.
    pub fn attachment_bytes(&self, plugin: &str) -> Gauge {
        self.attachment_bytes.get_or_create_owned(&PluginLabel {
            plugin: plugin.to_owned(),
        })
    }

    /// The counter of `plugin`'s dropped log lines.
    pub fn log_lines_dropped(&self, plugin: &str) -> Counter {
        self.log_lines_dropped.get_or_create_owned(&PluginLabel {
            plugin: plugin.to_owned(),
        })
    }

    /// Every family as Prometheus text, with `now` copied in first.
    pub fn encode(&self, now: &Snapshot) -> String {
        self.shards.set(gauge_of(now.shards as u64));
        self.resident.set(gauge_of(now.resident_bytes));
        // Plugins that are gone leave these gauges.
        self.groups.clear();
        self.group_members.clear();
        for (plugin, groups, members) in &now.groups {
            let l = PluginLabel {
                plugin: plugin.clone(),
            };
            self.groups.get_or_create(&l).set(gauge_of(*groups as u64));
            self.group_members
                .get_or_create(&l)
                .set(gauge_of(*members as u64));
        }
        self.layer_connected.set(i64::from(now.layer_connected));
        self.layer_hosts.set(gauge_of(now.layer_hosts as u64));
        // Counted by the layer and the delivery since start: copied as is.
        let copy = |c: &Counter, v: u64| c.inner().store(v, Ordering::Relaxed);
        copy(&self.layer_published, now.layer_published);
        copy(&self.layer_received, now.layer_received);
        for (kind, n) in &now.losses {
            copy(&self.group_losses.get_or_create(&KindLabel { kind }), *n);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
