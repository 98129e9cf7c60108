//! The baseline for wasmsock's group fan-out benchmark: the same stack
//! (tokio and tokio-tungstenite) doing the same job as a wasmsock plugin
//! that joins a group and broadcasts, with no wasm in between.
//!
//! Every connection on `/fanout/{group}` joins the in-memory group `group`
//! before its upgrade is answered (as a wasmsock plugin's `on-connect`
//! does), and each data message it sends is queued for every other member
//! of the group. The message is received once and shared: tungstenite's
//! payloads are reference-counted `Bytes`, so each member's bounded queue
//! gets a clone of the same buffer, and a writer task per connection drains
//! its queue with one flush per batch. A member whose queue is full (it
//! stopped reading) is dropped from the group and closed with 1008, the
//! way wasmsock treats a slow reader, so one stalled client never holds up
//! the rest.
//!
//! Run: `cargo run --release -p ref-broadcast -- [ADDR]` (default
//! 127.0.0.1:0). The first line on stdout is `listening on ADDR`, as with
//! wasmsock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::WebSocketStream;

/// Messages that may wait for one member: wasmsock's default
/// `limits.outbound_queue_messages`, so both servers drop a slow reader at
/// the same point.
const QUEUE: usize = 1024;

/// The path prefix a group name follows.
const PREFIX: &str = "/fanout/";

/// One member as the group sees it: where to queue its messages, and the
/// flag its writer reads to tell an overflow from a normal end.
struct Entry {
    tx: mpsc::Sender<Message>,
    overflowed: Arc<AtomicBool>,
}

/// Every group of the server: group name to members by connection id.
#[derive(Default)]
struct Hub {
    groups: Mutex<HashMap<Arc<str>, HashMap<u64, Entry>>>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, HashMap<u64, Entry>>> {
        // Every update is a single insert or remove: a panic elsewhere
        // cannot leave the map half-changed.
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn join(&self, group: &Arc<str>, id: u64, entry: Entry) {
        self.lock()
            .entry(group.clone())
            .or_default()
            .insert(id, entry);
    }

    fn leave(&self, group: &str, id: u64) {
        let mut groups = self.lock();
        if let Some(members) = groups.get_mut(group) {
            members.remove(&id);
            if members.is_empty() {
                groups.remove(group);
            }
        }
    }

    /// Queue `message` for every member of `group` but `exclude`, without
    /// waiting: a full queue drops its member instead.
    fn broadcast(&self, group: &str, message: &Message, exclude: u64) -> usize {
        let mut groups = self.lock();
        let Some(members) = groups.get_mut(group) else {
            return 0;
        };
        let mut queued = 0;
        let mut full = Vec::new();
        for (id, entry) in members.iter() {
            if *id == exclude {
                continue;
            }
            match entry.tx.try_send(message.clone()) {
                Ok(()) => queued += 1,
                Err(TrySendError::Full(_)) => full.push(*id),
                Err(TrySendError::Closed(_)) => {}
            }
        }
        for id in full {
            if let Some(entry) = members.remove(&id) {
                entry.overflowed.store(true, Ordering::Relaxed);
            }
        }
        queued
    }
}

/// A connection's membership, ended when it is dropped however the
/// connection ends.
struct Membership {
    hub: Arc<Hub>,
    group: Arc<str>,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.group, self.id);
    }
}

fn not_found(path: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(format!("no group at {path}\n")));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// The group named by a request path, `/fanout/NAME`.
fn group_of(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)
        .filter(|g| !g.is_empty() && !g.contains('/'))
}

// The handshake callback's error type is tungstenite's `ErrorResponse`.
#[allow(clippy::result_large_err)]
async fn serve(hub: Arc<Hub>, stream: TcpStream, id: u64) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let mut membership = None;
    let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, response: Response| {
        let path = req.uri().path();
        let group: Arc<str> = group_of(path).ok_or_else(|| not_found(path))?.into();
        // Joined before the 101 goes out: a client that sees the upgrade
        // hears every broadcast from then on.
        hub.join(
            &group,
            id,
            Entry {
                tx,
                overflowed: overflowed.clone(),
            },
        );
        membership = Some(Membership {
            hub: hub.clone(),
            group,
            id,
        });
        Ok(response)
    })
    .await?;
    let Some(membership) = membership else {
        return Ok(());
    };
    let (sink, mut stream) = ws.split();
    let writer = tokio::spawn(write(sink, rx, overflowed));
    while let Some(message) = stream.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            hub.broadcast(&membership.group, &message, id);
        }
    }
    drop(membership);
    // The writer ends once its queue is dropped with the membership.
    let _ = writer.await;
    Ok(())
}

/// Drain a member's queue to its socket: every message waiting is written
/// and flushed together.
async fn write(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut rx: mpsc::Receiver<Message>,
    overflowed: Arc<AtomicBool>,
) -> Result<(), Error> {
    while let Some(message) = rx.recv().await {
        sink.feed(message).await?;
        while let Ok(message) = rx.try_recv() {
            sink.feed(message).await?;
        }
        sink.flush().await?;
    }
    if overflowed.load(Ordering::Relaxed) {
        sink.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "outbound queue full".into(),
        })))
        .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()?;
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let hub = Arc::new(Hub::default());
    let next_id = AtomicU64::new(1);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let hub = hub.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(hub, stream, id).await {
                            match e {
                                Error::ConnectionClosed | Error::AlreadyClosed | Error::Protocol(_)
                                | Error::Io(_) | Error::Http(_) => {}
                                e => eprintln!("ref-broadcast: {e}"),
                            }
                        }
                    });
                }
                Err(e) => {
                    eprintln!("ref-broadcast: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
