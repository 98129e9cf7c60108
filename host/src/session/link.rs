//! Which version and shard serve a connection now. A reload changes it:
//! the connection's task watches its version's [`Fate`] and, when a new
//! version takes its connections over, hands this one across itself, so
//! that nothing it reads from the socket meanwhile overtakes what the old
//! version still has queued.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::plugins::{Fate, OnVersion, Plugin};
use crate::runtime::shard::{Released, Request, ShardHandle};

/// The version and shard serving one connection.
#[derive(Debug)]
pub struct Link {
    /// The version serving it, counted in its live connections.
    pub plugin: OnVersion,
    /// Its shard: messages go here.
    pub shard: ShardHandle,
    /// The version's fate, watched for a reload or a drain's end.
    fate: watch::Receiver<Fate>,
}

/// What a connection does after its version's fate changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Go on (it stays, or it moved to the new version).
    Stay,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

impl Link {
    /// A connection admitted by `plugin` and served by `shard`.
    pub fn new(plugin: Arc<Plugin>, shard: ShardHandle) -> Link {
        let fate = plugin.watch();
        Link {
            plugin: OnVersion::new(plugin),
            shard,
            fate,
        }
    }

    /// A watch on the version's fate of its own, for [`changed`]: the
    /// connection task keeps one wait on it across all its messages
    /// instead of starting (and dropping) one per message. Taken after
    /// [`Link::follow`], it has seen what the link has; the first one has
    /// seen nothing, so a reload decided during admission is not missed.
    pub fn fate(&self) -> watch::Receiver<Fate> {
        self.fate.clone()
    }

    /// Act on the version's fate for connection `conn`: hand it over to a
    /// version that takes it (and to that version's successor, if it was
    /// replaced meanwhile), or say whether to close.
    pub async fn follow(&mut self, conn: u64) -> Turn {
        loop {
            let fate = self.fate.borrow_and_update().clone();
            let next = match fate {
                Fate::Serving | Fate::Draining => return Turn::Stay,
                Fate::Close(code, reason) => return Turn::Close(code, reason),
                Fate::Replaced(next) => next,
            };
            let Some(_turn) = next.move_turn().await else {
                return Turn::Stay;
            };
            let to = next.shard_for(conn);
            let (reply, answer) = oneshot::channel();
            let release = Request::Release {
                conn,
                to: to.clone(),
                version: next.version,
                reply,
            };
            if self.shard.send(release).await.is_err() {
                return Turn::Stay;
            }
            match answer.await {
                Ok(Released::Moved) => {
                    self.fate = next.watch();
                    self.plugin = OnVersion::new(next.clone());
                    self.shard = to;
                }
                // Its instance failed and is closing it: nothing to move.
                Ok(Released::NotHeld) | Err(_) => return Turn::Stay,
            }
        }
    }
}

/// Wait until a fate taken with [`Link::fate`] changes.
pub async fn changed(mut fate: watch::Receiver<Fate>) {
    if fate.changed().await.is_err() {
        // The version holds the sender as long as its link holds the
        // version: never reached; wait forever rather than spin.
        std::future::pending::<()>().await;
    }
}
