//! Echo consumer: accepts every connection, sends every message back
//! unchanged, and logs on connect and on disconnect. It logs nothing per
//! message: a line per message costs more than the echo itself.

use wasmsock_sdk::{info, warn, CloseInfo, Connection, Consumer, Message, Reject, Scope};

struct Echo;

impl Consumer for Echo {
    fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
        info!(
            "connect {conn} path={} from {}",
            scope.path, scope.remote_addr
        );
        Ok(Echo)
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        if let Err(e) = conn.send(&message) {
            warn!("echo to {conn} failed: {e:?}");
        }
    }

    fn disconnect(self, conn: &Connection, close: CloseInfo) {
        info!(
            "disconnect {conn}: code {} reason {:?}",
            close.code, close.reason
        );
    }
}

wasmsock_sdk::export_consumer!(Echo);
