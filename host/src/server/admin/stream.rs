//! `/events/stream`: the event log as server-sent events, for the console
//! and for `curl -N`. Each event is one `data:` line of the same JSON as
//! `/events` with its `id`, so a browser that reconnects sends
//! `Last-Event-ID` and gets what it missed from the kept events. A reader
//! that falls behind gets a `skipped` event saying how many it lost; the
//! server never waits for a reader. A comment every 15 s keeps proxies from
//! closing a quiet stream and notices a reader that has gone.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL};
use http::Request;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};

use super::{with_body, Answer};
use crate::events::{self, Event, Next, Receiver};

/// A comment this often on a quiet stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The stream's answer: headers now, events as they happen.
pub(super) fn events(req: &Request<Incoming>) -> Answer {
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (missed, rx) = events::global().subscribe(after);
    let reader = Reader {
        greeted: false,
        missed: missed.into(),
        rx,
    };
    let chunks = futures_util::stream::unfold(reader, |mut r| async move {
        let chunk = r.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), r))
    });
    let mut r = with_body(
        200,
        "text/event-stream",
        StreamBody::new(chunks).boxed_unsync(),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// One reader's place in the stream.
struct Reader {
    /// The opening comment has been sent.
    greeted: bool,
    /// Kept events it missed while away, oldest first.
    missed: VecDeque<Arc<Event>>,
    /// Live events.
    rx: Receiver,
}

impl Reader {
    /// The next chunk of the stream; `None` ends it.
    async fn next(&mut self) -> Option<Bytes> {
        if !self.greeted {
            self.greeted = true;
            // Sent at once, so the reader knows the stream is open; the
            // browser retries after 2 s when the server goes away.
            return Some(Bytes::from_static(b": wasmsock events\nretry: 2000\n\n"));
        }
        if let Some(e) = self.missed.pop_front() {
            return Some(encode(&e));
        }
        tokio::select! {
            next = self.rx.next() => match next {
                Next::Event(e) => Some(encode(&e)),
                Next::Skipped(n) => Some(Bytes::from(format!(
                    "event: skipped\ndata: {{\"skipped\":{n}}}\n\n"
                ))),
                Next::Closed => None,
            },
            _ = tokio::time::sleep(KEEPALIVE) => Some(Bytes::from_static(b": keep-alive\n\n")),
        }
    }
}

/// One event in the stream's framing. JSON has no raw line breaks, so it
/// is one `data:` line.
fn encode(e: &Event) -> Bytes {
    let json = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("id: {}\ndata: {json}\n\n", e.id))
}
