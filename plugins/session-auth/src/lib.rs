//! A middleware that checks a session cookie, the way Django Channels'
//! `AuthMiddlewareStack` finds the user from the session: the cookie named
//! by `[config] cookie` (default `sessionid`) must be a session id listed in
//! `[config] sessions` (`"ID:USER,ID:USER"`). A known session adds
//! `user = USER` (which becomes the connection's subject) and
//! `session = ID`; a missing or unknown one is answered 401 before any
//! upgrade, with a body saying to log in.

wit_bindgen::generate!({ path: "../../wit", world: "middleware" });

use exports::wasmsock::plugin::middleware_handler::Guest;
use wasmsock::plugin::identity::Identity;
use wasmsock::plugin::types::{Field, Level, Reject, Scope};
use wasmsock::plugin::{config, log};

struct SessionAuth;

/// The user of session `id` in a `"ID:USER,ID:USER"` table.
fn lookup(table: &str, id: &str) -> Option<String> {
    table
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .find(|(sid, _)| sid.trim() == id)
        .map(|(_, user)| user.trim().to_string())
        .filter(|user| !user.is_empty())
}

fn unauthorized(body: String) -> Reject {
    Reject {
        status: 401,
        headers: vec![(
            "content-type".to_string(),
            "text/plain; charset=utf-8".to_string(),
        )],
        body,
    }
}

impl Guest for SessionAuth {
    fn on_handshake(scope: Scope, _identity: Identity) -> Result<Vec<Field>, Reject> {
        let cookie = config::get("cookie").unwrap_or_else(|| "sessionid".to_string());
        let Some(id) = scope
            .cookies
            .iter()
            .find(|(name, _)| *name == cookie)
            .map(|(_, value)| value.clone())
        else {
            return Err(unauthorized(format!(
                "not logged in: no `{cookie}` cookie; log in first\n"
            )));
        };
        let table = config::get("sessions").unwrap_or_default();
        match lookup(&table, &id) {
            Some(user) => Ok(vec![
                ("user".to_string(), user),
                ("session".to_string(), id),
            ]),
            None => {
                log::log(
                    Level::Info,
                    &format!("unknown session from {}", scope.remote_addr),
                );
                Err(unauthorized(
                    "not logged in: the session is unknown or has expired; log in again\n"
                        .to_string(),
                ))
            }
        }
    }
}

export!(SessionAuth);
