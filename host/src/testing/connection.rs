//! An admitted test connection, seen from the client's side.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{CloseFrame, HarnessError, Message, Output};
use crate::close;
use crate::runtime::bindings::CloseInfo;
use crate::runtime::outbox::{Batch, Outbound, Outbox};
use crate::runtime::shard::{Request, ShardHandle};
use crate::session::{Session, Upgrade};

/// An HTTP refusal, as the server would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status (400-599; the server's 500 for anything else).
    pub status: u16,
    /// Response headers the server would send (reserved ones dropped).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
}

/// What `on-connect` led to.
#[derive(Debug)]
pub enum ConnectResult {
    /// Upgraded: talk to the plugin through this.
    Accepted(TestConnection),
    /// Refused with an HTTP response.
    Rejected(Rejection),
    /// The plugin failed (trap, deadline) or answered something the server
    /// refuses (a subprotocol the client did not offer): the server answers
    /// 500. Carries the reason the host logged.
    Failed(String),
}

impl ConnectResult {
    /// The connection, or an error saying why there is none.
    pub fn accepted(self) -> Result<TestConnection, HarnessError> {
        match self {
            ConnectResult::Accepted(c) => Ok(c),
            ConnectResult::Rejected(r) => Err(HarnessError::NotAccepted(format!(
                "rejected with {} {:?}",
                r.status, r.body
            ))),
            ConnectResult::Failed(why) => Err(HarnessError::NotAccepted(format!("failed: {why}"))),
        }
    }

    /// The refusal, or an error if the connection was accepted or failed.
    pub fn rejected(self) -> Result<Rejection, HarnessError> {
        match self {
            ConnectResult::Rejected(r) => Ok(r),
            ConnectResult::Accepted(_) => Err(HarnessError::NotRejected),
            ConnectResult::Failed(why) => Err(HarnessError::NotAccepted(format!("failed: {why}"))),
        }
    }
}

/// An accepted connection, seen from the client's side.
///
/// Dropping it without [`disconnect`](TestConnection::disconnect) still
/// gives the plugin its `on-disconnect` (code 1006), as the server would
/// for a client that vanished.
#[derive(Debug)]
pub struct TestConnection {
    /// The connection id.
    id: u64,
    /// The shard serving it (the session's).
    shard: ShardHandle,
    /// Its outbound queue (the session's).
    outbox: Arc<Outbox>,
    /// What admission gave; taken when the connection ends.
    session: Option<Session>,
    /// Taken from the outbox but not yet received.
    pending: VecDeque<Output>,
    /// The close the plugin (or the host, on failure) started.
    closed: Option<CloseFrame>,
    /// The subprotocol the plugin accepted with.
    subprotocol: Option<String>,
    /// The extra headers of the 101.
    headers: Vec<(String, String)>,
}

impl TestConnection {
    /// The client's side of an admitted session.
    pub(super) fn new(session: Session, upgrade: Upgrade) -> TestConnection {
        TestConnection {
            id: session.id,
            shard: session.link.shard.clone(),
            outbox: session.outbox.clone(),
            session: Some(session),
            pending: VecDeque::new(),
            closed: None,
            subprotocol: upgrade.subprotocol,
            headers: upgrade.headers,
        }
    }

    /// The connection id the plugin sees.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The subprotocol the plugin accepted with.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The extra headers of the 101 response (reserved ones dropped, as the
    /// server does).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    async fn flush(&self) -> Result<(), HarnessError> {
        let (done, flushed) = oneshot::channel();
        self.shard
            .send(Request::Flush { done })
            .await
            .map_err(|_| HarnessError::ShardGone)?;
        flushed.await.map_err(|_| HarnessError::ShardGone)
    }

    /// Move whatever the plugin queued into `pending`.
    fn take_now(&mut self) {
        let mut batch = Batch::default();
        self.outbox.take_now(&mut batch);
        self.absorb(batch);
    }

    fn absorb(&mut self, batch: Batch) {
        for item in batch.items {
            let out = match item {
                Outbound::Text(t) => Output::Message(Message::Text(t.as_str().to_string())),
                Outbound::Binary(b) => Output::Message(Message::Binary(b.to_vec())),
                Outbound::Ping => continue,
                Outbound::Close { code, reason } => {
                    let frame = CloseFrame { code, reason };
                    self.closed.get_or_insert(frame.clone());
                    Output::Close(frame)
                }
            };
            self.pending.push_back(out);
        }
    }

    /// Deliver a message to `on-message`; returns once the plugin handled
    /// it. Refused once the plugin has closed the connection (the server
    /// stops reading then).
    pub async fn send(&mut self, message: Message) -> Result<(), HarnessError> {
        self.take_now();
        if let Some(c) = &self.closed {
            return Err(HarnessError::ClosedByPlugin {
                code: c.code,
                reason: c.reason.clone(),
            });
        }
        self.shard
            .send(Request::Message {
                conn: self.id,
                message: message.into(),
            })
            .await
            .map_err(|_| HarnessError::ShardGone)?;
        self.flush().await
    }

    /// Send a text message.
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), HarnessError> {
        self.send(Message::Text(text.into())).await
    }

    /// Send a binary message.
    pub async fn send_binary(&mut self, bytes: impl Into<Vec<u8>>) -> Result<(), HarnessError> {
        self.send(Message::Binary(bytes.into())).await
    }

    /// The next thing the plugin sent: a message or a close, waiting at
    /// most `timeout`.
    pub async fn receive_output(&mut self, timeout: Duration) -> Result<Output, HarnessError> {
        if self.pending.is_empty() {
            self.take_now();
        }
        if self.pending.is_empty() {
            let mut batch = Batch::default();
            tokio::time::timeout(timeout, self.outbox.take(&mut batch))
                .await
                .map_err(|_| HarnessError::Timeout(timeout))?;
            self.absorb(batch);
        }
        self.pending
            .pop_front()
            .ok_or(HarnessError::Timeout(timeout))
    }

    /// The next message the plugin sent, waiting at most `timeout`. A close
    /// instead is [`HarnessError::ClosedByPlugin`].
    pub async fn receive(&mut self, timeout: Duration) -> Result<Message, HarnessError> {
        match self.receive_output(timeout).await? {
            Output::Message(m) => Ok(m),
            Output::Close(c) => Err(HarnessError::ClosedByPlugin {
                code: c.code,
                reason: c.reason,
            }),
        }
    }

    /// The next message, which must be text.
    pub async fn receive_text(&mut self, timeout: Duration) -> Result<String, HarnessError> {
        match self.receive(timeout).await? {
            Message::Text(t) => Ok(t),
            other => Err(HarnessError::Unexpected {
                expected: "a text message",
                got: Output::Message(other).to_string(),
            }),
        }
    }

    /// The next message, which must be binary.
    pub async fn receive_binary(&mut self, timeout: Duration) -> Result<Vec<u8>, HarnessError> {
        match self.receive(timeout).await? {
            Message::Binary(b) => Ok(b),
            other => Err(HarnessError::Unexpected {
                expected: "a binary message",
                got: Output::Message(other).to_string(),
            }),
        }
    }

    /// The next output, which must be a close.
    pub async fn receive_close(&mut self, timeout: Duration) -> Result<CloseFrame, HarnessError> {
        match self.receive_output(timeout).await? {
            Output::Close(c) => Ok(c),
            other => Err(HarnessError::Unexpected {
                expected: "a close",
                got: other.to_string(),
            }),
        }
    }

    /// Succeeds if the plugin sends nothing within `timeout`.
    pub async fn receive_nothing(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        match self.receive_output(timeout).await {
            Err(HarnessError::Timeout(_)) => Ok(()),
            Ok(out) => Err(HarnessError::Unexpected {
                expected: "nothing",
                got: out.to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The close the plugin started, if it has (messages queued before it
    /// stay to be received).
    pub fn close_received(&mut self) -> Option<CloseFrame> {
        self.take_now();
        self.closed.clone()
    }

    /// The client closes with `code`; returns once `on-disconnect` ran. If
    /// the plugin closed first, the plugin hears its own close instead
    /// (`by-client` false), as with a well-behaved client.
    pub async fn disconnect(self, code: u16) -> Result<(), HarnessError> {
        self.disconnect_with(code, "").await
    }

    /// Like [`disconnect`](TestConnection::disconnect), with a reason.
    pub async fn disconnect_with(mut self, code: u16, reason: &str) -> Result<(), HarnessError> {
        self.take_now();
        let info = match &self.closed {
            Some(c) => CloseInfo {
                code: c.code,
                reason: c.reason.clone(),
                by_client: false,
            },
            None => CloseInfo {
                code,
                reason: reason.to_string(),
                by_client: true,
            },
        };
        self.finish(info).await
    }

    async fn finish(&mut self, info: CloseInfo) -> Result<(), HarnessError> {
        if let Some(session) = self.session.take() {
            session.finish(info).await;
        }
        self.flush().await
    }
}

impl Drop for TestConnection {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        session.outbox.shut();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(session.finish(CloseInfo {
                code: close::ABNORMAL,
                reason: "test connection dropped".into(),
                by_client: true,
            }));
        }
    }
}
