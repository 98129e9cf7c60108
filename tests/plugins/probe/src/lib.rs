//! A consumer the integration tests steer:
//! - query `reject=STATUS` rejects with that status, body `rejected by probe`
//!   and header `x-probe: rejected`;
//! - query `proto=NAME` accepts choosing subprotocol NAME, and adds the
//!   response header `x-probe: accepted`;
//! - config `prefix` is put before every echo (tells versions apart);
//! - config `greet = "true"` sends `hello CONN` from on-connect;
//! - text message `scope` answers with the scope, one `key=value` per line;
//! - text `close CODE REASON` closes with that code and reason;
//! - text `send-to ID` tries to send to connection ID and answers the result;
//! - text `bad-close CODE` tries an invalid close and answers the result;
//! - text `trap` panics (a trap in on-message);
//! - text `identity` answers the connection's identity as
//!   `subject=S;name=value;...` (`-`: no subject);
//! - text `join G`, `leave G`, `count G`, `members G`, `address`,
//!   `bcast G TEXT` (to every member) and `bcast-others G TEXT` (every member
//!   but the sender) call the `groups` interface and answer the result
//!   (`Ok(..)` or `Err(..)`, as Rust's `Debug` writes it); `join-other ID G`
//!   tries to add connection ID;
//! - text `gsend G TEXT`, `event-to ADDRESS TEXT` and `msg-to ADDRESS TEXT`
//!   call `channel.group-send`, `channel.send` and `channel.send-message`
//!   and answer the result;
//! - an event arrives as the text `event GROUP TEXT` (`GROUP` is `-` for a
//!   send to the address), a gap as `gap GROUP LOST`;
//! - anything else is echoed back with the prefix.
//!
//! Every on-disconnect is logged as `probe disconnect CONN code=C reason=R by_client=B`.

wit_bindgen::generate!({ path: "../../../wit", world: "channel-consumer" });

use exports::wasmsock::plugin::event_handler::Guest as EventGuest;
use exports::wasmsock::plugin::handler::Guest;
use wasmsock::plugin::types::{Accept, CloseInfo, ConnectionId, Message, Reject, Scope};
use wasmsock::plugin::{channel, config, connection, groups, log};

struct Probe;

fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

fn fields(list: &[(String, String)]) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

thread_local! {
    static SCOPES: std::cell::RefCell<std::collections::HashMap<u64, String>> = Default::default();
}

impl Guest for Probe {
    fn on_connect(conn: ConnectionId, scope: Scope) -> Result<Accept, Reject> {
        if let Some(status) = query_value(&scope.query, "reject") {
            return Err(Reject {
                status: status.parse().unwrap_or(400),
                headers: vec![("x-probe".into(), "rejected".into())],
                body: "rejected by probe".into(),
            });
        }
        let description = format!(
            "path={}\nquery={}\nroute={}\nparams={}\ncookies={}\nsubprotocols={}\nremote={}\nhost={}",
            scope.path,
            scope.query,
            scope.route,
            fields(&scope.params),
            fields(&scope.cookies),
            scope.subprotocols.join(","),
            scope.remote_addr,
            scope.headers.iter().find(|(n, _)| n == "host").map(|(_, v)| v.as_str()).unwrap_or(""),
        );
        SCOPES.with(|s| s.borrow_mut().insert(conn, description));
        if config::get("greet").as_deref() == Some("true") {
            let _ = connection::send(conn, &Message::Text(format!("hello {conn}")));
        }
        Ok(Accept {
            subprotocol: query_value(&scope.query, "proto"),
            headers: vec![("x-probe".into(), "accepted".into())],
        })
    }

    fn on_message(conn: ConnectionId, message: Message) {
        let reply = match &message {
            Message::Text(t) if t == "scope" => {
                SCOPES.with(|s| s.borrow().get(&conn).cloned().unwrap_or_default())
            }
            Message::Text(t) if t == "trap" => panic!("probe asked to trap"),
            Message::Text(t) if t == "identity" => match wasmsock::plugin::identity::get(conn) {
                Ok(id) => {
                    let mut parts =
                        vec![format!("subject={}", id.subject.as_deref().unwrap_or("-"))];
                    parts.extend(id.values.iter().map(|(k, v)| format!("{k}={v}")));
                    parts.join(";")
                }
                Err(e) => format!("identity failed: {e:?}"),
            },
            Message::Text(t) if t == "log-enabled" => {
                use log::Level;
                [
                    ("trace", Level::Trace),
                    ("debug", Level::Debug),
                    ("info", Level::Info),
                    ("warn", Level::Warn),
                    ("error", Level::Error),
                ]
                .into_iter()
                .map(|(name, l)| format!("{name}={}", log::enabled(l)))
                .collect::<Vec<_>>()
                .join(" ")
            }
            Message::Text(t) if t.starts_with("close ") => {
                let mut parts = t.splitn(3, ' ').skip(1);
                let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1000);
                let reason = parts.next().unwrap_or("");
                match connection::close(conn, code, reason) {
                    Ok(()) => return,
                    Err(e) => format!("close failed: {e:?}"),
                }
            }
            Message::Text(t) if t.starts_with("bad-close ") => {
                let code = t[10..].parse().unwrap_or(0);
                format!("{:?}", connection::close(conn, code, ""))
            }
            Message::Text(t) if t.starts_with("join ") => {
                format!("{:?}", groups::join(conn, &t[5..]))
            }
            Message::Text(t) if t.starts_with("leave ") => {
                format!("{:?}", groups::leave(conn, &t[6..]))
            }
            Message::Text(t) if t.starts_with("count ") => format!("{:?}", groups::count(&t[6..])),
            Message::Text(t) if t.starts_with("members ") => {
                format!("{:?}", groups::members(&t[8..]))
            }
            Message::Text(t) if t == "address" => format!("{:?}", groups::address(conn)),
            Message::Text(t) if t.starts_with("join-other ") => {
                let (id, group) = t[11..].split_once(' ').unwrap_or(("", ""));
                format!("{:?}", groups::join(id.parse().unwrap_or(u64::MAX), group))
            }
            Message::Text(t) if t.starts_with("bcast ") || t.starts_with("bcast-others ") => {
                let (cmd, rest) = t.split_once(' ').unwrap_or_default();
                let (group, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let exclude = (cmd == "bcast-others").then_some(conn);
                format!(
                    "{:?}",
                    groups::broadcast(group, &Message::Text(text.into()), exclude)
                )
            }
            Message::Text(t) if t.starts_with("gsend ") => {
                let (group, text) = t[6..].split_once(' ').unwrap_or((&t[6..], ""));
                format!(
                    "{:?}",
                    channel::group_send(group, &Message::Text(text.into()), None)
                )
            }
            Message::Text(t) if t.starts_with("event-to ") || t.starts_with("msg-to ") => {
                let (cmd, rest) = t.split_once(' ').unwrap_or_default();
                let (address, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let m = Message::Text(text.into());
                match cmd {
                    "event-to" => format!("{:?}", channel::send(address, &m)),
                    _ => format!("{:?}", channel::send_message(address, &m)),
                }
            }
            Message::Text(t) if t.starts_with("send-to ") => {
                let target = t[8..].parse().unwrap_or(u64::MAX);
                format!(
                    "{:?}",
                    connection::send(target, &Message::Text("from probe".into()))
                )
            }
            Message::Text(t) => format!("{}{t}", config::get("prefix").unwrap_or_default()),
            Message::Binary(b) => {
                let mut out = config::get("prefix").unwrap_or_default().into_bytes();
                out.extend_from_slice(b);
                if let Err(e) = connection::send(conn, &Message::Binary(out)) {
                    log::log(log::Level::Warn, &format!("send failed: {e:?}"));
                }
                return;
            }
        };
        if let Err(e) = connection::send(conn, &Message::Text(reply)) {
            log::log(log::Level::Warn, &format!("send failed: {e:?}"));
        }
    }

    fn on_disconnect(conn: ConnectionId, info: CloseInfo) {
        SCOPES.with(|s| s.borrow_mut().remove(&conn));
        log::log(
            log::Level::Info,
            &format!(
                "probe disconnect {conn} code={} reason={} by_client={}",
                info.code, info.reason, info.by_client
            ),
        );
    }
}

impl EventGuest for Probe {
    fn on_event(conn: ConnectionId, group: Option<String>, event: Message) {
        let text = match event {
            Message::Text(t) => t,
            Message::Binary(b) => format!("{} bytes", b.len()),
        };
        let group = group.unwrap_or_else(|| "-".into());
        let _ = connection::send(conn, &Message::Text(format!("event {group} {text}")));
    }

    fn on_gap(conn: ConnectionId, group: String, lost: u64) {
        let _ = connection::send(conn, &Message::Text(format!("gap {group} {lost}")));
    }
}

export!(Probe);
