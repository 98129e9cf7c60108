//! [`Scope`]: what the host tells `connect` about a connection, lookups by
//! name in its lists, and who the connection is (the identity its
//! handshake established: a verified token, middleware values).

use std::cell::OnceCell;
use std::ops::Deref;

use crate::bindings::wasmsock::plugin::identity;
use crate::ConnectionId;

/// The scope record exactly as the WIT `handler` receives it; [`Scope`]
/// derefs to it, so `scope.path`, `scope.query`, `scope.headers` and the
/// other fields read as before.
pub type RawScope = crate::bindings::wasmsock::plugin::types::Scope;

/// What the host knows about a connection before it is upgraded: path,
/// query, matched route and its parameters, headers, cookies, offered
/// subprotocols and the peer address (Channels calls this the scope), and
/// who the connection is ([`user`](Scope::user), [`claims`](Scope::claims),
/// [`identity_value`](Scope::identity_value)).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The WIT record.
    raw: RawScope,
    /// The connection it describes, for asking the host who it is.
    conn: ConnectionId,
    /// Who it is, asked of the host the first time a plugin wants to know
    /// (a plugin that never asks makes no call and imports nothing more).
    identity: OnceCell<Identity>,
}

/// Who a connection is, as its handshake established it.
#[derive(Debug, Clone, Default)]
struct Identity {
    subject: Option<String>,
    claims: Option<String>,
    values: Vec<(String, String)>,
}

impl Deref for Scope {
    type Target = RawScope;

    fn deref(&self) -> &RawScope {
        &self.raw
    }
}

impl Scope {
    /// The scope of connection `conn`; what [`export_consumer!`](crate::export_consumer!)
    /// hands to `connect`.
    #[doc(hidden)]
    pub fn new(conn: ConnectionId, raw: RawScope) -> Scope {
        Scope {
            raw,
            conn,
            identity: OnceCell::new(),
        }
    }

    /// A scope with the identity given rather than asked of the host: for
    /// testing a consumer's `connect` natively, without a host.
    pub fn with_identity(
        raw: RawScope,
        user: Option<&str>,
        claims: Option<&str>,
        values: &[(&str, &str)],
    ) -> Scope {
        let scope = Scope::new(0, raw);
        let _ = scope.identity.set(Identity {
            subject: user.map(str::to_owned),
            claims: claims.map(str::to_owned),
            values: values
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        });
        scope
    }

    fn identity(&self) -> &Identity {
        self.identity
            .get_or_init(|| match identity::get(self.conn) {
                Ok(i) => Identity {
                    subject: i.subject,
                    claims: i.claims,
                    values: i.values,
                },
                Err(_) => Identity::default(),
            })
    }

    /// Who is connecting: the verified token's `sub` claim (the manifest's
    /// `[auth]`), or the `user` value a middleware added; `None` when the
    /// connection is anonymous. Django's `scope["user"].username`.
    pub fn user(&self) -> Option<&str> {
        self.identity().subject.as_deref()
    }

    /// The verified token's claims, as a JSON object's text (parse it with
    /// `serde_json`); `None` when the plugin checks no token.
    pub fn claims(&self) -> Option<&str> {
        self.identity().claims.as_deref()
    }

    /// The last value called `name` that the plugin's middleware chain
    /// added (a later middleware's value wins).
    pub fn identity_value(&self, name: &str) -> Option<&str> {
        self.identity()
            .values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The WIT record, owned.
    pub fn into_raw(self) -> RawScope {
        self.raw
    }
}
fn find<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl Scope {
    /// The first header called `name` (give it in lower case: the host
    /// lower-cases header names).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The cookie called `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        find(&self.cookies, name)
    }

    /// The value captured by the route segment `{name}`.
    pub fn param(&self, name: &str) -> Option<&str> {
        find(&self.params, name)
    }

    /// The first value of `key` in the query string, as sent (no
    /// percent-decoding). `?a=1&flag` gives `Some("1")` for `a` and
    /// `Some("")` for `flag`.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

// Plain Rust over the generated type, so tested on the host target
// (`cargo test --all-features` in sdk/rust).
#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::with_identity(raw(), None, None, &[])
    }

    fn raw() -> RawScope {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        RawScope {
            path: "/chat/lobby".into(),
            query: "a=1&flag&a=2&b=x%20y".into(),
            route: "/chat/{room}".into(),
            params: pairs(&[("room", "lobby")]),
            headers: pairs(&[("origin", "https://x"), ("x-two", "1"), ("x-two", "2")]),
            cookies: pairs(&[("session", "abc")]),
            subprotocols: vec!["json".into()],
            remote_addr: "127.0.0.1:1".into(),
        }
    }

    #[test]
    fn scope_lookups_find_the_first_match() {
        let s = scope();
        assert_eq!(s.query_param("a"), Some("1"));
        assert_eq!(s.query_param("flag"), Some(""));
        assert_eq!(s.query_param("b"), Some("x%20y"), "no decoding");
        assert_eq!(s.query_param("c"), None);
        assert_eq!(s.header("x-two"), Some("1"));
        assert_eq!(s.header("X-Two"), None, "names are lower case");
        assert_eq!(s.cookie("session"), Some("abc"));
        assert_eq!(s.param("room"), Some("lobby"));
        assert_eq!(s.param("user"), None);
    }

    #[test]
    fn identity_reads_subject_claims_and_the_last_value() {
        let s = Scope::with_identity(
            raw(),
            Some("ada"),
            Some(r#"{"sub":"ada"}"#),
            &[("role", "reader"), ("role", "admin")],
        );
        assert_eq!(s.user(), Some("ada"));
        assert_eq!(s.claims(), Some(r#"{"sub":"ada"}"#));
        assert_eq!(s.identity_value("role"), Some("admin"), "the last wins");
        assert_eq!(s.identity_value("team"), None);
        assert_eq!(s.path, "/chat/lobby", "fields read through Deref");
        let anon = scope();
        assert_eq!(anon.user(), None);
        assert_eq!(anon.claims(), None);
    }
}
