//! Group fan-out, the smallest room there is: every connection on
//! `/fanout/{group}` joins the group `group` (see `fanout.toml`), and each
//! message it sends goes to every other member verbatim, text as text and
//! bytes as bytes. The sender is left out, so a member hears only the
//! others.
//!
//! It is the wasmsock side of the group fan-out benchmark (`bench/run`,
//! docs/performance.md), next to `bench/ref-broadcast`: one host call per
//! message, whatever the group's size, and no plugin code per member. It
//! logs nothing per message or connection: at ten thousand members a line
//! each would cost more than the fan-out.

use wasmsock_sdk::groups;
use wasmsock_sdk::{warn, Connection, Consumer, Message, Reject, Scope};

struct Fanout {
    /// The group this connection joined, named by the route.
    group: String,
}

impl Consumer for Fanout {
    fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
        let group = scope
            .param("group")
            .ok_or_else(|| Reject::new(404).with_body("no group in the path\n"))?;
        // Joined before the upgrade is answered: a client that sees the 101
        // hears every broadcast from then on.
        conn.join(group)
            .map_err(|e| Reject::new(400).with_body(format!("cannot join {group:?}: {e:?}\n")))?;
        Ok(Fanout {
            group: group.to_string(),
        })
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        if let Err(e) = groups::broadcast(&self.group, &message, Some(conn)) {
            warn!("broadcast to {} failed: {e:?}", self.group);
        }
    }
}

wasmsock_sdk::export_consumer!(Fanout);
