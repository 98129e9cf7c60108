//! A shard: one store and instance of a plugin, served by one tokio task
//! that takes requests from its inbox and calls the plugin one at a time
//! (or by a connection's own task, when the shard is idle: `serve.rs`).
//! The task and its inbox are made when a request is first queued.
//!
//! A call that traps, runs past its deadline or outgrows its memory breaks
//! the instance: the connection whose call failed is closed with 1011 and
//! the others are adopted by a fresh instance, or closed with it
//! (`adopt.rs`); nothing outside the shard is affected. The shard also
//! fires its instance's timers, and releases and adopts connections when a
//! reload hands them from one version to the next.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::health::Health;
use super::request::WeakShard;
pub use super::request::{ConnectOutcome, Released, Request, ShardHandle};
use super::serve::{Core, Queued, Shared};
pub(super) use super::spec::{describe, summary};
pub use super::spec::{Instance, ShardSpec};
use crate::events::{self, Kind};

/// Requests a shard can queue before senders wait: the backpressure that
/// slows readers of busy connections instead of buffering without bound.
const INBOX_CAPACITY: usize = 1024;

/// Shards live (an instance's place kept, or a task still serving), all
/// plugins and versions together.
static LIVE_SHARDS: AtomicUsize = AtomicUsize::new(0);

/// Woken each time the last live shard stops.
static ALL_STOPPED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Shards live now, all plugins and versions together.
pub fn live_shards() -> usize {
    LIVE_SHARDS.load(Ordering::Relaxed)
}

/// Wait until no shard is live: each has handled what was queued for it
/// (the `on-disconnect` of every closed connection) and stopped because
/// every handle to it is gone. Shutdown waits on this, bounded, after the
/// registry has dropped its versions.
pub async fn all_stopped() {
    loop {
        let stopped = ALL_STOPPED.notified();
        if live_shards() == 0 {
            return;
        }
        stopped.await;
    }
}

/// A shard, optionally with an instance already built (the one that
/// proved the plugin instantiates). Its task starts when a request is
/// first queued for it ([`start_task`]).
pub fn spawn(spec: Arc<ShardSpec>, instance: Option<Instance>) -> ShardHandle {
    ShardHandle::new(Arc::new(Shared::new(spec, instance)))
}

/// Start the task that serves the inbox of the shard `shared` holds, and
/// return the inbox. Its log lines go where the spec says.
pub(super) fn start_task(shared: &Arc<Shared>) -> mpsc::Sender<Request> {
    use tracing::instrument::WithSubscriber as _;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let task = Task {
        spec: shared.spec.clone(),
        core: shared.core.clone(),
        queued: shared.queued.clone(),
        me: ShardHandle::new(shared.clone()).downgrade(),
    };
    match shared.spec.base.log.clone() {
        Some(dispatch) => tokio::spawn(run(task, rx).with_subscriber(dispatch)),
        None => tokio::spawn(run(task, rx)),
    };
    tx
}

/// What a shard task holds: not the handles' shared part, whose drop closes
/// the inbox and so ends the task.
struct Task {
    /// What the instances are built from.
    spec: Arc<ShardSpec>,
    /// The instance.
    core: Arc<tokio::sync::Mutex<Core>>,
    /// Requests queued and not yet served.
    queued: Queued,
    /// The shard's own handle, for pointing the registry at it.
    me: WeakShard,
}

/// Counts a shard as live for as long as its instance's place is kept.
pub(super) struct LiveShard(Arc<Health>);

impl LiveShard {
    /// Count one more live shard of the version whose `health` this is.
    pub(super) fn new(health: Arc<Health>) -> LiveShard {
        LIVE_SHARDS.fetch_add(1, Ordering::Relaxed);
        health.live_shards.fetch_add(1, Ordering::Relaxed);
        LiveShard(health)
    }
}

impl Drop for LiveShard {
    fn drop(&mut self) {
        self.0.live_shards.fetch_sub(1, Ordering::Relaxed);
        if LIVE_SHARDS.fetch_sub(1, Ordering::AcqRel) == 1 {
            ALL_STOPPED.notify_waiters();
        }
    }
}

async fn run(task: Task, mut rx: mpsc::Receiver<Request>) {
    let spec = &*task.spec;
    // One sleep, set again only when the earliest timer changes: a plugin
    // without timers never touches it.
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    // Not armed until the first request or `Rearm`: a fresh instance has
    // no timers, and taking the lock here could keep a connection from
    // calling its new shard itself.
    let mut armed = None;
    loop {
        let req = tokio::select! {
            req = rx.recv() => match req {
                Some(req) => Some(req),
                None => break,
            },
            () = &mut sleep, if armed.is_some() => None,
        };
        let mut core = task.core.lock().await;
        match req {
            Some(req) => {
                core.serve(spec, req, &task.me, rx.is_empty()).await;
                task.queued.lower();
            }
            None => {
                core.armed = None;
                core.fire_due(spec).await;
            }
        }
        let due = core.next_due();
        if due != core.armed {
            if let Some(at) = due {
                sleep.as_mut().reset(at.into());
            }
            core.armed = due;
        }
        armed = core.armed;
    }
}

/// Put what happened to this version in the event log.
pub(super) fn event(spec: &ShardSpec, kind: Kind, detail: &str) {
    events::global().record(kind, &spec.base.name, Some(spec.base.version), detail);
}

/// Count a failure of the plugin, and say so if it starts a quarantine.
pub(super) fn failed(spec: &ShardSpec, why: &str) {
    if let Some(q) = spec.base.health.record_failure(why) {
        let policy = spec.base.health.policy();
        tracing::error!(
            plugin = &*spec.base.name,
            "plugin quarantined for {} s after {} failures within {} s: its routes answer 503 until then; last failure: {why}",
            q.length.as_secs_f64(),
            q.failures,
            policy.window.as_secs_f64(),
        );
        let detail = format!(
            "for {} s after {} failures: {why}",
            q.length.as_secs_f64(),
            q.failures
        );
        event(spec, Kind::Quarantined, &detail);
    }
}
