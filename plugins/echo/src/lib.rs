//! Echo consumer: accepts every connection, sends every message back
//! unchanged, and logs on connect, on each message and on disconnect.

wit_bindgen::generate!({ path: "../../wit", world: "consumer" });

use exports::wasmsock::plugin::handler::Guest;
use wasmsock::plugin::connection;
use wasmsock::plugin::log::{log, Level};
use wasmsock::plugin::types::{Accept, CloseInfo, ConnectionId, Message, Reject, Scope};

struct Echo;

impl Guest for Echo {
    fn on_connect(conn: ConnectionId, scope: Scope) -> Result<Accept, Reject> {
        log(
            Level::Info,
            &format!(
                "connect {conn} path={} from {}",
                scope.path, scope.remote_addr
            ),
        );
        Ok(Accept {
            subprotocol: None,
            headers: Vec::new(),
        })
    }

    fn on_message(conn: ConnectionId, message: Message) {
        let (kind, len) = match &message {
            Message::Text(t) => ("text", t.len()),
            Message::Binary(b) => ("binary", b.len()),
        };
        log(Level::Info, &format!("message {conn}: {kind}, {len} bytes"));
        if let Err(e) = connection::send(conn, &message) {
            log(Level::Warn, &format!("echo to {conn} failed: {e:?}"));
        }
    }

    fn on_disconnect(conn: ConnectionId, info: CloseInfo) {
        log(
            Level::Info,
            &format!(
                "disconnect {conn}: code {} reason {:?}",
                info.code, info.reason
            ),
        );
    }
}

export!(Echo);
