//! Building the scope a plugin's `on-connect` receives from the request.

use std::net::SocketAddr;

use super::RequestHead;
use crate::runtime::bindings::Scope;

/// Cookies from every `cookie` header: `a=1; b=2` gives `[(a, 1), (b, 2)]`.
/// Pairs without '=' are skipped; surrounding quotes are kept, as sent.
pub fn cookies(head: &RequestHead) -> Vec<(String, String)> {
    head.headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Subprotocols offered in `sec-websocket-protocol` headers, in order.
pub fn subprotocols(head: &RequestHead) -> Vec<String> {
    head.headers
        .iter()
        .filter(|(n, _)| n == "sec-websocket-protocol")
        .flat_map(|(_, v)| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The scope for a routed request.
pub fn build(
    head: &RequestHead,
    route: &str,
    params: Vec<(String, String)>,
    peer: SocketAddr,
) -> Scope {
    Scope {
        path: head.path.clone(),
        query: head.query.clone(),
        route: route.to_string(),
        params,
        headers: head.headers.clone(),
        cookies: cookies(head),
        subprotocols: subprotocols(head),
        remote_addr: peer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            path: "/x".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            rest: Vec::new(),
        }
    }

    #[test]
    fn parses_cookies_and_subprotocols() {
        let h = head(&[
            ("cookie", "a=1; b = two ;bad; =x"),
            ("cookie", "c=3"),
            ("sec-websocket-protocol", "chat, json ,"),
            ("sec-websocket-protocol", "v2"),
        ]);
        assert_eq!(
            cookies(&h),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two".into()),
                ("c".into(), "3".into())
            ]
        );
        assert_eq!(subprotocols(&h), vec!["chat", "json", "v2"]);
    }
}
