//! Chat rooms, the first thing every Channels user builds. Served on
//! `/chat/{room}` (see `chat.toml`): each connection joins the group of its
//! room under a name (query `name=NAME`, or `guest-ID`), the room hears it
//! join and leave, and each text message goes to everyone in the room as
//!
//! ```json
//! {"type": "message", "name": "alice", "text": "hi"}
//! ```
//!
//! `/who` answers the sender alone with the room's member count and names:
//! `{"type": "who", "count": 2, "names": ["alice", "bob"]}`.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;
use wasmsock_sdk::groups::{self, broadcast_json};
use wasmsock_sdk::{warn, CloseInfo, Connection, Consumer, Message, Reject, Scope};

/// What the room hears.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event<'a> {
    /// Someone came in; `count` members now.
    Join { name: &'a str, count: u32 },
    /// Someone left; `count` members now.
    Leave { name: &'a str, count: u32 },
    /// Someone said something.
    Message { name: &'a str, text: &'a str },
    /// The answer to `/who`, for the asker alone.
    Who { count: u32, names: Vec<String> },
}

/// Longest name kept, in characters.
const MAX_NAME: usize = 32;

thread_local! {
    /// Names by address, for `/who`: every connection of this instance.
    static NAMES: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

struct Chat {
    /// The room's group.
    group: String,
    /// The name the room knows this connection by.
    name: String,
    /// Its address, the key of `NAMES`.
    address: String,
}

impl Consumer for Chat {
    fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
        let room = scope.param("room").unwrap_or("lobby");
        let group = format!("room:{room}");
        let name: String = match scope.query_param("name") {
            Some(n) if !n.trim().is_empty() => n.trim().chars().take(MAX_NAME).collect(),
            _ => format!("guest-{}", conn.id()),
        };
        conn.join(&group).map_err(|e| {
            Reject::new(400).with_body(format!("cannot join room {room:?}: {e:?}\n"))
        })?;
        let address = conn.address().unwrap_or_else(|_| conn.id().to_string());
        NAMES.with(|n| n.borrow_mut().insert(address.clone(), name.clone()));
        let count = groups::count(&group).unwrap_or(0);
        if let Err(e) = broadcast_json(&group, &Event::Join { name: &name, count }, None) {
            warn!("announcing {name} in {group}: {e}");
        }
        Ok(Chat {
            group,
            name,
            address,
        })
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let result = if text.trim() == "/who" {
            self.who(conn)
        } else {
            let event = Event::Message {
                name: &self.name,
                text,
            };
            broadcast_json(&self.group, &event, None).map(|_| ())
        };
        if let Err(e) = result {
            warn!("{} in {}: {e}", self.name, self.group);
        }
    }

    fn disconnect(self, _conn: &Connection, _close: CloseInfo) {
        NAMES.with(|n| n.borrow_mut().remove(&self.address));
        // The host has already taken the connection out of its groups.
        let count = groups::count(&self.group).unwrap_or(0);
        let event = Event::Leave {
            name: &self.name,
            count,
        };
        if let Err(e) = broadcast_json(&self.group, &event, None) {
            warn!("announcing {} leaving {}: {e}", self.name, self.group);
        }
    }
}

impl Chat {
    /// Tell the asker who is in the room. Members served by another
    /// instance (with `shards` above 1) are listed by address.
    fn who(&self, conn: &Connection) -> Result<(), wasmsock_sdk::JsonError> {
        let members = groups::members(&self.group)?;
        let names = NAMES.with(|n| {
            let n = n.borrow();
            members
                .iter()
                .map(|a| n.get(a).cloned().unwrap_or_else(|| a.clone()))
                .collect()
        });
        let count = u32::try_from(members.len()).unwrap_or(u32::MAX);
        conn.send_json(&Event::Who { count, names })
    }
}

wasmsock_sdk::export_consumer!(Chat);
