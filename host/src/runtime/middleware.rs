//! Running a middleware version: one store and instance owned by one tokio
//! task, which takes handshakes from a bounded queue and calls
//! `on-handshake` one at a time, under the same CPU deadline and memory cap
//! as a consumer's calls.
//!
//! A call that traps, runs past its budget or outgrows its memory fails
//! that handshake alone (500, or 503 for the deadline) and the instance is
//! dropped: the next handshake gets a fresh one. A full queue answers 503
//! at once instead of keeping handshakes waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use wasmtime::Store;

use super::bindings::{middleware, IdentityRecord, MiddlewarePre, Reject, Scope};
use super::budget::CallBudget;
use super::calls::failure_kind;
use super::engine::WasmEngine;
use super::spec::{describe, host_state, summary};
use super::state::HostState;
use super::version::VersionBase;
use crate::events::{self, Kind};

/// Handshakes one middleware version may have waiting; past it, 503.
pub const QUEUE_CAPACITY: usize = 256;

/// Everything needed to build instances of one middleware version.
pub struct MiddlewareSpec {
    /// The type-checked component.
    pub pre: MiddlewarePre<HostState>,
    /// Its name, number, settings, grants, health, connections and log, as
    /// a consumer version has them too.
    pub base: VersionBase,
}

/// A live middleware instance and its store.
pub struct MiddlewareInstance {
    /// The store.
    store: Store<HostState>,
    /// Its `middleware-handler`.
    exports: middleware::Middleware,
}

impl MiddlewareSpec {
    /// The spec of a middleware version.
    pub fn new(pre: MiddlewarePre<HostState>, base: VersionBase) -> MiddlewareSpec {
        MiddlewareSpec { pre, base }
    }

    /// Build a fresh instance; failures are reported, never panicked on.
    pub async fn instantiate(&self) -> anyhow::Result<MiddlewareInstance> {
        let state = host_state(&self.base, 0, 0, 0, false)?;
        let engine = self.pre.instance_pre().engine();
        let mut store = WasmEngine::store_on(engine, state, self.base.memory_limit, false);
        let exports = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| describe(e, self.base.call_timeout))?;
        Ok(MiddlewareInstance { store, exports })
    }
}

/// What a middleware made of one handshake.
#[derive(Debug)]
pub enum Verdict {
    /// Go on, with these values added to the identity.
    Admit(Vec<(String, String)>),
    /// Answer the handshake with this response.
    Reject(Reject),
    /// The call failed: `trap`, `memory`, `instantiate` (500) or
    /// `deadline` (503); `why` is for the log.
    Failed {
        /// The failure's kind, as the metrics name it.
        kind: &'static str,
        /// What happened, in a few words.
        why: String,
    },
    /// Its queue is full: 503.
    Busy,
    /// Its task is gone (the version was dropped meanwhile): 503.
    Gone,
}

impl Verdict {
    /// The outcome as `wasmsock_middleware_calls_total` labels it.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Admit(_) => "admitted",
            Verdict::Reject(_) => "rejected",
            Verdict::Failed { kind, .. } => kind,
            Verdict::Busy => "busy",
            Verdict::Gone => "gone",
        }
    }
}

/// Calls and failures of one middleware version, for `/status`.
#[derive(Debug, Default)]
pub struct MiddlewareStats {
    /// Handshakes it was asked about (busy ones included).
    pub calls: AtomicU64,
    /// Calls that failed (trap, deadline, memory, instantiate).
    pub failures: AtomicU64,
}

/// One handshake queued for a middleware.
struct Call {
    /// The request, as the consumer's `on-connect` will see it.
    scope: Scope,
    /// The identity so far.
    identity: IdentityRecord,
    /// Where the verdict goes.
    reply: oneshot::Sender<Verdict>,
}

/// The way into a middleware version's task; the task ends when the last
/// handle is dropped.
#[derive(Clone)]
pub struct MiddlewareHandle {
    /// Its queue.
    tx: mpsc::Sender<Call>,
    /// Its name, for the metrics.
    name: Arc<str>,
    /// Its counts.
    pub stats: Arc<MiddlewareStats>,
}

impl MiddlewareHandle {
    /// Ask the middleware about one handshake.
    pub async fn call(&self, scope: Scope, identity: IdentityRecord) -> Verdict {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let verdict = match self.tx.try_send(Call {
            scope,
            identity,
            reply,
        }) {
            Ok(()) => answer.await.unwrap_or(Verdict::Gone),
            Err(mpsc::error::TrySendError::Full(_)) => Verdict::Busy,
            Err(mpsc::error::TrySendError::Closed(_)) => Verdict::Gone,
        };
        crate::metrics::global().middleware_call(&self.name, verdict.label());
        verdict
    }
}

/// Start a middleware version's task, with the instance that proved it
/// loads (or none: the first call builds one).
pub fn spawn(spec: Arc<MiddlewareSpec>, first: Option<MiddlewareInstance>) -> MiddlewareHandle {
    use tracing::instrument::WithSubscriber as _;
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let stats = Arc::new(MiddlewareStats::default());
    let handle = MiddlewareHandle {
        tx,
        name: spec.base.name.clone(),
        stats: stats.clone(),
    };
    match spec.base.log.clone() {
        Some(dispatch) => tokio::spawn(run(spec, first, rx, stats).with_subscriber(dispatch)),
        None => tokio::spawn(run(spec, first, rx, stats)),
    };
    handle
}

async fn run(
    spec: Arc<MiddlewareSpec>,
    mut instance: Option<MiddlewareInstance>,
    mut rx: mpsc::Receiver<Call>,
    stats: Arc<MiddlewareStats>,
) {
    let times = crate::metrics::global().calls(&spec.base.name, "on_handshake");
    while let Some(call) = rx.recv().await {
        if call.reply.is_closed() {
            continue; // the client went away while it waited
        }
        if instance.is_none() {
            match spec.instantiate().await {
                Ok(i) => instance = Some(i),
                Err(e) => {
                    let why = summary(&e);
                    fail(&spec, &stats, "instantiate", &why);
                    let _ = call.reply.send(Verdict::Failed {
                        kind: "instantiate",
                        why,
                    });
                    continue;
                }
            }
        }
        let Some(inst) = instance.as_mut() else {
            continue;
        };
        {
            let data = inst.store.data_mut();
            data.budget = CallBudget::start(spec.base.call_timeout);
            data.limits.refused = false;
        }
        inst.store.set_epoch_deadline(1);
        let started = Instant::now();
        let result = inst
            .exports
            .wasmsock_plugin_middleware_handler()
            .call_on_handshake(&mut inst.store, &call.scope, &call.identity)
            .await;
        times.observe(started.elapsed().as_secs_f64());
        let verdict = match result {
            Ok(Ok(values)) => Verdict::Admit(values),
            Ok(Err(reject)) => Verdict::Reject(reject),
            Err(e) => {
                let kind = failure_kind(&e, inst.store.data().limits.refused);
                let why = summary(&describe(e, spec.base.call_timeout));
                fail(&spec, &stats, kind, &why);
                // The instance may be in any state: the next call gets a
                // fresh one.
                instance = None;
                Verdict::Failed { kind, why }
            }
        };
        let _ = call.reply.send(verdict);
    }
}

/// Log, count and record a failed call or instantiation.
fn fail(spec: &MiddlewareSpec, stats: &MiddlewareStats, kind: &'static str, why: &str) {
    stats.failures.fetch_add(1, Ordering::Relaxed);
    spec.base.health.failures.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        plugin = &*spec.base.name,
        version = spec.base.version,
        kind,
        "middleware `{}` failed ({kind}): {why}; the handshake is refused and the next one gets a fresh instance",
        spec.base.name
    );
    crate::metrics::global().failed(&spec.base.name, kind);
    events::global().record(
        Kind::failure(kind),
        &spec.base.name,
        Some(spec.base.version),
        why,
    );
}
