//! {{name}}: a wasmsock middleware. It runs during the handshake of every
//! consumer that names it (`middleware = ["{{name}}"]` in the consumer's
//! manifest), before the consumer's `on-connect`. This one admits a client
//! whose `?key=` is one of the keys in its `[config] keys` ("KEY:USER,...")
//! and names the user; anyone else is answered 403 before any upgrade.
//! Change `on_handshake` below.

wit_bindgen::generate!({ path: "wit", world: "middleware" });

use exports::wasmsock::plugin::middleware_handler::Guest;
use wasmsock::plugin::config;
use wasmsock::plugin::identity::Identity;
use wasmsock::plugin::log::{log, Level};
use wasmsock::plugin::types::{Field, Reject, Scope};

struct Middleware;

impl Guest for Middleware {
    /// Admit, adding values to the connection's identity (a value named
    /// `user` becomes its subject), or reject with a status, headers and
    /// body. `identity` is what earlier steps established.
    fn on_handshake(scope: Scope, identity: Identity) -> Result<Vec<Field>, Reject> {
        let key = scope
            .query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let keys = config::get("keys").unwrap_or_default();
        let user = keys
            .split(',')
            .filter_map(|pair| pair.split_once(':'))
            .find(|(k, _)| !key.is_empty() && k.trim() == key)
            .map(|(_, user)| user.trim().to_string());
        match user {
            Some(user) => {
                log(
                    Level::Debug,
                    &format!("{user} admitted (subject so far: {:?})", identity.subject),
                );
                Ok(vec![("user".to_string(), user)])
            }
            None => Err(Reject {
                status: 403,
                headers: Vec::new(),
                body: "a valid ?key= is required\n".to_string(),
            }),
        }
    }
}

export!(Middleware);
