//! Admission: the one path from a request to an accepted connection, shared
//! by the server and the test harness. It knows no socket: it routes the
//! path, checks the origin, the plugin's quarantine and connection limit,
//! registers the connection, calls `on-connect`, checks the subprotocol the
//! plugin chose and filters the headers it asked for. The caller writes the
//! answer: a 101 and the message pump (the server), or nothing at all (the
//! harness).
//!
//! Each check is one step of [`admit`], answered with a plain HTTP status
//! before any upgrade. The per-address limits ([`per_ip`]) come first: a
//! flood costs a table lookup, not an origin check or a plugin call; the
//! plugin's `[auth]` token (`auth.rs`) and middleware chain
//! (`middleware.rs`) come after the quarantine.

mod answer;
mod auth;
mod link;
mod middleware;
pub mod per_ip;
mod request;
pub mod scope;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use answer::allowed_headers;
pub use answer::{Refusal, Refused};
pub use link::{changed as fate_changed, Link, Turn};
pub use request::RequestHead;

use crate::close;
use crate::config::Limits;
use crate::plugins::{ConnSlot, Middlewares, Plugin, Registry};
use crate::routing::{RouteMatch, RouteTable};
use crate::runtime::bindings::CloseInfo;
use crate::runtime::connections::{Connections, Entry, Registration};
use crate::runtime::identity::Identity;
use crate::runtime::outbox::Outbox;
use crate::runtime::shard::{ConnectOutcome, Request};

/// Where admission finds the plugin for a path: the server's registry, or
/// the harness's table of one plugin.
pub trait Routes {
    /// The plugin serving `path`, with the route and its captured params.
    fn find(&self, path: &str) -> Option<RouteMatch<Plugin>>;
}

impl Routes for Registry {
    fn find(&self, path: &str) -> Option<RouteMatch<Plugin>> {
        self.route(path)
    }
}

impl Routes for RouteTable<Plugin> {
    fn find(&self, path: &str) -> Option<RouteMatch<Plugin>> {
        self.lookup(path)
    }
}

/// The first step: the plugin that serves `path`, or 404.
pub fn route(routes: &impl Routes, path: &str) -> Result<RouteMatch<Plugin>, Refusal> {
    routes
        .find(path)
        .ok_or_else(|| Refusal::new(Refused::NotFound, 404, format!("no plugin serves {path}\n")))
}

/// An admitted connection: the plugin accepted it and may send to it.
///
/// Whoever plays the connection owns this until the connection ends and
/// then calls [`Session::finish`], so the plugin hears `on-disconnect`
/// exactly once. It holds the connection's place in the registry and under
/// the plugin's limit, and the version that admitted it stays alive as long
/// as it does.
#[derive(Debug)]
pub struct Session {
    /// The connection's id.
    pub id: u64,
    /// Its outbound queue: the writer drains it.
    pub outbox: Arc<Outbox>,
    /// The plugin version and shard serving it (a reload can change both).
    pub link: Link,
    /// Its entry in the connection registry.
    _registration: Registration,
    /// Its place under the plugin's connection limit.
    _slot: ConnSlot,
    /// Its place under its address's connection cap.
    _per_ip: per_ip::PerIpGuard,
}

/// What the upgrade answer carries besides the accept key.
#[derive(Debug)]
pub struct Upgrade {
    /// The subprotocol the plugin chose (one the client offered).
    pub subprotocol: Option<String>,
    /// Extra headers for the 101, the reserved ones dropped.
    pub headers: Vec<(String, String)>,
}

/// What admission needs besides the request: the registry connections
/// enter and the limits their outboxes are held to.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Every connection, by id.
    pub connections: Arc<Connections>,
    /// Connection limits (outbound queue bounds).
    pub limits: Limits,
    /// What each client address holds and has started (the first step).
    pub per_ip: Arc<per_ip::PerIp>,
    /// The middleware in force, by name, for the plugins' chains.
    pub middleware: Arc<Middlewares>,
}

impl Admission {
    /// Run every step after routing for a request to `route`'s plugin from
    /// `peer`; on success the connection is registered and `on-connect` has
    /// accepted it.
    pub async fn admit(
        &self,
        route: RouteMatch<Plugin>,
        head: &RequestHead,
        peer: SocketAddr,
    ) -> Result<(Session, Upgrade), Refusal> {
        self.admit_as(route, head, peer, None).await
    }

    /// [`admit`](Self::admit), with the identity given rather than
    /// established by the authentication steps, which are skipped: the test
    /// harness's way to connect as a user.
    pub async fn admit_as(
        &self,
        route: RouteMatch<Plugin>,
        head: &RequestHead,
        peer: SocketAddr,
        preset: Option<Identity>,
    ) -> Result<(Session, Upgrade), Refusal> {
        let per_ip = self.per_ip.admit(peer.ip())?;
        let plugin = route.target;
        check_origin(&plugin, head)?;
        check_quarantine(&plugin)?;
        // What the authentication steps establish: the token, then the
        // middleware chain; the harness's preset skips both.
        let identity = match preset {
            Some(preset) => Some(preset),
            None => {
                let mut identity = auth::check(&plugin, head)?.unwrap_or_default();
                let (pattern, params) = (route.pattern.as_str(), &route.params);
                let chain = &self.middleware;
                middleware::run(chain, &plugin, pattern, params, head, peer, &mut identity).await?;
                (!identity.is_empty()).then_some(identity)
            }
        };
        let identity: Option<Arc<Identity>> = identity.map(Arc::new);
        let Some(slot) = plugin.admit() else {
            return Err(Refusal::new(
                Refused::OverCapacity,
                503,
                format!("plugin `{}` is at its connection limit\n", plugin.name),
            ));
        };
        let id = self.connections.next_id();
        let outbox = Arc::new(Outbox::new(
            self.limits.outbound_queue_messages,
            self.limits.outbound_queue_bytes,
        ));
        let shard = plugin.shard_for(id);
        let registration = self.connections.register(
            id,
            Entry {
                outbox: outbox.clone(),
                plugin: plugin.name.clone(),
                version: plugin.version,
                shard: shard.clone(),
                health: plugin.health().clone(),
            },
        );
        let scope = scope::build(head, route.pattern.as_str(), route.params, peer);
        let offered = scope.subprotocols.clone();
        let (reply, answer) = oneshot::channel();
        let connect = Request::Connect {
            conn: id,
            scope: Box::new(scope),
            identity,
            outbox: outbox.clone(),
            reply,
        };
        if shard.deliver(connect).await.is_err() {
            return Err(Refusal::new(
                Refused::Unavailable,
                503,
                "plugin unavailable\n",
            ));
        }
        let accept = match answer.await.unwrap_or(ConnectOutcome::Failed) {
            ConnectOutcome::Accept(accept) => accept,
            ConnectOutcome::Reject(reject) => return Err(answer::rejection(&plugin.name, reject)),
            ConnectOutcome::Failed => {
                return Err(Refusal::new(Refused::PluginFailed, 500, "plugin failed\n"))
            }
            ConnectOutcome::NoRoom => {
                return Err(Refusal::new(
                    Refused::NoRoom,
                    503,
                    format!(
                        "no room for another instance of plugin `{}`; try again later\n",
                        plugin.name
                    ),
                )
                .with_header("Retry-After", "1"))
            }
        };
        let session = Session {
            id,
            outbox,
            link: Link::new(plugin, shard),
            _registration: registration,
            _slot: slot,
            _per_ip: per_ip,
        };
        // Accepted: from here on the plugin hears `on-disconnect` exactly once.
        if let Some(p) = &accept.subprotocol {
            if !offered.iter().any(|o| o == p) {
                let why = format!(
                    "on-connect chose subprotocol {p:?}, which the client did not offer ({offered:?})"
                );
                tracing::error!(
                    plugin = &*session.link.plugin.name,
                    conn = id,
                    "{why}; answering 500"
                );
                session.finish(abnormal(why.clone(), false)).await;
                return Err(Refusal::new(
                    Refused::BadSubprotocol(why),
                    500,
                    "plugin chose a subprotocol the client did not offer\n",
                ));
            }
        }
        let headers = allowed_headers(&session.link.plugin.name, accept.headers);
        let upgrade = Upgrade {
            subprotocol: accept.subprotocol,
            headers,
        };
        Ok((session, upgrade))
    }
}

impl Session {
    /// The connection has ended: refuse further sends, leave the registry
    /// and with it every group, then give the plugin its `on-disconnect`
    /// (so a plugin that counts its room there no longer counts this
    /// connection), and give back the place under the plugin's limit.
    pub async fn finish(self, info: CloseInfo) {
        let Session {
            id: conn,
            outbox,
            link,
            _registration,
            _slot,
            _per_ip,
        } = self;
        outbox.shut();
        drop(_registration);
        tracing::debug!(
            conn,
            code = info.code,
            by_client = info.by_client,
            "connection closed"
        );
        let bye = Request::Disconnect { conn, info };
        let _ = link.shard.deliver(bye).await;
    }
}

/// A connection that ended without a completed close handshake (1006).
pub fn abnormal(reason: impl Into<String>, by_client: bool) -> CloseInfo {
    CloseInfo {
        code: close::ABNORMAL,
        reason: reason.into(),
        by_client,
    }
}

/// A browser whose `Origin` the plugin does not list gets 403; requests
/// without `Origin` (not from a browser) pass.
fn check_origin(plugin: &Plugin, head: &RequestHead) -> Result<(), Refusal> {
    let Some(origin) = head.header("origin") else {
        return Ok(());
    };
    let allowed = &plugin.manifest.allowed_origins;
    if allowed.is_empty()
        || allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(origin.trim()))
    {
        return Ok(());
    }
    Err(Refusal::new(
        Refused::Origin,
        403,
        format!("origin {origin} is not allowed\n"),
    ))
}

/// A quarantined plugin answers 503 with `Retry-After` and the reason,
/// before anything is asked of its shard.
fn check_quarantine(plugin: &Plugin) -> Result<(), Refusal> {
    let Some(q) = plugin.health().quarantined() else {
        return Ok(());
    };
    let left = q.until.saturating_duration_since(Instant::now());
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let body = format!(
        "plugin `{}` is quarantined for {secs} more s after {} failures; last failure: {}\n",
        plugin.name, q.failures, q.reason
    );
    Err(Refusal::new(Refused::Quarantined, 503, body)
        .with_header("Retry-After", secs.max(1).to_string()))
}
