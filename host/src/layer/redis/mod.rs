//! The Redis layer: many hosts share groups through one Redis.
//!
//! Redis is only the bus (pub/sub); nothing waits on it. Each host:
//! - delivers to its own members directly, then publishes the frame on the
//!   group's channel for the others (one queue and one connection, so a
//!   sender's frames leave in the order it sent them);
//! - subscribes to a group's channel while it has members of the group
//!   (from the first local join to the last leave), and to its own host
//!   channel, where sends by address arrive;
//! - publishes its membership as notes (join, leave, a beat every second,
//!   a full snapshot when asked), from which every host keeps a view of
//!   the others: member counts and lists are answered from memory. A host
//!   not heard from for [`HOST_TIMEOUT`] is dropped from the view;
//! - stamps every frame with its id and a sequence number per channel, so
//!   that receivers count exactly what was lost (a Redis restart, a cut, a
//!   queue that overflowed) and tell the members' plugins.
//!
//! While Redis is unreachable the tasks retry every second; what is
//! published meanwhile is lost, counted, and shows as a gap on the other
//! hosts once the link is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

mod tasks;

use super::view::{Followup, Seqs, View};
use super::wire::{self, Note};
use super::{Inbound, Layer, LayerStatus, Payload};

/// The first part of every channel name the layer uses.
const PREFIX: &str = "wasmsock";

/// How often a host says it is alive.
pub const BEAT: Duration = Duration::from_secs(1);

/// A host not heard from this long is taken for gone: its members leave
/// every count and list.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(3);

/// Frames and notes that may wait to be published; beyond it they are
/// lost and counted (a Redis that cannot keep up must not grow the host).
const QUEUE: usize = 65_536;

/// What the publishing task sends.
struct Out {
    channel: String,
    data: Vec<u8>,
}

/// A change of what the subscribing task listens to.
enum Listen {
    Subscribe(String),
    Unsubscribe(String),
}

/// This host's side: its members and its sequence numbers.
#[derive(Debug, Default)]
struct Mine {
    /// Members by plugin and group, in join order.
    groups: HashMap<(String, String), Vec<u64>>,
    /// The latest membership note's number.
    members_seq: u64,
    /// The latest frame's number, per channel.
    channel_seqs: HashMap<String, u64>,
}

/// Counters for `/status`.
#[derive(Debug, Default)]
struct Stats {
    connected: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    gaps: AtomicU64,
    unpublished: AtomicU64,
}

/// A layer over one Redis.
#[derive(Debug)]
pub struct Redis {
    /// This host's id.
    host: String,
    /// Prefix of every channel name.
    prefix: String,
    /// The members channel's name, compared with every publication
    /// received.
    members_channel: String,
    /// To the publishing task.
    out: mpsc::Sender<Out>,
    /// To the subscribing task.
    listen: mpsc::UnboundedSender<Listen>,
    /// This host's members and sequence numbers; taken before queueing,
    /// so numbers and queue order agree.
    mine: Mutex<Mine>,
    /// The other hosts.
    view: Mutex<View>,
    /// Last sequence numbers seen, per channel and sender.
    seqs: Mutex<Seqs>,
    /// Figures, shared with the publishing task.
    stats: Arc<Stats>,
}

/// The layer could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("channel layer {url}: {source}")]
pub struct RedisError {
    url: String,
    #[source]
    source: redis::RedisError,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Redis {
    /// A client for the Redis at `url`: the URL is checked, nothing is
    /// connected yet.
    pub fn client(url: &str) -> Result<redis::Client, RedisError> {
        redis::Client::open(url).map_err(|source| RedisError {
            url: url.to_owned(),
            source,
        })
    }

    /// Start the layer for host `host` on `client`'s Redis, delivering
    /// what arrives to `inbound`. The connection is made (and remade) in
    /// the background, so a server starts while Redis is down and its local
    /// groups work meanwhile.
    pub fn start(
        client: redis::Client,
        url: &str,
        host: String,
        inbound: Weak<dyn Inbound>,
    ) -> Arc<Redis> {
        let (out, out_rx) = mpsc::channel(QUEUE);
        let (listen, listen_rx) = mpsc::unbounded_channel();
        let layer = Arc::new(Redis {
            host,
            members_channel: wire::members_channel(PREFIX),
            prefix: PREFIX.to_owned(),
            out,
            listen,
            mine: Mutex::new(Mine::default()),
            view: Mutex::new(View::default()),
            seqs: Mutex::new(Seqs::default()),
            stats: Arc::default(),
        });
        tokio::spawn(tasks::publish_loop(
            client.clone(),
            layer.stats.clone(),
            out_rx,
        ));
        tokio::spawn(tasks::subscribe_loop(
            client,
            url.to_owned(),
            Arc::downgrade(&layer),
            inbound,
            listen_rx,
        ));
        tokio::spawn(tasks::beat_loop(Arc::downgrade(&layer)));
        layer
    }

    /// Queue a publication; a full queue loses it, counted.
    fn queue(&self, channel: String, data: Vec<u8>) {
        if self.out.try_send(Out { channel, data }).is_err() {
            self.stats.unpublished.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn note(&self, note: &Note) {
        // A note is plain data; it always serializes.
        if let Ok(text) = serde_json::to_vec(note) {
            self.queue(self.members_channel.clone(), text);
        }
    }

    /// Queue a frame for `channel`, numbered in order.
    fn frame(&self, channel: String, to: Option<(&str, u64)>, payload: &Payload) {
        let mut mine = lock(&self.mine);
        let seq = mine.channel_seqs.entry(channel.clone()).or_insert(0);
        *seq += 1;
        let data = wire::encode(&self.host, *seq, to, payload);
        self.queue(channel, data);
    }

    /// Number and queue the note of a join (or a leave), while `mine` is
    /// held: numbers and queue order agree.
    fn membership(&self, mine: &mut Mine, joined: bool, plugin: &str, group: &str, conn: u64) {
        mine.members_seq += 1;
        let (host, seq) = (self.host.clone(), mine.members_seq);
        let (plugin, group) = (plugin.to_owned(), group.to_owned());
        let note = if joined {
            Note::Join {
                host,
                seq,
                plugin,
                group,
                conn,
            }
        } else {
            Note::Leave {
                host,
                seq,
                plugin,
                group,
                conn,
            }
        };
        self.note(&note);
    }

    /// This host's membership as a full snapshot.
    fn full(&self) -> Note {
        let mine = lock(&self.mine);
        Note::Full {
            host: self.host.clone(),
            seq: mine.members_seq,
            groups: mine
                .groups
                .iter()
                .map(|((p, g), c)| (p.clone(), g.clone(), c.clone()))
                .collect(),
        }
    }

    /// Channels this host listens to now: its own and its groups'.
    fn channels(&self) -> Vec<String> {
        let mine = lock(&self.mine);
        let mut all = vec![
            self.members_channel.clone(),
            wire::host_channel(&self.prefix, &self.host),
        ];
        all.extend(
            mine.groups
                .keys()
                .map(|(p, g)| wire::group_channel(&self.prefix, p, g)),
        );
        all
    }

    /// Handle one publication received from Redis.
    fn received(&self, inbound: &dyn Inbound, channel: &str, data: Bytes) {
        if channel == self.members_channel {
            let Ok(note) = serde_json::from_slice::<Note>(&data) else {
                return;
            };
            if note.host() == self.host {
                return;
            }
            if let Note::Sync { target, .. } = &note {
                if target.as_deref().is_none_or(|t| t == self.host) {
                    self.note(&self.full());
                }
                return;
            }
            if let Note::Bye { host } = &note {
                lock(&self.seqs).forget_sender(host);
            }
            let followup = lock(&self.view).apply(note, Instant::now());
            if let Followup::Resync(host) = followup {
                self.note(&Note::Sync {
                    host: self.host.clone(),
                    target: Some(host),
                });
            }
            return;
        }
        let Some(frame) = wire::decode(data) else {
            return;
        };
        if frame.sender == self.host {
            return;
        }
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let lost = lock(&self.seqs).check(channel, &frame.sender, frame.seq);
        if lost > 0 {
            self.stats.gaps.fetch_add(lost, Ordering::Relaxed);
            tracing::warn!(
                channel,
                from = frame.sender,
                lost,
                "channel layer: messages from another host never arrived"
            );
        }
        if let Some((plugin, group)) = wire::parse_group_channel(&self.prefix, channel) {
            if lost > 0 {
                inbound.gap(plugin, group, lost);
            }
            inbound.to_group(plugin, group, frame.payload);
        } else if let Some(conn) = frame.conn {
            inbound.to_connection(&frame.plugin, conn, frame.payload);
        }
    }
}

impl Layer for Redis {
    fn joined(&self, plugin: &str, group: &str, conn: u64) {
        let mut mine = lock(&self.mine);
        let members = mine
            .groups
            .entry((plugin.to_owned(), group.to_owned()))
            .or_default();
        members.push(conn);
        if members.len() == 1 {
            let _ = self.listen.send(Listen::Subscribe(wire::group_channel(
                &self.prefix,
                plugin,
                group,
            )));
        }
        self.membership(&mut mine, true, plugin, group, conn);
    }

    fn left(&self, plugin: &str, group: &str, conn: u64) {
        let mut mine = lock(&self.mine);
        let key = (plugin.to_owned(), group.to_owned());
        let Some(members) = mine.groups.get_mut(&key) else {
            return;
        };
        members.retain(|c| *c != conn);
        if members.is_empty() {
            mine.groups.remove(&key);
            let channel = wire::group_channel(&self.prefix, plugin, group);
            lock(&self.seqs).forget(&channel);
            let _ = self.listen.send(Listen::Unsubscribe(channel));
        }
        self.membership(&mut mine, false, plugin, group, conn);
    }

    fn publish(&self, plugin: &str, group: &str, payload: Payload) {
        self.frame(
            wire::group_channel(&self.prefix, plugin, group),
            None,
            &payload,
        );
    }

    fn send_to(&self, host: &str, plugin: &str, conn: u64, payload: Payload) -> bool {
        if !lock(&self.view).knows(host) {
            return false;
        }
        self.frame(
            wire::host_channel(&self.prefix, host),
            Some((plugin, conn)),
            &payload,
        );
        true
    }

    fn remote_members(&self, plugin: &str, group: &str) -> Vec<String> {
        lock(&self.view).members(plugin, group)
    }

    fn remote_count(&self, plugin: &str, group: &str) -> usize {
        lock(&self.view).count(plugin, group)
    }

    fn status(&self) -> LayerStatus {
        let s = &self.stats;
        LayerStatus {
            kind: "redis",
            connected: s.connected.load(Ordering::Relaxed),
            hosts: lock(&self.view).hosts(),
            // While connected, one group channel per group with local
            // members.
            subscriptions: if s.connected.load(Ordering::Relaxed) {
                lock(&self.mine).groups.len()
            } else {
                0
            },
            published: s.published.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            gaps: s.gaps.load(Ordering::Relaxed),
            unpublished: s.unpublished.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Best effort: the publishing task may already be gone.
        let bye = Note::Bye {
            host: self.host.clone(),
        };
        if let Ok(text) = serde_json::to_vec(&bye) {
            let _ = self.out.try_send(Out {
                channel: self.members_channel.clone(),
                data: text,
            });
        }
    }
}
