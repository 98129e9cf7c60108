//! A consumer whose state must survive a reload or a failed instance: each
//! connection's message count lives in the instance's memory and, after
//! every message, in the connection's attachment.
//! - every text message `T` is answered `V:N:T`, where `V` is the `version`
//!   value of the manifest's `[config]` (`1` when unset) and `N` counts the
//!   connection's messages since it connected (across versions);
//! - text `trap` panics (a trap in on-message), `spin` loops until the CPU
//!   budget stops it, `grow` allocates until the memory cap stops it;
//! - text `who` answers the identity's subject (`Ok(Some(..))`, `Ok(None)`);
//! - text `big` tries to attach more than the cap allows and answers the
//!   result; `get` answers the attachment as the host keeps it;
//! - `on-adopt` takes the count from the attachment and answers true,
//!   unless the config says `adopt = "no"`; it logs
//!   `keeper adopted CONN count=N path=P params=K=V,...`;
//! - text `timer MS TOKEN` sets a timer of the connection, `ptimer MS
//!   TOKEN` one of the plugin, `cancel TOKEN` cancels the connection's; each
//!   answers the result; a connection's timer fires as the message
//!   `V:timer TOKEN` to it, and is logged `keeper timer CONN TOKEN`; a
//!   plugin's timer is logged `keeper plugin timer TOKEN version=V`;
//! - every on-disconnect is logged as `keeper disconnect CONN count=N code=C`.

wit_bindgen::generate!({ path: "../../../wit", world: "stateful-consumer" });

use std::cell::RefCell;
use std::collections::HashMap;

use exports::wasmsock::plugin::adopt_handler::Guest as AdoptGuest;
use exports::wasmsock::plugin::event_handler::Guest as EventGuest;
use exports::wasmsock::plugin::handler::Guest;
use exports::wasmsock::plugin::timer_handler::Guest as TimerGuest;
use wasmsock::plugin::types::{Accept, CloseInfo, ConnectionId, Message, Reject, Scope};
use wasmsock::plugin::{attachment, config, connection, identity, log, timers};

thread_local! {
    static COUNTS: RefCell<HashMap<ConnectionId, u64>> = RefCell::new(HashMap::new());
}

struct Keeper;

fn version() -> String {
    config::get("version").unwrap_or_else(|| "1".into())
}

fn reply(conn: ConnectionId, text: String) {
    let _ = connection::send(conn, &Message::Text(text));
}

impl Guest for Keeper {
    fn on_connect(conn: ConnectionId, _scope: Scope) -> Result<Accept, Reject> {
        COUNTS.with(|c| c.borrow_mut().insert(conn, 0));
        Ok(Accept {
            subprotocol: None,
            headers: Vec::new(),
        })
    }

    fn on_message(conn: ConnectionId, message: Message) {
        let Message::Text(text) = message else {
            return;
        };
        match text.as_str() {
            "trap" => panic!("keeper was asked to trap"),
            "spin" =>
            {
                #[allow(clippy::empty_loop)]
                loop {}
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                }
            }
            "big" => {
                let r = attachment::set(conn, &vec![0u8; 1 << 20]);
                reply(conn, format!("{r:?}"));
            }
            t if t.starts_with("timer ")
                || t.starts_with("ptimer ")
                || t.starts_with("cancel ") =>
            {
                let mut words = t.split(' ');
                let what = words.next().unwrap_or_default();
                let nums: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
                let answer = match (what, nums.as_slice()) {
                    ("timer", [ms, token]) => {
                        format!("{:?}", timers::set(Some(conn), *ms as u32, *token))
                    }
                    ("ptimer", [ms, token]) => {
                        format!("{:?}", timers::set(None, *ms as u32, *token))
                    }
                    ("cancel", [token]) => format!("{}", timers::cancel(Some(conn), *token)),
                    _ => "bad timer command".to_string(),
                };
                reply(conn, answer);
            }
            "who" => {
                let r = identity::get(conn).map(|i| i.subject);
                reply(conn, format!("{r:?}"));
            }
            "get" => {
                let r = attachment::get(conn).map(|b| String::from_utf8_lossy(&b).into_owned());
                reply(conn, format!("{r:?}"));
            }
            _ => {
                let n = COUNTS.with(|c| {
                    let mut c = c.borrow_mut();
                    let n = c.entry(conn).or_insert(0);
                    *n += 1;
                    *n
                });
                let _ = attachment::set(conn, n.to_string().as_bytes());
                reply(conn, format!("{}:{n}:{text}", version()));
            }
        }
    }

    fn on_disconnect(conn: ConnectionId, info: CloseInfo) {
        let n = COUNTS.with(|c| c.borrow_mut().remove(&conn)).unwrap_or(0);
        log::log(
            log::Level::Info,
            &format!("keeper disconnect {conn} count={n} code={}", info.code),
        );
    }
}

impl AdoptGuest for Keeper {
    fn on_adopt(
        conn: ConnectionId,
        path: String,
        params: Vec<(String, String)>,
        attachment: Vec<u8>,
    ) -> bool {
        if config::get("adopt").as_deref() == Some("no") {
            return false;
        }
        let n: u64 = std::str::from_utf8(&attachment)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        COUNTS.with(|c| c.borrow_mut().insert(conn, n));
        let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        log::log(
            log::Level::Info,
            &format!(
                "keeper adopted {conn} count={n} path={path} params={}",
                params.join(",")
            ),
        );
        true
    }
}

impl TimerGuest for Keeper {
    fn on_timer(conn: Option<ConnectionId>, token: u64) {
        match conn {
            Some(conn) => {
                log::log(log::Level::Info, &format!("keeper timer {conn} {token}"));
                reply(conn, format!("{}:timer {token}", version()));
            }
            None => log::log(
                log::Level::Info,
                &format!("keeper plugin timer {token} version={}", version()),
            ),
        }
    }
}

impl EventGuest for Keeper {
    fn on_event(_conn: ConnectionId, _group: Option<String>, _event: Message) {}
    fn on_gap(_conn: ConnectionId, _group: String, _lost: u64) {}
}

export!(Keeper);
