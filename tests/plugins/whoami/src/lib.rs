//! Sends back, as its first message, who the host says the connection is:
//! `{"user": ..., "claims": ..., "role": ...}` (the claims parsed, `role`
//! the last middleware value of that name), through the Rust SDK's
//! `Scope::user`, `Scope::claims` and `Scope::identity_value`.

use wasmsock_sdk::{Connection, Consumer, Message, Reject, Scope};

struct WhoAmI;

impl Consumer for WhoAmI {
    fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
        let claims = scope
            .claims()
            .map(|c| serde_json::from_str(c).unwrap_or(serde_json::Value::Null))
            .unwrap_or(serde_json::Value::Null);
        let me = serde_json::json!({
            "user": scope.user(),
            "claims": claims,
            "role": scope.identity_value("role"),
        });
        let _ = conn.send_text(me.to_string());
        Ok(WhoAmI)
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        let _ = conn.send(&message);
    }
}

wasmsock_sdk::export_consumer!(WhoAmI);
