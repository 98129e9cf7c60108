//! Connection limits (HTTP 503 before the upgrade), keepalive pings that
//! find dead peers, and the idle timeout.

use std::time::Duration;

use crate::support::{closed, install, plugins_dir, roundtrip, TestServer};
use futures_util::StreamExt;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn server_connection_limit_answers_503_and_frees_on_close() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::with_config(dir.path(), "[limits]\nmax_connections = 2\n");
    let mut a = server.connect("/echo").await;
    let _b = server.connect("/echo").await;
    let (status, body, _) = server.refused("/echo").await;
    assert_eq!(
        (status, body.as_str()),
        (503, "server at its connection limit\n")
    );
    assert_eq!(
        roundtrip(&mut a, "a").await,
        "a",
        "held connections are unaffected"
    );
    a.close(None).await.expect("close");
    server.wait_log("disconnect 1:", WAIT).await;
    let start = std::time::Instant::now();
    loop {
        if let Ok((mut c, _)) = tokio_tungstenite::connect_async(server.url("/echo")).await {
            assert_eq!(roundtrip(&mut c, "c").await, "c");
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the closed connection's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn plugin_connection_limit_is_its_own() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    install(dir.path(), "echo", "echo");
    std::fs::write(dir.path().join("probe.toml"), "max_connections = 1\n").expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    let mut first = server.connect("/probe").await;
    let (status, body, _) = server.refused("/probe").await;
    assert_eq!(
        (status, body.as_str()),
        (503, "plugin `probe` is at its connection limit\n")
    );
    let mut other = server.connect("/echo").await;
    assert_eq!(
        roundtrip(&mut other, "x").await,
        "x",
        "other plugins are not limited by it"
    );
    first.close(None).await.expect("close");
    server.wait_log("probe disconnect 1 ", WAIT).await;
    // The place is given back once `on-disconnect` has returned.
    server
        .wait_status("the place given back", WAIT, |s| {
            s["plugins"]["probe"]["connections"] == 0
        })
        .await;
    let mut again = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut again, "y").await, "y");
}

#[tokio::test]
async fn pings_keep_live_peers_and_drop_dead_ones() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    let server = TestServer::with_config(
        dir.path(),
        "[limits]\nping_interval_ms = 100\nping_timeout_ms = 200\n",
    );
    let mut live = server.connect("/probe").await;
    let dead = server.connect("/probe").await; // never read: never answers a ping
                                               // Reading answers pings; keep reading for a second.
    let mut pings = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        match tokio::time::timeout(Duration::from_millis(50), live.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_)))) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    }
    assert!(
        pings >= 3,
        "a quiet connection is pinged about every 100 ms, got {pings}"
    );
    server
        .wait_log(
            "probe disconnect 2 code=1006 reason=no answer to ping by_client=true",
            WAIT,
        )
        .await;
    assert_eq!(roundtrip(&mut live, "still here").await, "still here");
    assert_eq!(
        server.count_log("probe disconnect 1 "),
        0,
        "the live peer was kept"
    );
    drop(dead);
}

#[tokio::test]
async fn idle_connections_are_closed_when_asked() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    let server = TestServer::with_config(
        dir.path(),
        "[limits]\nidle_timeout_ms = 300\nping_interval_ms = 0\n",
    );
    let mut ws = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut ws, "a").await, "a");
    let start = std::time::Instant::now();
    assert_eq!(closed(&mut ws).await, (1001, "idle timeout".to_string()));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "not before the timeout: {:?}",
        start.elapsed()
    );
    server
        .wait_log(
            "probe disconnect 1 code=1001 reason=idle timeout by_client=false",
            WAIT,
        )
        .await;
}

/// The idle timeout counts from the last data message, not from the
/// connection's start: a client that keeps talking is never idle.
#[tokio::test]
async fn the_idle_timeout_restarts_with_every_message() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    let server = TestServer::with_config(
        dir.path(),
        "[limits]\nidle_timeout_ms = 400\nping_interval_ms = 0\n",
    );
    let mut ws = server.connect("/probe").await;
    let start = std::time::Instant::now();
    // Three times the timeout, with a message every quarter of it.
    for i in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = format!("m{i}");
        assert_eq!(roundtrip(&mut ws, &text).await, text);
    }
    assert!(start.elapsed() >= Duration::from_millis(1200));
    let quiet = std::time::Instant::now();
    assert_eq!(closed(&mut ws).await, (1001, "idle timeout".to_string()));
    assert!(
        quiet.elapsed() >= Duration::from_millis(300),
        "closed {:?} after the last message, before the timeout",
        quiet.elapsed()
    );
}

#[tokio::test]
async fn origin_allow_list_answers_403_to_other_origins() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    std::fs::write(
        dir.path().join("probe.toml"),
        "allowed_origins = [\"https://good.example\"]\n",
    )
    .expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    let with_origin = |origin: &str| {
        let mut req = server.url("/probe").into_client_request().expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("header value"));
        req
    };
    for good in ["https://good.example", "https://GOOD.example"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(with_origin(good))
            .await
            .expect("allowed origin");
        assert_eq!(roundtrip(&mut ws, "hi").await, "hi");
    }
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403);
            let body = resp
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            assert_eq!(body, "origin https://evil.example is not allowed\n");
        }
        other => panic!("expected 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    // Clients that send no Origin (not browsers) are not affected.
    let mut ws = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut ws, "no origin").await, "no origin");
}
