//! JSON echo built with the SDK's `json` feature: each connection keeps its
//! user name (query `user=NAME`, default `anonymous`) and a count of the
//! messages it sent. `{"say": TEXT}` is answered with
//! `{"user": NAME, "n": COUNT, "echo": TEXT}`; anything else with
//! `{"error": WHY}`. Offering the `json` subprotocol gets it accepted.

use serde::{Deserialize, Serialize};
use wasmsock_sdk::{info, warn, Accept, CloseInfo, Connection, Consumer, Message, Reject, Scope};

#[derive(Deserialize)]
struct Say {
    say: String,
}

#[derive(Serialize)]
struct Reply<'a> {
    user: &'a str,
    n: u32,
    echo: String,
}

#[derive(Serialize)]
struct Failure {
    error: String,
}

struct JsonEcho {
    user: String,
    count: u32,
}

impl Consumer for JsonEcho {
    fn connect(_conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
        let user = scope.query_param("user").unwrap_or("anonymous");
        if user.is_empty() {
            return Err(Reject::new(400).with_body("empty user name"));
        }
        Ok(JsonEcho {
            user: user.to_string(),
            count: 0,
        })
    }

    fn accept(&self, scope: &Scope) -> Accept {
        if scope.subprotocols.iter().any(|p| p == "json") {
            Accept::default().with_subprotocol("json")
        } else {
            Accept::default()
        }
    }

    fn receive(&mut self, conn: &Connection, message: Message) {
        let sent = match message.json::<Say>() {
            Ok(Say { say }) => {
                self.count += 1;
                conn.send_json(&Reply {
                    user: &self.user,
                    n: self.count,
                    echo: say,
                })
            }
            Err(e) => conn.send_json(&Failure {
                error: e.to_string(),
            }),
        };
        if let Err(e) = sent {
            warn!("reply to {conn} failed: {e}");
        }
    }

    fn disconnect(self, conn: &Connection, close: CloseInfo) {
        info!(
            "json-echo {conn}: {} sent {} messages, closed with {}",
            self.user, self.count, close.code
        );
    }
}

wasmsock_sdk::export_consumer!(JsonEcho);
