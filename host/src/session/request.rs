//! The request a client makes to open a connection, as admission sees it:
//! parsed from the socket by the server, built by hand by the test harness.

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, e.g. "GET".
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query without '?'.
    pub query: String,
    /// Headers in order, names lower-cased, values decoded lossily.
    pub headers: Vec<(String, String)>,
    /// Bytes read after the head (frames a client sent early).
    pub rest: Vec<u8>,
}

impl RequestHead {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if some header `name` lists `token` (comma-separated, any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// True for a WebSocket upgrade request (RFC 6455 section 4.2.1).
    pub fn is_upgrade(&self) -> bool {
        self.has_token("upgrade", "websocket") && self.has_token("connection", "upgrade")
    }
}
