//! Greeter: the identity demo. On connect it sends `hello, NAME`, NAME
//! being who the handshake says the connection is ([`Scope::user`]: a
//! verified JWT's `sub`, or the `user` value a middleware added), or
//! `hello, stranger` when it is anonymous; then it echoes every text
//! message as `NAME: MESSAGE`.

use wasmsock_sdk::{info, warn, CloseInfo, Connection, Consumer, Message, Reject, Scope};

struct Greeter {
    /// Who is connected, as greeted.
    name: String,
}

impl Consumer for Greeter {
    fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
        let name = scope.user().unwrap_or("stranger").to_string();
        info!("connect {conn} as {name}");
        if let Err(e) = conn.send(&Message::Text(format!("hello, {name}"))) {
            warn!("greeting {conn} failed: {e:?}");
        }
        Ok(Greeter { name })
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        let reply = match message {
            Message::Text(text) => format!("{}: {text}", self.name),
            Message::Binary(bytes) => format!("{}: ({} bytes)", self.name, bytes.len()),
        };
        if let Err(e) = conn.send(&Message::Text(reply)) {
            warn!("echo to {conn} failed: {e:?}");
        }
    }

    fn disconnect(self, conn: &Connection, close: CloseInfo) {
        info!("disconnect {conn} ({}): code {}", self.name, close.code);
    }
}

wasmsock_sdk::export_consumer!(Greeter);
