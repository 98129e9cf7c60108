//! A middleware the integration tests steer through its `[config]`:
//! - `mode = "add"` (the default): admits, adding the pairs of `add`
//!   (`"k=v,k2=v2"`) and `calls = N`, how many handshakes this instance has
//!   seen (1 for a fresh instance); with `trap_at = N` the Nth call of an
//!   instance traps instead;
//! - `mode = "reject"`: rejects with `status`, the header `header_name:
//!   header_value`, `body`, and `x-identity`, the identity it was given
//!   (`subject=S;k=v;...`), so a test sees what earlier middleware added;
//! - `mode = "trap"`: panics (a trap) on every call;
//! - `mode = "loop"`: loops forever (its CPU budget ends it).

wit_bindgen::generate!({ path: "../../../wit", world: "middleware" });

use std::cell::Cell;

use exports::wasmsock::plugin::middleware_handler::Guest;
use wasmsock::plugin::config;
use wasmsock::plugin::identity::Identity;
use wasmsock::plugin::types::{Field, Reject, Scope};

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

struct MwProbe;

fn describe(identity: &Identity) -> String {
    let mut parts = vec![format!(
        "subject={}",
        identity.subject.as_deref().unwrap_or("-")
    )];
    parts.extend(identity.values.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(";")
}

impl Guest for MwProbe {
    fn on_handshake(_scope: Scope, identity: Identity) -> Result<Vec<Field>, Reject> {
        let calls = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        match config::get("mode").as_deref().unwrap_or("add") {
            "reject" => {
                let status = config::get("status")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(403);
                let mut headers = vec![("x-identity".to_string(), describe(&identity))];
                if let (Some(n), Some(v)) =
                    (config::get("header_name"), config::get("header_value"))
                {
                    headers.push((n, v));
                }
                Err(Reject {
                    status,
                    headers,
                    body: config::get("body").unwrap_or_default(),
                })
            }
            "trap" => panic!("mw-probe traps on purpose"),
            "loop" => {
                let mut x: u64 = calls;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            _ => {
                if config::get("trap_at").and_then(|t| t.parse().ok()) == Some(calls) {
                    panic!("mw-probe traps at call {calls} on purpose");
                }
                let mut values: Vec<Field> = config::get("add")
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                values.push(("calls".to_string(), calls.to_string()));
                Ok(values)
            }
        }
    }
}

export!(MwProbe);
