//! The middleware step of admission: the consumer's manifest names a chain
//! (`middleware = ["session-auth", "rate-limit"]`), run in order before the
//! connection limit and `on-connect`. Each middleware sees the scope and the
//! identity so far, and adds values to it or answers the handshake itself.
//! Names are resolved here, at each handshake, so a middleware dropped in,
//! replaced or removed takes effect for the next one.

use std::net::SocketAddr;

use super::answer::{rejection, Refusal, Refused};
use super::{scope, RequestHead};
use crate::plugins::{Middlewares, Plugin};
use crate::runtime::bindings::IdentityRecord;
use crate::runtime::identity::Identity;
use crate::runtime::middleware::Verdict;

/// Run `plugin`'s middleware chain for a request routed to `route` with
/// `params`, adding what each middleware returns to `identity`; the first
/// that does not let the handshake go on answers it.
pub async fn run(
    all: &Middlewares,
    plugin: &Plugin,
    route: &str,
    params: &[(String, String)],
    head: &RequestHead,
    peer: SocketAddr,
    identity: &mut Identity,
) -> Result<(), Refusal> {
    let chain = &plugin.manifest.middleware;
    if chain.is_empty() {
        return Ok(());
    }
    let scope = scope::build(head, route, params.to_vec(), peer);
    for name in chain {
        let Some(m) = all.get(name) else {
            tracing::warn!(
                plugin = &*plugin.name,
                middleware = name.as_str(),
                "middleware `{name}` of plugin `{}` is not loaded; answering 503",
                plugin.name
            );
            crate::metrics::global().middleware_call(name, "missing");
            return Err(unavailable(
                format!("middleware `{name}` is not available\n"),
                false,
            ));
        };
        match m.call(scope.clone(), record(identity)).await {
            Verdict::Admit(values) => identity.add(values),
            Verdict::Reject(reject) => {
                let mut refusal = rejection(name, reject);
                refusal.why = Refused::MiddlewareRejected;
                return Err(refusal);
            }
            Verdict::Failed {
                kind: "deadline", ..
            } => {
                return Err(unavailable(
                    format!("middleware `{name}` ran past its CPU budget\n"),
                    true,
                ));
            }
            Verdict::Failed { .. } => {
                return Err(Refusal::new(
                    Refused::MiddlewareFailed,
                    500,
                    format!("middleware `{name}` failed\n"),
                ));
            }
            Verdict::Busy => {
                tracing::warn!(
                    middleware = name.as_str(),
                    "middleware `{name}` has a full queue; answering 503"
                );
                return Err(unavailable(
                    format!("middleware `{name}` is busy; try again later\n"),
                    true,
                ));
            }
            Verdict::Gone => {
                return Err(unavailable(
                    format!("middleware `{name}` is not available\n"),
                    false,
                ))
            }
        }
    }
    Ok(())
}

/// A 503 naming the middleware; `retry` adds `Retry-After: 1`.
fn unavailable(body: String, retry: bool) -> Refusal {
    let refusal = Refusal::new(Refused::MiddlewareUnavailable, 503, body);
    if retry {
        refusal.with_header("Retry-After", "1")
    } else {
        refusal
    }
}

/// The identity as the WIT passes it.
fn record(identity: &Identity) -> IdentityRecord {
    IdentityRecord {
        subject: identity.subject.clone(),
        claims: identity.claims.clone(),
        values: identity.values.clone(),
    }
}
