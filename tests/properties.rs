//! Property tests over everything the host parses itself: request heads,
//! route patterns, the server config, plugin manifests and the scope built
//! from a request. Arbitrary input never panics, and well-formed input
//! round-trips. (PROPTEST_CASES raises the number of cases for a longer run.)

use std::net::SocketAddr;
use std::path::Path;

use proptest::prelude::*;
use wasmsock::config::{Manifest, Overrides, PluginDefaults, ServerConfig};
use wasmsock::internals::{build_scope, cookies, parse_head, HeadError};
use wasmsock::routing::{RoutePattern, RouteTable};

/// A path segment a client may send: no '/', '?', '#', space or controls.
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._~%!$&'()*+,;=:@-]{1,12}"
}

/// A parameter name.
fn param() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_-]{0,8}"
}

fn header_value() -> impl Strategy<Value = String> {
    "[ -~]{0,40}".prop_map(|v| v.trim().to_string())
}

proptest! {
    #[test]
    fn request_heads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        match parse_head(&bytes) {
            Ok(Some(head)) => {
                prop_assert!(bytes.ends_with(&head.rest));
                prop_assert!(!head.path.contains('?'));
            }
            Ok(None) => {}
            Err(e) => prop_assert!(matches!(e, HeadError::Malformed(_)) && e.status() == Some(400)),
        }
    }

    #[test]
    fn well_formed_heads_round_trip(
        segs in proptest::collection::vec(segment(), 0..5),
        query in "[a-z0-9=&]{0,20}",
        headers in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", header_value()), 0..10),
        early in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let path = format!("/{}", segs.join("/"));
        let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let mut text = format!("GET {target} HTTP/1.1\r\n");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("\r\n");
        let mut bytes = text.into_bytes();
        // Any prefix is incomplete, never an error.
        for cut in [0, bytes.len() / 3, bytes.len() - 1] {
            prop_assert!(matches!(parse_head(&bytes[..cut]), Ok(None)));
        }
        bytes.extend_from_slice(&early);
        let head = parse_head(&bytes).expect("valid").expect("complete");
        prop_assert_eq!(&head.method, "GET");
        prop_assert_eq!(&head.path, &path);
        prop_assert_eq!(&head.query, &query);
        prop_assert_eq!(&head.rest, &early);
        let want: Vec<(String, String)> =
            headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())).collect();
        prop_assert_eq!(&head.headers, &want);
    }

    #[test]
    fn scope_building_never_panics(
        cookie in "[ -~]{0,80}",
        protocols in "[ -~]{0,80}",
        segs in proptest::collection::vec(segment(), 0..4),
    ) {
        let text = format!(
            "GET /{} HTTP/1.1\r\nCookie: {}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
            segs.join("/"), cookie.trim(), protocols.trim()
        );
        if let Ok(Some(head)) = parse_head(text.as_bytes()) {
            let peer: SocketAddr = "127.0.0.1:9".parse().expect("addr");
            let s = build_scope(&head, "/x", vec![], peer);
            prop_assert_eq!(&s.path, &head.path);
            for p in &s.subprotocols {
                prop_assert!(!p.is_empty() && !p.contains(','));
            }
            for (name, _) in &s.cookies {
                prop_assert!(!name.contains(';'));
            }
        }
    }

    #[test]
    fn cookies_round_trip(pairs in proptest::collection::vec(("[a-zA-Z0-9_]{1,8}", "[a-zA-Z0-9_.-]{0,8}"), 1..6)) {
        let header = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let text = format!("GET / HTTP/1.1\r\nCookie: {header}\r\n\r\n");
        let head = parse_head(text.as_bytes()).expect("valid").expect("complete");
        prop_assert_eq!(cookies(&head), pairs);
    }

    #[test]
    fn route_patterns_never_panic(text in "\\PC{0,40}") {
        if let Ok(p) = RoutePattern::parse(&text) {
            prop_assert_eq!(p.as_str(), text.as_str());
            prop_assert!(p.same_route(&p));
        }
    }

    #[test]
    fn routes_capture_what_they_match(
        parts in proptest::collection::vec((any::<bool>(), segment(), param()), 0..6),
    ) {
        // Build a pattern with literal and parameter segments (distinct
        // parameter names), and a path that fills in each parameter.
        let mut pattern = String::new();
        let mut path = String::new();
        let mut want = Vec::new();
        for (i, (is_param, value, name)) in parts.iter().enumerate() {
            if *is_param {
                let name = format!("{name}{i}");
                pattern.push_str(&format!("/{{{name}}}"));
                want.push((name, value.clone()));
            } else {
                pattern.push_str(&format!("/{value}"));
            }
            path.push_str(&format!("/{value}"));
        }
        if pattern.is_empty() {
            pattern.push('/');
            path.push('/');
        }
        let p = RoutePattern::parse(&pattern).expect("valid pattern");
        prop_assert_eq!(p.matches(&path), Some(want.clone()));
        prop_assert_eq!(p.matches(&format!("{path}/extra")), None);
        let (table, conflicts) = RouteTable::build([(p, std::sync::Arc::new(()))]);
        prop_assert!(conflicts.is_empty());
        let found = table.lookup(&path).expect("routed");
        prop_assert_eq!(found.params, want);
    }

    #[test]
    fn manifests_never_panic(text in "\\PC{0,120}") {
        let path = Path::new("plugins/x.toml");
        if let Err(e) = Manifest::parse(path, &text, "x", &PluginDefaults::default()) {
            prop_assert!(e.to_string().starts_with("plugins/x.toml"), "{}", e);
        }
    }

    #[test]
    fn manifest_values_are_checked_not_trusted(
        key in prop::sample::select(vec![
            "shards", "memory_limit_mb", "call_timeout_ms", "max_connections",
            "log_lines_per_second", "quarantine_after", "quarantine_window_ms", "quarantine_ms",
        ]),
        value in any::<i64>(),
    ) {
        let path = Path::new("plugins/x.toml");
        match Manifest::parse(path, &format!("{key} = {value}"), "x", &PluginDefaults::default()) {
            Ok(_) => prop_assert!(value >= 0),
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.contains(key) && e.starts_with("plugins/x.toml"), "{}", e);
            }
        }
    }

    #[test]
    fn server_configs_never_panic(text in "\\PC{0,160}") {
        let path = Path::new("conf/wasmsock.toml");
        if let Err(e) = ServerConfig::parse(path, &text, &Overrides::default()) {
            prop_assert!(e.to_string().starts_with("conf/wasmsock.toml"), "{}", e);
        }
    }

    #[test]
    fn limits_out_of_range_name_their_key(
        key in prop::sample::select(vec![
            "max_message_size", "max_frame_size", "handshake_timeout_ms", "max_header_bytes",
            "outbound_queue_messages", "outbound_queue_bytes", "read_buffer_bytes",
            "close_timeout_ms", "max_connections", "ping_interval_ms", "ping_timeout_ms",
            "idle_timeout_ms",
        ]),
        value in any::<i64>(),
    ) {
        let path = Path::new("wasmsock.toml");
        let text = format!("[limits]\n{key} = {value}\n");
        if let Err(e) = ServerConfig::parse(path, &text, &Overrides::default()) {
            let e = e.to_string();
            prop_assert!(e.contains(key), "{}", e);
        }
    }
}
