//! A shard's instance and what is kept beside it, behind one lock, and how
//! one request is served with it. The shard task takes the lock for each
//! request of its inbox and for its due timers; a connection's own task
//! takes it to serve a message at once when the shard is idle
//! ([`ShardHandle::now`](super::request::ShardHandle::now)), which saves
//! the hop through the inbox and two task wake-ups a message.
//!
//! Order is kept by [`Shared::queued`]: a request is served outside the
//! shard task only when nothing sent to the inbox is still unserved, so
//! nothing a connection queued earlier can be overtaken.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::{mpsc, OwnedMutexGuard};

use super::adopt::{self, Moved};
use super::calls::{self, CallTimes};
use super::request::{refuse, ConnectOutcome, Released, Request, ShardHandle, WeakShard};
use super::shard::{event, failed, summary, LiveShard};
use super::spec::{Instance, ShardSpec};
use super::state::{Kept, Served};
use crate::events::Kind;

/// What a shard's handles (and its task) share.
pub struct Shared {
    /// What the shard's instances are built from.
    pub(super) spec: Arc<ShardSpec>,
    /// The instance and its bookkeeping: whoever calls the plugin holds it.
    pub(super) core: Arc<tokio::sync::Mutex<Core>>,
    /// Requests sent to the inbox and not yet served.
    pub(super) queued: Queued,
    /// The inbox, made with the task that serves it when a request is
    /// first queued: a shard whose connections only ever call it directly
    /// (a per-connection instance without groups or timers) has neither.
    pub(super) inbox: OnceLock<mpsc::Sender<Request>>,
}

impl Shared {
    /// A shard of `spec`, with its first instance if already built.
    pub(super) fn new(spec: Arc<ShardSpec>, instance: Option<Instance>) -> Shared {
        let core = Core {
            instance,
            times: CallTimes::new(spec.base.name.clone()),
            moved: Moved::default(),
            armed: None,
            _live: LiveShard::new(spec.base.health.clone()),
        };
        Shared {
            spec,
            core: Arc::new(tokio::sync::Mutex::new(core)),
            queued: Queued::default(),
            inbox: OnceLock::new(),
        }
    }

    /// Nothing sent to the inbox is waiting or being served.
    pub(super) fn idle(&self) -> bool {
        self.queued.none()
    }
}

/// The count of a shard's requests sent to its inbox and not yet served:
/// raised before each send (and lowered again if the send fails), lowered
/// by the shard task, under the lock, once the request is served. A caller
/// may serve a request itself only while it is zero.
#[derive(Clone, Default)]
pub(super) struct Queued(Arc<AtomicUsize>);

impl Queued {
    /// A request is about to be sent.
    pub(super) fn raise(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// A request sent was served, or its send failed.
    pub(super) fn lower(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }

    /// Nothing sent is waiting or being served.
    pub(super) fn none(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

/// A request served from the caller's own task, holding the shard's lock
/// ([`ShardHandle::now`]).
pub struct Now {
    /// The shard.
    handle: ShardHandle,
    /// Its instance, locked.
    core: OwnedMutexGuard<Core>,
}

impl Now {
    /// The shard behind `handle`, found idle and locked.
    pub(super) fn new(handle: ShardHandle, core: OwnedMutexGuard<Core>) -> Now {
        Now { handle, core }
    }

    /// Serve `req`. Log lines go where the plugin's go from its shard task.
    pub fn serve(self, req: Request) -> Finish {
        use tracing::instrument::WithSubscriber as _;
        let Now { handle, mut core } = self;
        let shared = handle.shared();
        let log = shared.spec.base.log.clone();
        let work = async move {
            core.serve(&shared.spec, req, &handle.downgrade(), false)
                .await;
            if core.needs_rearm() {
                let _ = handle.offer(Request::Rearm);
            }
        };
        Finish(Some(match log {
            Some(dispatch) => Box::pin(work.with_subscriber(dispatch)),
            None => Box::pin(work),
        }))
    }
}

/// A call served outside the shard task, to its end. Dropped before that
/// (its connection ended mid-call), it finishes on a task of its own: a
/// call cut off half-way would leave the instance unusable.
pub struct Finish(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Future for Finish {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(work) = self.0.as_mut() {
            std::task::ready!(work.as_mut().poll(cx));
            self.0 = None;
        }
        Poll::Ready(())
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(work) = self.0.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(work);
            }
        }
    }
}

/// A shard's instance and what is kept beside it.
pub struct Core {
    /// The plugin instance: `None` before the first request (per-connection
    /// mode), after a failure no fresh instance took over, and while the
    /// version is quarantined.
    pub(super) instance: Option<Instance>,
    /// The histograms of its calls' durations.
    times: CallTimes,
    /// Connections released to a new version, for the events that follow
    /// them.
    moved: Moved,
    /// When the shard task's timer sleep is set to wake (`None`: not set).
    pub(super) armed: Option<Instant>,
    /// Counts the shard as live until the instance and its task are gone.
    _live: LiveShard,
}

impl Core {
    /// When the instance's earliest timer is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.instance
            .as_ref()
            .and_then(|i| i.store.data().timers.next_due())
    }

    /// True when the earliest timer is due before the shard task's sleep
    /// ends (a call outside the task set it): the task must set its sleep
    /// again.
    pub(super) fn needs_rearm(&self) -> bool {
        self.next_due()
            .is_some_and(|due| self.armed.is_none_or(|armed| due < armed))
    }

    /// Serve one request. `idle`: the inbox is empty, so connections that
    /// moved away and are no longer linked here can be forgotten.
    pub(super) async fn serve(
        &mut self,
        spec: &ShardSpec,
        req: Request,
        me: &WeakShard,
        idle: bool,
    ) {
        let req = match req {
            Request::Flush { done } => {
                let _ = done.send(());
                return;
            }
            Request::Rearm => return,
            Request::HandTimers { to } => {
                let timers = self
                    .instance
                    .as_mut()
                    .map(|i| i.store.data_mut().timers.take(None))
                    .unwrap_or_default();
                if !timers.is_empty() {
                    let _ = to.send(Request::TakeTimers { timers }).await;
                }
                return;
            }
            Request::Release {
                conn,
                to,
                version,
                reply,
            } => {
                let served = self.instance.as_mut().and_then(|i| {
                    let data = i.store.data_mut();
                    let mut served = data.conns.remove(&conn)?;
                    served.kept.timers = data.timers.take(Some(conn));
                    Some(served)
                });
                let released =
                    adopt::release(spec, &mut self.moved, conn, served, to, version).await;
                let _ = reply.send(released);
                return;
            }
            req => req,
        };
        let Some(req) = self.moved.forward(req, self.instance.as_ref()) else {
            return;
        };
        if idle {
            self.moved.prune(&spec.base.connections, me);
        }
        if self.instance.is_none() {
            if spec.base.health.quarantined().is_some() {
                refuse(&spec.base.name, req, ConnectOutcome::Failed);
                return;
            }
            match spec.instantiate().await {
                Ok(i) => self.instance = Some(i),
                Err(e) if super::pool::host_resource(&e) => {
                    super::pool::note_refused(&spec.base.name, &summary(&e));
                    refuse(&spec.base.name, req, ConnectOutcome::NoRoom);
                    return;
                }
                Err(e) => {
                    let why = crate::text::one_line(&format!("{e:#}"));
                    tracing::error!(
                        plugin = &*spec.base.name,
                        "cannot instantiate plugin: {why}"
                    );
                    crate::metrics::global().failed(&spec.base.name, "instantiate");
                    event(spec, Kind::Instantiate, &summary(&e));
                    failed(spec, &why);
                    refuse(&spec.base.name, req, ConnectOutcome::Failed);
                    return;
                }
            }
        }
        let Some(inst) = self.instance.as_mut() else {
            return;
        };
        let started = self.times.start(req.export());
        let result = handle(spec, inst, req, me).await;
        calls::finish(started);
        if let Err((conn, e)) = result {
            if let Some(broken) = self.instance.take() {
                // Boxed: recovery's state is large and rare, and would
                // otherwise widen every shard task's future.
                self.instance = Box::pin(adopt::recover(spec, broken, conn, e)).await;
            }
        }
    }

    /// Fire the instance's timers that are due (at most a batch, so requests
    /// are not kept waiting by a storm), calling `on-timer`. A call that fails
    /// is handled as any failed call (the timer's connection, if any, pays).
    pub(super) async fn fire_due(&mut self, spec: &ShardSpec) {
        let (instance, times) = (&mut self.instance, &self.times);
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
                    *instance = Box::pin(adopt::recover(spec, broken, conn.unwrap_or(0), e)).await;
                }
            }
        }
    }
}

async fn handle(
    spec: &ShardSpec,
    inst: &mut Instance,
    req: Request,
    me: &WeakShard,
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
        Request::HandTimers { .. } | Request::Rearm => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::Finish;
    use std::future::Future as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A call whose connection's task lets go of it half-way still runs to
    /// its end: the instance is never left inside a call.
    #[tokio::test]
    async fn a_call_dropped_half_way_runs_to_its_end() {
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let ended = Arc::new(AtomicBool::new(false));
        let seen = ended.clone();
        let mut call = Finish(Some(Box::pin(async move {
            let _ = wait.await;
            seen.store(true, Ordering::SeqCst);
            let _ = done_tx.send(());
        })));
        // Started, then left waiting half-way.
        let waker = futures_util::task::noop_waker();
        let polled =
            std::pin::Pin::new(&mut call).poll(&mut std::task::Context::from_waker(&waker));
        assert!(polled.is_pending());
        drop(call);
        assert!(!ended.load(Ordering::SeqCst));
        let _ = go.send(());
        tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
            .await
            .expect("the rest of the call ran on a task of its own")
            .expect("the call finished");
        assert!(ended.load(Ordering::SeqCst));
    }
}
