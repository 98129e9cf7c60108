//! A shard: one store and instance of a plugin, owned by one tokio task that
//! takes requests from its inbox and calls the plugin one at a time.
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

use super::adopt::{self, Moved};
use super::calls::{self, CallTimes};
use super::health::Health;
use super::request::refuse;
pub use super::request::{ConnectOutcome, Released, Request, ShardHandle};
pub(super) use super::spec::{describe, summary};
pub use super::spec::{Instance, ShardSpec};
use super::state::{Kept, Served};
use crate::events::{self, Kind};

/// Requests a shard can queue before senders wait: the backpressure that
/// slows readers of busy connections instead of buffering without bound.
const INBOX_CAPACITY: usize = 1024;

/// Shard tasks running, all plugins and versions together.
static LIVE_SHARDS: AtomicUsize = AtomicUsize::new(0);

/// Woken each time the last live shard stops.
static ALL_STOPPED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Shard tasks running now, all plugins and versions together.
pub fn live_shards() -> usize {
    LIVE_SHARDS.load(Ordering::Relaxed)
}

/// Wait until no shard task runs: each has handled what was queued for it
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

/// Start a shard task, optionally with an instance already built (the one
/// that proved the plugin instantiates). Its log lines go where the spec
/// says.
pub fn spawn(spec: Arc<ShardSpec>, instance: Option<Instance>) -> ShardHandle {
    use tracing::instrument::WithSubscriber as _;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let me = tx.downgrade();
    match spec.base.log.clone() {
        Some(dispatch) => tokio::spawn(run(spec, instance, rx, me).with_subscriber(dispatch)),
        None => tokio::spawn(run(spec, instance, rx, me)),
    };
    ShardHandle { tx }
}

/// Counts a shard task as live for as long as it runs.
struct LiveShard(Arc<Health>);

impl LiveShard {
    fn new(health: Arc<Health>) -> LiveShard {
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

async fn run(
    spec: Arc<ShardSpec>,
    mut instance: Option<Instance>,
    mut rx: mpsc::Receiver<Request>,
    me: mpsc::WeakSender<Request>,
) {
    let _live = LiveShard::new(spec.base.health.clone());
    let mut times = CallTimes::new(spec.base.name.clone());
    let mut moved = Moved::default();
    // One sleep, re-armed only when the earliest timer changes: a plugin
    // without timers never touches it.
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut armed: Option<std::time::Instant> = None;
    loop {
        let due = instance
            .as_ref()
            .and_then(|i| i.store.data().timers.next_due());
        if due != armed {
            if let Some(at) = due {
                sleep.as_mut().reset(at.into());
            }
            armed = due;
        }
        let req = tokio::select! {
            req = rx.recv() => match req {
                Some(req) => req,
                None => break,
            },
            () = &mut sleep, if armed.is_some() => {
                armed = None;
                fire_due(&spec, &mut instance, &mut times).await;
                continue;
            }
        };
        let req = match req {
            Request::Flush { done } => {
                let _ = done.send(());
                continue;
            }
            Request::HandTimers { to } => {
                let timers = instance
                    .as_mut()
                    .map(|i| i.store.data_mut().timers.take(None))
                    .unwrap_or_default();
                if !timers.is_empty() {
                    let _ = to.send(Request::TakeTimers { timers }).await;
                }
                continue;
            }
            Request::Release {
                conn,
                to,
                version,
                reply,
            } => {
                let served = instance.as_mut().and_then(|i| {
                    let data = i.store.data_mut();
                    let mut served = data.conns.remove(&conn)?;
                    served.kept.timers = data.timers.take(Some(conn));
                    Some(served)
                });
                let _ =
                    reply.send(adopt::release(&spec, &mut moved, conn, served, to, version).await);
                continue;
            }
            req => req,
        };
        let req = match moved.forward(req, instance.as_ref()) {
            Some(req) => req,
            None => continue,
        };
        if rx.is_empty() {
            moved.prune(&spec.base.connections, &me);
        }
        if instance.is_none() {
            if spec.base.health.quarantined().is_some() {
                refuse(&spec.base.name, req, ConnectOutcome::Failed);
                continue;
            }
            match spec.instantiate().await {
                Ok(i) => instance = Some(i),
                Err(e) if super::pool::host_resource(&e) => {
                    super::pool::note_refused(&spec.base.name, &summary(&e));
                    refuse(&spec.base.name, req, ConnectOutcome::NoRoom);
                    continue;
                }
                Err(e) => {
                    let why = crate::text::one_line(&format!("{e:#}"));
                    tracing::error!(
                        plugin = &*spec.base.name,
                        "cannot instantiate plugin: {why}"
                    );
                    crate::metrics::global().failed(&spec.base.name, "instantiate");
                    event(&spec, Kind::Instantiate, &summary(&e));
                    failed(&spec, &why);
                    refuse(&spec.base.name, req, ConnectOutcome::Failed);
                    continue;
                }
            }
        }
        let Some(inst) = instance.as_mut() else {
            continue;
        };
        let started = times.start(req.export());
        let result = handle(&spec, inst, req, &me).await;
        calls::finish(started);
        if let Err((conn, e)) = result {
            if let Some(broken) = instance.take() {
                instance = adopt::recover(&spec, broken, conn, e).await;
            }
        }
    }
}

/// Fire the instance's timers that are due (at most a batch, so requests
/// are not kept waiting by a storm), calling `on-timer`. A call that fails
/// is handled as any failed call (the timer's connection, if any, pays).
async fn fire_due(spec: &ShardSpec, instance: &mut Option<Instance>, times: &mut CallTimes) {
    const BATCH: usize = 64;
    let now = std::time::Instant::now();
    for _ in 0..BATCH {
        let Some(inst) = instance.as_mut() else {
            return;
        };
        let Some((conn, token)) = inst.store.data_mut().timers.pop_due(now) else {
            return;
        };
        if !inst.exports.takes_timers() {
            crate::metrics::global().timers(&spec.base.name, "dropped", 1);
            continue;
        }
        crate::metrics::global().timers(&spec.base.name, "fired", 1);
        inst.start_call(spec.base.call_timeout);
        inst.store.data().log_tags.set_conn(conn);
        let started = times.start(Some(6));
        let result = call!(inst, timer_handler.call_on_timer(conn, token)).unwrap_or(Ok(()));
        calls::finish(started);
        if let Err(e) = result {
            if let Some(broken) = instance.take() {
                // Connection ids start at 1: a plugin timer closes none.
                *instance = adopt::recover(spec, broken, conn.unwrap_or(0), e).await;
            }
        }
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

async fn handle(
    spec: &ShardSpec,
    inst: &mut Instance,
    req: Request,
    me: &mpsc::WeakSender<Request>,
) -> Result<(), (u64, wasmtime::Error)> {
    inst.start_call(spec.base.call_timeout);
    inst.store.data().log_tags.set_conn(req.conn());
    if let Request::Adopt {
        conn,
        served,
        version,
    } = req
    {
        return adopt::adopt(spec, inst, conn, *served, Some((version, me)))
            .await
            .map_err(|e| (conn, e));
    }
    match req {
        Request::Connect {
            conn,
            scope,
            identity,
            outbox,
            reply,
        } => {
            let kept = Kept {
                path: scope.path.clone(),
                params: scope.params.clone(),
                identity,
                attachment: Default::default(),
                timers: Vec::new(),
            };
            inst.store
                .data_mut()
                .conns
                .insert(conn, Served { outbox, kept });
            match call!(inst, handler.call_on_connect(conn, &scope)) {
                None => Ok(()),
                Some(Ok(Ok(accept))) => {
                    let _ = reply.send(ConnectOutcome::Accept(accept));
                    Ok(())
                }
                Some(Ok(Err(reject))) => {
                    inst.store.data_mut().conns.remove(&conn);
                    inst.store.data_mut().timers.take(Some(conn));
                    let _ = reply.send(ConnectOutcome::Reject(reject));
                    Ok(())
                }
                Some(Err(e)) => {
                    inst.store.data_mut().conns.remove(&conn);
                    inst.store.data_mut().timers.take(Some(conn));
                    let _ = reply.send(ConnectOutcome::Failed);
                    Err((conn, e))
                }
            }
        }
        Request::Message { conn, message } => {
            // A connection unknown here was served by an instance that has
            // since failed; it is already being closed.
            if !inst.store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            call!(inst, handler.call_on_message(conn, &message))
                .unwrap_or(Ok(()))
                .map_err(|e| (conn, e))
        }
        Request::Disconnect { conn, info } => {
            if !inst.store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            let r = call!(inst, handler.call_on_disconnect(conn, &info)).unwrap_or(Ok(()));
            inst.store.data_mut().conns.remove(&conn);
            inst.store.data_mut().timers.take(Some(conn));
            r.map_err(|e| (conn, e))
        }
        Request::Event { conn, group, event } => {
            if !inst.store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            let Some(r) = call!(
                inst,
                event_handler.call_on_event(conn, group.as_deref(), &event)
            ) else {
                spec.base
                    .connections
                    .traffic
                    .events_unhandled
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            r.map_err(|e| (conn, e))
        }
        Request::Gap { conn, group, lost } => {
            if !inst.store.data().conns.contains_key(&conn) {
                return Ok(());
            }
            call!(inst, event_handler.call_on_gap(conn, &group, lost))
                .unwrap_or(Ok(()))
                .map_err(|e| (conn, e))
        }
        Request::Flush { done } => {
            let _ = done.send(());
            Ok(())
        }
        // Handled before an instance is needed (release) or above (adopt).
        Request::Release { reply, .. } => {
            let _ = reply.send(Released::NotHeld);
            Ok(())
        }
        Request::Adopt { .. } => Ok(()),
        Request::TakeTimers { timers } => {
            let dropped = inst.store.data_mut().timers.put(None, timers);
            if dropped > 0 {
                crate::metrics::global().timers(&spec.base.name, "dropped", dropped as u64);
            }
            Ok(())
        }
        Request::HandTimers { .. } => Ok(()),
    }
}
