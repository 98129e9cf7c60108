//! A connection's outbound queue: what plugins send waits here until the
//! connection task writes it. Bounded in messages and bytes, so a client that
//! stops reading costs a fixed amount of memory before it is closed.
//!
//! It lives on the runtime's floor because the runtime fills it (a plugin's
//! `send` and `close`, a failed shard's 1011) while the server only drains
//! it; its payloads are plain bytes, turned into WebSocket frames by the
//! connection task's writer, so nothing here knows the transport.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::runtime::bindings::Message;

/// The payload of a text message: UTF-8 bytes that can be shared between
/// queues without a copy (a group send will queue one buffer for every
/// member). Only built from a `str`, so it is always valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(Bytes);

impl Text {
    /// The text's bytes, for the writer to frame.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The text itself.
    pub fn as_str(&self) -> &str {
        // Built only from `str`s; the fallback cannot be reached.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Bytes> for Text {
    type Error = std::str::Utf8Error;

    /// Text from bytes received from elsewhere (another host), checked once.
    fn try_from(b: Bytes) -> Result<Text, Self::Error> {
        std::str::from_utf8(&b)?;
        Ok(Text(b))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Bytes::from(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

/// One item for the connection task to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text message.
    Text(Text),
    /// A binary message.
    Binary(Bytes),
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
            Outbound::Text(t) => t.len(),
            Outbound::Binary(b) => b.len(),
            Outbound::Ping => 0,
            Outbound::Close { reason, .. } => reason.len() + 2,
        }
    }
}

impl From<Message> for Outbound {
    fn from(m: Message) -> Self {
        match m {
            Message::Text(t) => Outbound::Text(t.into()),
            Message::Binary(b) => Outbound::Binary(b.into()),
        }
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
        self.queue(item, true)
    }

    /// Queue a data item if there is room; a full queue refuses it without
    /// marking the connection as a slow reader (group traffic under the
    /// `drop` policy: the item is lost for this recipient, and counted).
    pub fn offer(&self, item: Outbound) -> Result<(), PushError> {
        self.queue(item, false)
    }

    fn queue(&self, item: Outbound, overflow: bool) -> Result<(), PushError> {
        let mut s = self.lock();
        if s.closed {
            return Err(PushError::Closed);
        }
        let len = item.len();
        let is_close = matches!(item, Outbound::Close { .. });
        let is_control = is_close || matches!(item, Outbound::Ping);
        if !is_control && (s.queue.len() >= self.max_messages || s.bytes + len > self.max_bytes) {
            if overflow {
                s.overflowed = true;
                drop(s);
                self.notify.notify_one();
            }
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
        Outbound::Text(s.into())
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
    fn an_offer_that_does_not_fit_leaves_the_connection_open() {
        let q = Outbox::new(1, 10);
        assert_eq!(q.offer(text("a")), Ok(()));
        assert_eq!(q.offer(text("b")), Err(PushError::Full));
        let mut b = Batch::default();
        q.take_now(&mut b);
        assert_eq!(b.items, vec![text("a")]);
        assert!(!b.overflowed, "an offer never marks a slow reader");
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
