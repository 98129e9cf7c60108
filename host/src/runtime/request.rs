//! What a shard is asked to do, and the handle that asks: the requests of
//! its inbox (calls into the plugin, and the hand-over of a connection from
//! one instance to another) and what they answer.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::bindings::{Accept, CloseInfo, Message, Reject, Scope};
use super::identity::Identity;
use super::outbox::{Outbound, Outbox};
use super::serve::{Now, Shared};
use super::state::Served;
use crate::close;

/// What a plugin answered to `on-connect`.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Upgrade.
    Accept(Accept),
    /// Answer with this HTTP response.
    Reject(Reject),
    /// The plugin failed (trap, deadline, no instance): answer 500.
    Failed,
    /// The host had no room for an instance (the per-connection pool is
    /// full, or memory or mappings ran out): answer 503. Not the plugin's
    /// failure.
    NoRoom,
}

/// A request to a shard.
pub enum Request {
    /// Call `on-connect`; the connection is registered with the instance
    /// first, so the plugin may send to it at once.
    Connect {
        /// Connection id.
        conn: u64,
        /// What the plugin learns about the request. Boxed, as is
        /// `Adopt`'s `served`: a channel's first block holds 32 requests,
        /// each as large as the largest variant, and a per-connection
        /// instance's inbox is made for every connection.
        scope: Box<Scope>,
        /// Who the handshake established it is; `None` when anonymous.
        identity: Option<Arc<Identity>>,
        /// Where the plugin's sends for this connection go.
        outbox: Arc<Outbox>,
        /// Where the answer goes.
        reply: oneshot::Sender<ConnectOutcome>,
    },
    /// Call `on-message`.
    Message {
        /// Connection id.
        conn: u64,
        /// The message.
        message: Message,
    },
    /// Call `on-disconnect` and forget the connection.
    Disconnect {
        /// Connection id.
        conn: u64,
        /// How it ended.
        info: CloseInfo,
    },
    /// Call `on-event`, if the plugin exports `event-handler`.
    Event {
        /// Connection id.
        conn: u64,
        /// The group it was sent to; `None` for a send to the address.
        group: Option<Arc<str>>,
        /// The event, shared by every member it goes to.
        event: Arc<Message>,
    },
    /// Call `on-gap`, if the plugin exports `event-handler`.
    Gap {
        /// Connection id.
        conn: u64,
        /// The group that lost traffic.
        group: Arc<str>,
        /// How many messages and events were lost.
        lost: u64,
    },
    /// Hand connection `conn` to the instance behind `to` (of plugin
    /// version `version`): take it out of this instance without a call,
    /// queue [`Request::Adopt`] for `to`, then answer `reply`. Every
    /// request queued here for it before this one is handled first.
    Release {
        /// Connection id.
        conn: u64,
        /// The shard that takes it over.
        to: ShardHandle,
        /// The version that shard runs.
        version: u64,
        /// Answered once the hand-over is queued (or cannot happen).
        reply: oneshot::Sender<Released>,
    },
    /// Serve connection `conn`, which another instance served: call
    /// `on-adopt` (when exported) with what was kept for it.
    Adopt {
        /// Connection id.
        conn: u64,
        /// Its outbox and what moves with it.
        served: Box<Served>,
        /// The version this shard runs, for the connection registry.
        version: u64,
    },
    /// Send the plugin's own timers (not a connection's) to `to`: the
    /// version this shard runs was replaced by one that adopts.
    HandTimers {
        /// A shard of the new version.
        to: ShardHandle,
    },
    /// Hold these plugin timers (due time, token), handed over by a shard
    /// of the version this one replaced.
    TakeTimers {
        /// The timers.
        timers: Vec<(std::time::Instant, u64)>,
    },
    /// The instance's earliest timer moved closer in a call served outside
    /// the shard task: set the task's sleep again.
    Rearm,
    /// Answer once every earlier request has been handled (the test harness
    /// waits on this so that a call's effects are visible when it returns).
    Flush {
        /// Signalled when the shard reaches this request.
        done: oneshot::Sender<()>,
    },
}

impl Request {
    /// The connection the request is for, if any (log lines of the call
    /// carry it).
    pub(super) fn conn(&self) -> Option<u64> {
        match self {
            Request::Connect { conn, .. }
            | Request::Message { conn, .. }
            | Request::Disconnect { conn, .. }
            | Request::Event { conn, .. }
            | Request::Gap { conn, .. }
            | Request::Release { conn, .. }
            | Request::Adopt { conn, .. } => Some(*conn),
            Request::Flush { .. }
            | Request::Rearm
            | Request::HandTimers { .. }
            | Request::TakeTimers { .. } => None,
        }
    }

    /// The export this request calls, as an index of
    /// [`calls::EXPORTS`](super::calls::EXPORTS).
    pub(super) fn export(&self) -> Option<usize> {
        match self {
            Request::Connect { .. } => Some(0),
            Request::Message { .. } => Some(1),
            Request::Disconnect { .. } => Some(2),
            Request::Event { .. } => Some(3),
            Request::Gap { .. } => Some(4),
            Request::Adopt { .. } => Some(5),
            Request::Release { .. }
            | Request::Flush { .. }
            | Request::Rearm
            | Request::HandTimers { .. }
            | Request::TakeTimers { .. } => None,
        }
    }
}

/// Answer a request that cannot reach an instance; a connect gets
/// `outcome`, a connection handed over is closed (1011, or 1013 when the
/// host has no room for an instance).
pub(super) fn refuse(plugin: &str, req: Request, outcome: ConnectOutcome) {
    match req {
        Request::Adopt { served, .. } => {
            let (code, reason) = match outcome {
                ConnectOutcome::NoRoom => (close::TRY_AGAIN_LATER, "no room for the plugin"),
                _ => (close::INTERNAL_ERROR, "plugin unavailable"),
            };
            crate::metrics::global().moved(plugin, "lost");
            let _ = served.outbox.push(Outbound::Close {
                code,
                reason: reason.into(),
            });
        }
        Request::Release { reply, .. } => {
            let _ = reply.send(Released::NotHeld);
        }
        Request::Connect { reply, .. } => {
            let _ = reply.send(outcome);
        }
        Request::Flush { done } => {
            let _ = done.send(());
        }
        Request::Message { .. }
        | Request::Disconnect { .. }
        | Request::Event { .. }
        | Request::Gap { .. }
        | Request::Rearm
        | Request::HandTimers { .. }
        | Request::TakeTimers { .. } => {}
    }
}

/// What a shard answers to [`Request::Release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The connection is out of this instance; its adoption is queued on
    /// the new shard, behind nothing of its own.
    Moved,
    /// This instance does not serve it (it failed, and the connection is
    /// being closed): it stays where it is.
    NotHeld,
}

/// The way to a shard: its instance, for a caller that may serve a request
/// itself, and its inbox. The shard ends when every handle is dropped (its
/// plugin version is unloaded and its connections have closed) and its
/// task, if it has one, has served what was queued.
#[derive(Clone)]
pub struct ShardHandle {
    /// The instance, the count of queued requests and the inbox.
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardHandle").finish_non_exhaustive()
    }
}

/// A handle that does not keep the shard alive: the shard's own, for
/// pointing the registry at itself.
pub(super) struct WeakShard(std::sync::Weak<Shared>);

impl WeakShard {
    /// The handle, unless the shard has stopped.
    pub(super) fn upgrade(&self) -> Option<ShardHandle> {
        Some(ShardHandle {
            shared: self.0.upgrade()?,
        })
    }
}

impl ShardHandle {
    /// A handle on the shard that `shared` holds.
    pub(super) fn new(shared: Arc<Shared>) -> ShardHandle {
        ShardHandle { shared }
    }

    /// What the handles (and the shard task) share.
    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// A handle that does not keep the shard alive.
    pub(super) fn downgrade(&self) -> WeakShard {
        WeakShard(Arc::downgrade(&self.shared))
    }

    /// The inbox, made (with the task that serves it) by the first request
    /// queued.
    fn inbox(&self) -> &mpsc::Sender<Request> {
        self.shared
            .inbox
            .get_or_init(|| super::shard::start_task(&self.shared))
    }

    /// Queue a request, waiting while the inbox is full. Fails only if the
    /// shard task is gone.
    pub async fn send(&self, req: Request) -> Result<(), ShardGone> {
        self.queue(req).await.map_err(|_| ShardGone)
    }

    /// Queue a request, waiting while the inbox is full; the request comes
    /// back if the shard task is gone.
    pub(super) async fn queue(&self, req: Request) -> Result<(), Request> {
        self.shared.queued.raise();
        self.inbox().send(req).await.map_err(|e| {
            self.shared.queued.lower();
            e.0
        })
    }

    /// Queue a request if the inbox has room, without waiting: group
    /// traffic never waits on a busy shard.
    pub fn offer(&self, req: Request) -> super::delivery::Delivered {
        use super::delivery::Delivered;
        self.shared.queued.raise();
        match self.inbox().try_send(req) {
            Ok(()) => Delivered::Queued,
            Err(e) => {
                self.shared.queued.lower();
                match e {
                    mpsc::error::TrySendError::Full(_) => Delivered::Dropped,
                    mpsc::error::TrySendError::Closed(_) => Delivered::Gone,
                }
            }
        }
    }

    /// Wait for room in the inbox, then queue with the slot. Unlike
    /// [`send`](Self::send), nothing is held while waiting, which keeps the
    /// future of every idle connection small.
    pub async fn reserve(&self) -> Result<Slot<'_>, ShardGone> {
        let permit = self.inbox().reserve().await.map_err(|_| ShardGone)?;
        Ok(Slot {
            permit,
            queued: &self.shared.queued,
        })
    }

    /// The shard, locked for the caller to serve a request from its own
    /// task, if it is idle: no call runs and nothing queued is unserved
    /// (so nothing the caller queued before is overtaken). `None`: queue
    /// the request instead. One task instead of two, and no hop through
    /// the inbox, for a connection alone on an idle shard (and a
    /// per-connection instance is built by its connection's task).
    pub fn now(&self) -> Option<Now> {
        if !self.shared.idle() {
            return None;
        }
        let core = self.shared.core.clone().try_lock_owned().ok()?;
        // Checked again under the lock: the shard task lowers the count
        // only once a request is served, while it holds the lock.
        if !self.shared.idle() {
            return None;
        }
        Some(Now::new(self.clone(), core))
    }

    /// Serve `req` from the caller's task if the shard is idle
    /// ([`now`](Self::now)), else queue it, waiting while the inbox is
    /// full. Fails only if the shard task is gone.
    pub async fn deliver(&self, req: Request) -> Result<(), ShardGone> {
        match self.now() {
            Some(now) => {
                now.serve(req).await;
                Ok(())
            }
            None => self.send(req).await,
        }
    }

    /// True when both handles reach the same shard.
    pub fn same(&self, other: &ShardHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// Room for one request in a shard's inbox.
pub struct Slot<'a> {
    /// The room.
    permit: mpsc::Permit<'a, Request>,
    /// The shard's count of queued requests.
    queued: &'a super::serve::Queued,
}

impl Slot<'_> {
    /// Queue `req`.
    pub fn send(self, req: Request) {
        self.queued.raise();
        self.permit.send(req);
    }
}

/// The shard task has ended.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the plugin shard has stopped")]
pub struct ShardGone;
