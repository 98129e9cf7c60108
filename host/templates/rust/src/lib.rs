//! {{name}}: a wasmsock plugin. It accepts every connection, sends every
//! message back unchanged (text stays text, binary stays binary) and logs
//! each disconnect with its close code. Change the three callbacks below.

wit_bindgen::generate!({ path: "wit", world: "consumer" });

use exports::wasmsock::plugin::handler::Guest;
use wasmsock::plugin::connection;
use wasmsock::plugin::log::{log, Level};
use wasmsock::plugin::types::{Accept, CloseInfo, ConnectionId, Message, Reject, Scope};

struct Plugin;

impl Guest for Plugin {
    /// Runs before the HTTP upgrade: accept, or reject with a status and body.
    fn on_connect(conn: ConnectionId, scope: Scope) -> Result<Accept, Reject> {
        log(
            Level::Debug,
            &format!("connect {conn}: {} from {}", scope.path, scope.remote_addr),
        );
        Ok(Accept {
            subprotocol: None,
            headers: Vec::new(),
        })
    }

    /// A complete message arrived: send it back.
    fn on_message(conn: ConnectionId, message: Message) {
        if let Err(e) = connection::send(conn, &message) {
            log(Level::Warn, &format!("echo to {conn} failed: {e:?}"));
        }
    }

    /// The connection ended, whoever closed it.
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

export!(Plugin);
