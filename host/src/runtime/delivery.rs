//! Group traffic and sends by address, from a plugin of this host or from
//! another host through the layer, to the connections they are for.
//!
//! Messages go straight to each recipient's outbox, one buffer shared by
//! all; events go to the shard serving each recipient, which calls the
//! plugin's `on-event`. Neither ever waits: a full outbox follows the
//! `group_queue_full` policy, a full shard inbox loses the event, and both
//! are counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::bindings::Message;
use super::connections::{Connections, Entry};
use super::outbox::{Outbound, PushError, Text};
use super::shard::Request;
use crate::config::GroupQueueFull;
use crate::layer::{GroupKey, Inbound, Kind, Payload};

/// What is delivered to each recipient.
#[derive(Debug, Clone)]
pub enum Item {
    /// A message for the socket.
    Message(Outbound),
    /// An event for the plugin.
    Event(Arc<Message>),
}

impl Item {
    /// The item for a plugin's message or event, and the payload that
    /// carries it to other hosts, sharing one buffer for text and binary
    /// messages.
    pub fn from_plugin(kind: Kind, message: Message) -> (Item, Payload) {
        match kind {
            Kind::Message => {
                // A `String` is UTF-8 already: its buffer becomes the text
                // without a check, and the payload shares it.
                let (item, binary, data) = match message {
                    Message::Text(t) => {
                        let text = Text::from(t);
                        let data = text.clone().into_bytes();
                        (Outbound::Text(text), false, data)
                    }
                    Message::Binary(b) => {
                        let data = Bytes::from(b);
                        (Outbound::Binary(data.clone()), true, data)
                    }
                };
                (Item::Message(item), Payload { kind, binary, data })
            }
            Kind::Event => {
                let payload = match &message {
                    Message::Text(t) => Payload {
                        kind,
                        binary: false,
                        data: Bytes::copy_from_slice(t.as_bytes()),
                    },
                    Message::Binary(b) => Payload {
                        kind,
                        binary: true,
                        data: Bytes::copy_from_slice(b),
                    },
                };
                (Item::Event(Arc::new(message)), payload)
            }
        }
    }

    /// The item for a payload another host sent; `None` for text that is
    /// not UTF-8 (a foreign or corrupt publisher).
    pub fn from_payload(payload: Payload) -> Option<Item> {
        let Payload { kind, binary, data } = payload;
        Some(match (kind, binary) {
            (Kind::Message, true) => Item::Message(Outbound::Binary(data)),
            (Kind::Message, false) => Item::Message(Outbound::Text(Text::try_from(data).ok()?)),
            (Kind::Event, true) => Item::Event(Arc::new(Message::Binary(data.to_vec()))),
            (Kind::Event, false) => Item::Event(Arc::new(Message::Text(
                String::from_utf8(data.to_vec()).ok()?,
            ))),
        })
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Queued for the recipient.
    Queued,
    /// The recipient's queue was full: lost for it (and, under the `close`
    /// policy, the recipient is being closed).
    Dropped,
    /// The recipient is closing or gone.
    Gone,
}

/// Counts of group traffic on this host, for `/status`.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Messages lost for a member whose outbound queue was full.
    pub message_drops: AtomicU64,
    /// Events lost for a member whose shard inbox was full.
    pub event_drops: AtomicU64,
    /// Events for a plugin that exports no `event-handler`.
    pub events_unhandled: AtomicU64,
    /// Losses per plugin and group, for `/status`.
    losses: Mutex<BTreeMap<GroupKey, GroupLosses>>,
    /// When a loss was last logged, so that a flood of them logs one line
    /// a second.
    logged: Mutex<Option<Instant>>,
}

/// Groups whose losses are kept by name; past it, new groups' losses are
/// counted under the group `*` of their plugin (group names come from
/// plugins, and the table must not grow without bound).
const MAX_LOSS_GROUPS: usize = 1000;

/// What one group lost on this host.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct GroupLosses {
    /// Messages lost for members whose outbound queue was full.
    pub message_drops: u64,
    /// Events lost for members whose shard was too far behind.
    pub event_drops: u64,
    /// Messages and events from other hosts that never arrived.
    pub gaps: u64,
}

impl Traffic {
    /// Count a loss for `plugin`'s `group`, and log it at most once a
    /// second.
    pub fn lost(&self, plugin: &Arc<str>, group: &str, add: GroupLosses) {
        {
            let mut losses = self.losses.lock().unwrap_or_else(|p| p.into_inner());
            let named = (plugin.clone(), Arc::<str>::from(group));
            let key = if losses.len() < MAX_LOSS_GROUPS || losses.contains_key(&named) {
                named
            } else {
                (plugin.clone(), Arc::from("*"))
            };
            let entry = losses.entry(key).or_default();
            entry.message_drops += add.message_drops;
            entry.event_drops += add.event_drops;
            entry.gaps += add.gaps;
        }
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if logged.is_none_or(|at| now.duration_since(at).as_secs() >= 1) {
            *logged = Some(now);
            tracing::warn!(
                plugin = &**plugin,
                group,
                message_drops = add.message_drops,
                event_drops = add.event_drops,
                gaps = add.gaps,
                "group traffic lost (counted in /status; at most one such line a second)"
            );
        }
    }

    /// Every group's losses so far.
    pub fn losses(&self) -> Vec<(String, String, GroupLosses)> {
        self.losses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((p, g), l)| (p.to_string(), g.to_string(), *l))
            .collect()
    }
}

impl Entry {
    /// Deliver `item` to this entry's connection `conn`, without waiting.
    pub fn deliver(
        &self,
        conn: u64,
        group: Option<&Arc<str>>,
        item: &Item,
        policy: GroupQueueFull,
    ) -> Delivered {
        match item {
            Item::Message(m) => {
                let pushed = match policy {
                    GroupQueueFull::Close => self.outbox.push(m.clone()),
                    GroupQueueFull::Drop => self.outbox.offer(m.clone()),
                };
                match pushed {
                    Ok(()) => Delivered::Queued,
                    Err(PushError::Full) => Delivered::Dropped,
                    Err(PushError::Closed) => Delivered::Gone,
                }
            }
            Item::Event(e) => self.shard.offer(Request::Event {
                conn,
                group: group.cloned(),
                event: e.clone(),
            }),
        }
    }
}

impl Connections {
    /// Deliver `item` to this host's members of `plugin`'s `group` but
    /// `exclude`; returns how many it was queued for. Losses are counted.
    pub fn to_local_group(
        &self,
        plugin: &str,
        group: &str,
        item: &Item,
        exclude: Option<u64>,
    ) -> u32 {
        let members = self.groups().members(plugin, group);
        if members.is_empty() {
            return 0;
        }
        // Events carry the group's name; one shared copy for all members.
        let name: Option<Arc<str>> = matches!(item, Item::Event(_)).then(|| Arc::from(group));
        let (mut queued, mut dropped) = (0u32, 0u64);
        for (id, entry) in members.iter() {
            if Some(*id) == exclude {
                continue;
            }
            match entry.deliver(*id, name.as_ref(), item, self.queue_full) {
                Delivered::Queued => queued += 1,
                Delivered::Dropped => {
                    self.count_drop(entry, item);
                    dropped += 1;
                }
                Delivered::Gone => {}
            }
        }
        if dropped > 0 {
            let plugin = &members[0].1.plugin;
            let add = match item {
                Item::Message(_) => GroupLosses {
                    message_drops: dropped,
                    ..GroupLosses::default()
                },
                Item::Event(_) => GroupLosses {
                    event_drops: dropped,
                    ..GroupLosses::default()
                },
            };
            self.traffic.lost(plugin, group, add);
        }
        queued
    }

    /// Deliver `item` from `plugin` to connection `conn` of this host, if
    /// `plugin` serves it: a plugin reaches only its own connections.
    pub fn to_local_connection(&self, plugin: &str, conn: u64, item: &Item) -> Delivered {
        let Some(entry) = self.get(conn).filter(|e| &*e.plugin == plugin) else {
            return Delivered::Gone;
        };
        let delivered = entry.deliver(conn, None, item, self.queue_full);
        if delivered == Delivered::Dropped {
            self.count_drop(&entry, item);
        }
        delivered
    }

    /// Count a loss for the host and for the recipient's plugin version.
    fn count_drop(&self, entry: &Entry, item: &Item) {
        let (host, plugin) = match item {
            Item::Message(_) => (&self.traffic.message_drops, &entry.health.group_drops),
            Item::Event(_) => (&self.traffic.event_drops, &entry.health.event_drops),
        };
        host.fetch_add(1, Ordering::Relaxed);
        plugin.fetch_add(1, Ordering::Relaxed);
        if let Item::Message(_) = item {
            crate::metrics::global().outbound_dropped(&entry.plugin);
        }
    }
}

impl Inbound for Connections {
    fn to_group(&self, plugin: &str, group: &str, payload: Payload) {
        if let Some(item) = Item::from_payload(payload) {
            self.to_local_group(plugin, group, &item, None);
        }
    }

    fn to_connection(&self, plugin: &str, conn: u64, payload: Payload) {
        if let Some(item) = Item::from_payload(payload) {
            self.to_local_connection(plugin, conn, &item);
        }
    }

    fn gap(&self, plugin: &str, group: &str, lost: u64) {
        let name: Arc<str> = Arc::from(group);
        self.traffic.lost(
            &Arc::from(plugin),
            group,
            GroupLosses {
                gaps: lost,
                ..GroupLosses::default()
            },
        );
        for (id, entry) in self.groups().members(plugin, group).iter() {
            entry.shard.offer(Request::Gap {
                conn: *id,
                group: name.clone(),
                lost,
            });
        }
    }
}
