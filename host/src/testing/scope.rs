//! The request a test client makes.

use std::net::SocketAddr;

use crate::runtime::identity::Identity;

/// The request a test client makes: path, query, headers, peer address.
/// `"/echo".into()` is a plain request for `/echo`.
#[derive(Debug, Clone)]
pub struct ScopeBuilder {
    /// The path, without the query.
    pub(super) path: String,
    /// The raw query, without '?'.
    pub(super) query: String,
    /// Request headers, names lower-cased.
    pub(super) headers: Vec<(String, String)>,
    /// The peer address the plugin sees.
    pub(super) remote_addr: SocketAddr,
    /// Who the connection is, given rather than verified; `None` runs the
    /// plugin's own authentication (its manifest's `[auth]`).
    pub(super) identity: Option<Identity>,
}

impl ScopeBuilder {
    /// A request for `path`, which may carry a `?query`.
    pub fn path(path: impl Into<String>) -> ScopeBuilder {
        let path = path.into();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path, String::new()),
        };
        ScopeBuilder {
            path,
            query,
            headers: vec![("host".into(), "wasmsock.test".into())],
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 40000)),
            identity: None,
        }
    }

    /// Set the raw query string (without `?`).
    pub fn query(mut self, query: impl Into<String>) -> ScopeBuilder {
        self.query = query.into();
        self
    }

    /// Add a request header (the name is lower-cased, as the server does).
    pub fn header(mut self, name: impl AsRef<str>, value: impl Into<String>) -> ScopeBuilder {
        self.headers
            .push((name.as_ref().to_ascii_lowercase(), value.into()));
        self
    }

    /// Add a cookie (sent in a `cookie` header).
    pub fn cookie(self, name: &str, value: &str) -> ScopeBuilder {
        self.header("cookie", format!("{name}={value}"))
    }

    /// Offer a subprotocol (sent in a `sec-websocket-protocol` header).
    pub fn subprotocol(self, protocol: impl Into<String>) -> ScopeBuilder {
        self.header("sec-websocket-protocol", protocol)
    }

    /// The peer address the plugin sees (default 127.0.0.1:40000).
    pub fn remote_addr(mut self, addr: SocketAddr) -> ScopeBuilder {
        self.remote_addr = addr;
        self
    }
}

/// Connecting as someone: what a verified token or a middleware would have
/// established, given directly so a plugin's handling of users can be
/// tested without signing tokens. Any of these skips the plugin's `[auth]`.
impl ScopeBuilder {
    /// Connect as `subject` (a token's `sub`, `identity.get`'s subject).
    pub fn user(mut self, subject: impl Into<String>) -> ScopeBuilder {
        self.identity.get_or_insert_with(Identity::default).subject = Some(subject.into());
        self
    }

    /// Connect with these verified claims (a JSON object's text).
    pub fn claims(mut self, json: impl Into<String>) -> ScopeBuilder {
        self.identity.get_or_insert_with(Identity::default).claims = Some(json.into());
        self
    }

    /// Add a value as a middleware would (`user` also sets the subject).
    pub fn identity_value(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> ScopeBuilder {
        self.identity
            .get_or_insert_with(Identity::default)
            .add(vec![(name.into(), value.into())]);
        self
    }
}

impl From<&str> for ScopeBuilder {
    fn from(path: &str) -> ScopeBuilder {
        ScopeBuilder::path(path)
    }
}

impl From<String> for ScopeBuilder {
    fn from(path: String) -> ScopeBuilder {
        ScopeBuilder::path(path)
    }
}
