//! The admin listener's operator endpoints through a real server: `/metrics`
//! read with a Prometheus text parser after a known sequence of
//! connections, messages, refusals, a refused file and a trap; `/readyz`
//! following the channel layer; log lines (JSON and text) and their fields.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::redis::RedisServer;
use crate::support::{closed, install, plugins_dir, recv, TestServer};

/// `/metrics`, parsed.
async fn scrape(server: &TestServer) -> prometheus_parse::Scrape {
    let (code, body) = server.admin_get("/metrics").await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("/metrics parses as Prometheus text")
}

/// The value of sample `name` whose labels include `labels` (0 when there
/// is none: a family shows a label set from its first count on).
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a single number"),
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_read_exactly_what_happened() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    install(dir.path(), "probe", "probe");
    std::fs::write(
        dir.path().join("probe.toml"),
        "allowed_origins = [\"https://good.example\"]\n",
    )
    .expect("manifest");
    std::fs::write(dir.path().join("broken.wasm"), b"not a component").expect("broken file");
    let server = TestServer::start(dir.path(), &[]);
    assert_eq!(server.admin_get("/readyz").await.0, 200);

    // 3 connections to echo, 4 messages of 2 bytes each way on each.
    for _ in 0..3 {
        let mut ws = server.connect("/echo").await;
        for i in 0..4 {
            ws.send(Message::text(format!("m{i}"))).await.expect("send");
            assert_eq!(recv(&mut ws).await, Message::text(format!("m{i}")));
        }
        ws.close(None).await.expect("close");
        assert_eq!(closed(&mut ws).await.0, 1005);
    }
    // A path nothing serves, an origin the plugin does not allow.
    assert_eq!(server.refused("/nowhere").await.0, 404);
    let mut req = server.url("/probe").into_client_request().expect("request");
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().expect("origin"));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // A trap in on-message.
    let mut ws = server.connect("/probe").await;
    ws.send(Message::text("trap")).await.expect("send");
    assert_eq!(closed(&mut ws).await.0, 1011);

    // The connection tasks count their end after the close handshake.
    let start = Instant::now();
    let m = loop {
        let m = scrape(&server).await;
        let open = value(&m, "wasmsock_connections_open", &[("plugin", "echo")])
            + value(&m, "wasmsock_connections_open", &[("plugin", "probe")]);
        if open == 0.0 {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "connections stay open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let echo = [("plugin", "echo")];
    assert_eq!(value(&m, "wasmsock_connections_total", &echo), 3.0);
    assert_eq!(value(&m, "wasmsock_messages_received_total", &echo), 12.0);
    assert_eq!(value(&m, "wasmsock_messages_sent_total", &echo), 12.0);
    assert_eq!(value(&m, "wasmsock_received_bytes_total", &echo), 24.0);
    assert_eq!(value(&m, "wasmsock_sent_bytes_total", &echo), 24.0);
    let calls = |export| {
        value(
            &m,
            "wasmsock_plugin_call_seconds_count",
            &[("plugin", "echo"), ("export", export)],
        )
    };
    assert_eq!(
        (
            calls("on_connect"),
            calls("on_message"),
            calls("on_disconnect")
        ),
        (3.0, 12.0, 3.0)
    );
    let rejected = |reason| {
        value(
            &m,
            "wasmsock_handshake_rejections_total",
            &[("reason", reason)],
        )
    };
    assert_eq!((rejected("not_found"), rejected("origin")), (1.0, 1.0));
    assert_eq!(
        value(&m, "wasmsock_connections_total", &[("plugin", "probe")]),
        1.0,
        "the refused origin never became a connection"
    );
    assert_eq!(
        value(
            &m,
            "wasmsock_plugin_failures_total",
            &[("plugin", "probe"), ("kind", "trap")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "wasmsock_plugin_refused_total", &[("plugin", "broken")]),
        1.0
    );
    assert_eq!(value(&m, "wasmsock_plugin_reloads_total", &echo), 0.0);
    assert_eq!(value(&m, "wasmsock_layer_connected", &[]), 1.0);
    // The metric table of docs/operations.md names every family served,
    // and every metric the Grafana dashboard queries is in that table (a
    // family shows only from its first count, so not all are served here).
    let family = |name: &str| {
        let name = name.strip_suffix("_bucket").unwrap_or(name);
        name.strip_suffix("_total").unwrap_or(name).to_owned()
    };
    let names = |text: &str, line_start: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(line_start))
            .flat_map(|l| l.match_indices("wasmsock_").map(move |(at, _)| &l[at..]))
            .map(|rest| {
                let end = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(rest.len());
                family(&rest[..end])
            })
            .collect()
    };
    let root = crate::support::root();
    let read = |path: &str| std::fs::read_to_string(root.join(path)).expect(path);
    let documented = names(&read("docs/operations.md"), "| `wasmsock_");
    assert!(documented.len() >= 20, "{documented:?}");
    for served in m.docs.keys() {
        assert!(
            documented.contains(served),
            "/metrics serves {served}, which docs/operations.md does not list"
        );
    }
    let queried = names(&read("docs/grafana/wasmsock.json"), "");
    assert!(queried.len() >= 20, "{queried:?}");
    for name in &queried {
        assert!(
            documented.contains(name),
            "the dashboard queries {name}, which docs/operations.md does not list"
        );
    }
    // Every family is documented.
    for name in [
        "wasmsock_connections_open",
        "wasmsock_messages_received",
        "wasmsock_handshake_rejections",
        "wasmsock_plugin_call_seconds",
        "wasmsock_plugin_failures",
        "wasmsock_shards",
    ] {
        assert!(
            m.docs.get(name).is_some_and(|d| !d.is_empty()),
            "{name} has no HELP"
        );
    }
}

#[tokio::test]
async fn readyz_follows_the_channel_layer() {
    let mut redis = RedisServer::start();
    redis.kill();
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let layer = redis.url();
    let server = TestServer::start(dir.path(), &["--layer", &layer]);
    let (code, body) = server.admin_get("/readyz").await;
    assert_eq!(
        (code, body.as_str()),
        (503, "not ready: the redis channel layer is not connected\n")
    );
    assert_eq!(
        server.admin_get("/healthz").await.0,
        200,
        "alive all the same"
    );
    redis.restart();
    let start = Instant::now();
    while server.admin_get("/readyz").await.0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never ready after Redis came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn json_log_lines_parse_and_carry_their_fields() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let mut server = TestServer::start(dir.path(), &["--log-format", "json"]);
    let mut ws = server.connect("/echo").await;
    ws.close(None).await.expect("close");
    closed(&mut ws).await;
    server.wait_log("disconnect", Duration::from_secs(10)).await;
    server.terminate(Duration::from_secs(10)).await;
    let logs = server.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{logs}");
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
        assert!(l["message"].is_string(), "{l}");
    }
    let plugin_line = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("disconnect"))
        })
        .expect("the echo plugin's disconnect line");
    // The plugin's own line names the plugin, its version and the
    // connection whose call wrote it (the server's first: id 1).
    assert_eq!(plugin_line["target"], "plugin", "{plugin_line}");
    assert_eq!(plugin_line["plugin"], "echo", "{plugin_line}");
    assert_eq!(plugin_line["version"], 1, "{plugin_line}");
    assert_eq!(plugin_line["conn"], 1, "{plugin_line}");
}

#[tokio::test]
async fn text_log_lines_carry_the_same_fields() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &["--log-format", "text"]);
    let mut ws = server.connect("/echo").await;
    ws.close(None).await.expect("close");
    closed(&mut ws).await;
    server
        .wait_log("disconnect 1:", Duration::from_secs(10))
        .await;
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("disconnect 1:"))
        .expect("the echo plugin's disconnect line");
    for field in ["plugin=\"echo\"", "version=1", "conn=1"] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}
