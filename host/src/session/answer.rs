//! What admission answers when it does not admit: an HTTP status, headers
//! and body sent before any upgrade, and why (for the log and counters);
//! and the filter on headers a plugin asks the host to send.

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No plugin serves the path (404).
    NotFound,
    /// Not a valid WebSocket upgrade (400, 405 or 426).
    BadRequest,
    /// A browser origin the plugin does not allow (403).
    Origin,
    /// No valid token for a plugin with `[auth]` (401).
    Unauthenticated,
    /// The plugin is quarantined after repeated failures (503).
    Quarantined,
    /// The plugin is at its connection limit (503).
    OverCapacity,
    /// The plugin's shard is gone (503).
    Unavailable,
    /// The host has no room for another instance (the per-connection pool
    /// is full, or memory for it ran out): 503, not the plugin's fault.
    NoRoom,
    /// The plugin's `on-connect` rejected it, with its own answer.
    Rejected,
    /// A middleware of the plugin's chain rejected it, with its own answer.
    MiddlewareRejected,
    /// A middleware of the chain failed in `on-handshake` (trap, memory
    /// cap, no instance): 500.
    MiddlewareFailed,
    /// A middleware of the chain is not loaded, is busy, or ran past its
    /// CPU budget: 503.
    MiddlewareUnavailable,
    /// The plugin failed in `on-connect` (trap, deadline, no instance): 500.
    PluginFailed,
    /// The plugin chose a subprotocol the client did not offer: 500. The
    /// text says which.
    BadSubprotocol(String),
    /// The client's address holds `max_connections_per_ip` already (429).
    PerIpConnections,
    /// The client's address starts handshakes faster than
    /// `handshake_rate_per_ip` (429).
    PerIpRate,
}

impl Refused {
    /// The reason as the metrics label it.
    pub fn label(&self) -> &'static str {
        match self {
            Refused::NotFound => "not_found",
            Refused::BadRequest => "bad_request",
            Refused::Origin => "origin",
            Refused::Unauthenticated => "unauthenticated",
            Refused::Quarantined => "quarantined",
            Refused::OverCapacity => "over_capacity",
            Refused::Unavailable => "unavailable",
            Refused::NoRoom => "no_room",
            Refused::Rejected => "rejected",
            Refused::MiddlewareRejected => "middleware_rejected",
            Refused::MiddlewareFailed => "middleware_failed",
            Refused::MiddlewareUnavailable => "middleware_unavailable",
            Refused::PluginFailed | Refused::BadSubprotocol(_) => "plugin",
            Refused::PerIpConnections => "per_ip_connections",
            Refused::PerIpRate => "per_ip_rate",
        }
    }
}

/// A plain HTTP answer to a request that was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub why: Refused,
    /// HTTP status.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
}

impl Refusal {
    /// A refusal without extra headers.
    pub(crate) fn new(why: Refused, status: u16, body: impl Into<String>) -> Refusal {
        Refusal {
            why,
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same refusal with one more header.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Refusal {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Why a header a plugin asked for cannot be sent.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "the value of header {name:?} contains CR, LF or NUL"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("sec-websocket-")
        || matches!(
            lower.as_str(),
            "upgrade"
                | "connection"
                | "content-length"
                | "transfer-encoding"
                | "keep-alive"
                | "te"
                | "trailer"
        )
    {
        return Err(format!(
            "header {name:?} is set by the server and may not be given by a plugin"
        ));
    }
    Ok(())
}

/// Headers a plugin asked for, minus the ones it may not set (logged).
pub(crate) fn allowed_headers(
    plugin: &str,
    headers: Vec<(String, String)>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(n, v)| match check_header(n, v) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(plugin, "header dropped: {why}");
                false
            }
        })
        .collect()
}

/// The answer to a plugin's (or a middleware's) rejection: its status if it is an HTTP error
/// (500 otherwise, logged), its allowed headers and its body.
pub(crate) fn rejection(plugin: &str, reject: crate::runtime::bindings::Reject) -> Refusal {
    let status = if (400..=599).contains(&reject.status) {
        reject.status
    } else {
        tracing::warn!(
            plugin,
            "rejected the handshake with status {}, which is not 400-599; answering 500",
            reject.status
        );
        500
    };
    Refusal {
        why: Refused::Rejected,
        status,
        headers: allowed_headers(plugin, reject.headers),
        body: reject.body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_malformed_headers_are_dropped() {
        let kept = allowed_headers(
            "p",
            vec![
                ("X-Ok".into(), "1".into()),
                ("Sec-WebSocket-Accept".into(), "forged".into()),
                ("Bad Name".into(), "x".into()),
                ("X-Split".into(), "a\r\nInjected: 1".into()),
                ("Content-Length".into(), "0".into()),
            ],
        );
        assert_eq!(kept, vec![("X-Ok".to_string(), "1".to_string())]);
    }
}
