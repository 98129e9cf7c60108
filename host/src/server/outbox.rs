//! A connection's outbound queue: what plugins send waits here until the
//! connection task writes it. Bounded in messages and bytes, so a client that
//! stops reading costs a fixed amount of memory before it is closed.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::runtime::bindings::Message;

/// One item for the connection task to write.
#[derive(Debug)]
pub enum Outbound {
    /// A data message.
    Message(WsMessage),
    /// A keepalive ping (queued by the host, never by a plugin).
    Ping,
    /// Start the close handshake.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

impl Outbound {
    fn len(&self) -> usize {
        match self {
            Outbound::Message(m) => m.len(),
            Outbound::Ping => 0,
            Outbound::Close { reason, .. } => reason.len() + 2,
        }
    }
}

impl From<Message> for Outbound {
    fn from(m: Message) -> Self {
        Outbound::Message(match m {
            Message::Text(t) => WsMessage::Text(t.into()),
            Message::Binary(b) => WsMessage::Binary(b.into()),
        })
    }
}

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The connection is closing or gone.
    Closed,
    /// The queue is at its message or byte limit.
    Full,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Outbound>,
    bytes: usize,
    /// No more pushes: a close was queued or the connection ended.
    closed: bool,
    /// A push was refused for lack of room; the connection task closes the
    /// connection as a slow reader.
    overflowed: bool,
}

/// The queue shared by a connection task and the shard serving it.
#[derive(Debug)]
pub struct Outbox {
    /// Items, byte count and flags.
    state: Mutex<State>,
    /// Wakes the connection task when something arrives.
    notify: Notify,
    /// Message limit.
    max_messages: usize,
    /// Byte limit.
    max_bytes: usize,
}

/// What the connection task takes from the queue in one go.
#[derive(Debug, Default)]
pub struct Batch {
    /// Items in order.
    pub items: Vec<Outbound>,
    /// A push overflowed the queue since the last take.
    pub overflowed: bool,
}

impl Outbox {
    /// An empty queue with the given limits.
    pub fn new(max_messages: usize, max_bytes: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            max_messages,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every update is a single push or swap), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue an item. A close or ping is always accepted while open (a close
    /// ends the queue); data counts against the limits.
    pub fn push(&self, item: Outbound) -> Result<(), PushError> {
        let mut s = self.lock();
        if s.closed {
            return Err(PushError::Closed);
        }
        let len = item.len();
        let is_close = matches!(item, Outbound::Close { .. });
        let is_control = is_close || matches!(item, Outbound::Ping);
        if !is_control && (s.queue.len() >= self.max_messages || s.bytes + len > self.max_bytes) {
            s.overflowed = true;
            drop(s);
            self.notify.notify_one();
            return Err(PushError::Full);
        }
        s.closed |= is_close;
        s.bytes += len;
        s.queue.push_back(item);
        drop(s);
        self.notify.notify_one();
        Ok(())
    }

    /// Refuse every later push (the connection is ending).
    pub fn shut(&self) {
        self.lock().closed = true;
    }

    /// Take everything queued, waiting until there is something.
    pub async fn take(&self, into: &mut Batch) {
        loop {
            {
                let mut s = self.lock();
                if !s.queue.is_empty() || s.overflowed {
                    into.items.extend(s.queue.drain(..));
                    into.overflowed = std::mem::take(&mut s.overflowed);
                    s.bytes = 0;
                    return;
                }
            }
            self.notify.notified().await;
        }
    }

    /// Take whatever is queued now without waiting.
    pub fn take_now(&self, into: &mut Batch) {
        let mut s = self.lock();
        into.items.extend(s.queue.drain(..));
        into.overflowed = std::mem::take(&mut s.overflowed);
        s.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Outbound {
        Outbound::Message(WsMessage::Text(s.into()))
    }

    #[test]
    fn bounded_by_messages_and_bytes() {
        let q = Outbox::new(2, 10);
        assert_eq!(q.push(text("abc")), Ok(()));
        assert_eq!(q.push(text("abcdefghij")), Err(PushError::Full));
        assert_eq!(q.push(text("abc")), Ok(()));
        assert_eq!(q.push(text("a")), Err(PushError::Full));
        let mut b = Batch::default();
        q.take_now(&mut b);
        assert_eq!(b.items.len(), 2);
        assert!(b.overflowed);
        assert_eq!(q.push(text("abcdefghij")), Ok(()));
    }

    #[test]
    fn close_ends_the_queue() {
        let q = Outbox::new(1, 1);
        assert_eq!(q.push(text("a")), Ok(()));
        assert_eq!(
            q.push(Outbound::Close {
                code: 1000,
                reason: "bye".into()
            }),
            Ok(())
        );
        assert_eq!(q.push(text("a")), Err(PushError::Closed));
    }
}
