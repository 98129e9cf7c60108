//! [`Scope`]: what the host tells `connect` about a connection, and lookups
//! by name in its lists.

/// What the host knows about a connection before it is upgraded: path,
/// query, matched route and its parameters, headers, cookies, offered
/// subprotocols and the peer address (Channels calls this the scope).
pub use crate::bindings::wasmsock::plugin::types::Scope;

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
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        Scope {
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
}
