//! Counter: the example of a plugin whose connections survive a reload.
//! Served on `/counter` (see `counter.toml`), it answers each text message
//! with
//!
//! ```json
//! {"count": 3, "version": "1"}
//! ```
//!
//! where `count` is how many text messages this connection has sent since
//! it connected and `version` is the `version` value of the manifest's
//! `[config]` (`null` when unset). Binary messages are not counted and get
//! no answer.
//!
//! The count lives in the connection's value, which the SDK keeps in the
//! connection's attachment after every message (`export_consumer!(Counter,
//! adopt)`). Editing `counter.toml` or replacing `counter.wasm` reloads the
//! plugin; the new version adopts every open connection from its
//! attachment, so the next answer carries the new `version` and the count
//! goes on from where it was. The same happens when an instance fails: the
//! fresh one adopts the connections that did not cause the failure.

use serde::{Deserialize, Serialize};
use wasmsock_sdk::{config, warn, Connection, Consumer, Message, Reject, Scope};

/// One value per connection: all of it is kept in the attachment, so all
/// of it survives a reload.
#[derive(Serialize, Deserialize)]
struct Counter {
    /// Text messages received on this connection since it connected.
    count: u64,
}

/// The answer to each text message.
#[derive(Serialize)]
struct Reply {
    count: u64,
    version: Option<String>,
}

impl Consumer for Counter {
    fn connect(_conn: &Connection, _scope: &Scope) -> Result<Self, Reject> {
        Ok(Counter { count: 0 })
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        if message.as_text().is_none() {
            return;
        }
        self.count += 1;
        // Asked of the host per message rather than kept: the answer is
        // always the manifest of the version now serving the connection,
        // whatever the host reuses across a reload.
        let reply = Reply {
            count: self.count,
            version: config::get("version"),
        };
        if let Err(e) = conn.send_json(&reply) {
            warn!("answer to {conn} failed: {e}");
        }
    }
}

wasmsock_sdk::export_consumer!(Counter, adopt);
