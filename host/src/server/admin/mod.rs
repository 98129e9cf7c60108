//! The admin listener (`--admin ADDR`): what operators, their tools and
//! tests read to see the server's state. It is separate from the public
//! listener so that it can stay on loopback or a private network.
//!
//! Served with hyper (HTTP/1.1, keep-alive):
//! - `GET /`: the console, a page (HTML, CSS and JavaScript compiled into
//!   the binary) that shows the plugins and the events live and holds
//!   WebSocket client panels;
//! - `GET /healthz`: `ok` while the process runs;
//! - `GET /readyz`: 200 once the plugins folder is loaded and the channel
//!   layer is connected, 503 with the reason before;
//! - `GET /metrics`: the Prometheus families of [`crate::metrics`];
//! - `GET /status`: JSON with the public address, open connections, live
//!   shards, resident memory, and per plugin its version, routes,
//!   connections, shards, failures, dropped log lines and quarantine; and
//!   the last refusal of each plugin file that was not loaded;
//! - `GET /events`: the last events of [`crate::events`], newest first;
//!   `GET /events/stream`: the same, live, as server-sent events.
//!
//! With an admin token configured, every path but `/healthz` and `/readyz`
//! needs it ([`auth`]).

mod auth;
mod console;
mod status;
mod stream;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::Stats;
use crate::config::AdminToken;
use crate::plugins::Registry;
use crate::{events, metrics};
pub use status::{
    rss_bytes, status, unready, Connections, GroupLossStatus, LayerFigures, PluginStatus,
    PoolStatus, QuarantineStatus, Status,
};

/// Serve admin requests until the task is dropped: HTTP/1.1 with
/// keep-alive, a connection's task per client. With `token`, requests
/// without it get 401 (the probes excepted).
pub async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    stats: Arc<Stats>,
    token: Option<AdminToken>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let registry = registry.clone();
                let stats = stats.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let answer = auth::refusal(&req, token.as_ref())
                            .unwrap_or_else(|| route(&req, &registry, &stats));
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

/// A whole answer or a stream (the live events).
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// An admin answer.
type Answer = Response<Body>;

fn answer(status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
    with_body(status, content_type, Full::new(body.into()).boxed_unsync())
}

fn with_body(status: u16, content_type: &str, body: Body) -> Answer {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

/// JSON, or a 500 naming what could not be written.
fn json(value: &impl serde::Serialize) -> Answer {
    match serde_json::to_string_pretty(value) {
        Ok(body) => {
            let mut r = answer(200, "application/json", body + "\n");
            // Read live by the console: never a stale copy.
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => answer(500, TEXT, format!("{e}\n")),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// The `/events` answer.
#[derive(serde::Serialize)]
struct EventsPage<'a> {
    /// Events kept at most.
    capacity: usize,
    /// Newest first.
    events: Vec<&'a events::Event>,
}

/// The answer to one admin request.
fn route(req: &Request<Incoming>, registry: &Registry, stats: &Stats) -> Answer {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = answer(405, TEXT, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path();
    if let Some(page) = console::page(path) {
        return page;
    }
    match path {
        "/healthz" => answer(200, TEXT, "ok\n"),
        "/readyz" => match unready(registry) {
            None => answer(200, TEXT, "ready\n"),
            Some(why) => answer(503, TEXT, format!("not ready: {why}\n")),
        },
        "/status" => json(&status(registry, stats)),
        "/events" => {
            let recent = events::global().recent();
            json(&EventsPage {
                capacity: events::CAPACITY,
                events: recent.iter().map(|e| &**e).collect(),
            })
        }
        "/events/stream" => stream::events(req),
        "/metrics" => {
            let now = status(registry, stats);
            let text = metrics::global().encode(&status::snapshot(&now, registry));
            answer(
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        path => answer(
            404,
            TEXT,
            format!(
                "no admin page {path}; try / (the console), /status, /events, /events/stream, \
                 /metrics, /healthz or /readyz\n"
            ),
        ),
    }
}
