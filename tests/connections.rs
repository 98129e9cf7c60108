//! Routing, the scope, rejections, subprotocols, close codes and the
//! on-disconnect contract, against a real server and the probe plugin.

use std::time::Duration;

use crate::support::{closed, install, plugins_dir, raw_http, recv, roundtrip, TestServer};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

fn probe_server(manifest: &str) -> (tempfile::TempDir, TestServer) {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    std::fs::write(dir.path().join("probe.toml"), manifest).expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    (dir, server)
}

#[tokio::test]
async fn scope_carries_params_query_cookies_and_subprotocols() {
    let (_dir, server) =
        probe_server("routes = [\"/chat/{room}\", \"/rooms/{room}/users/{user}\"]\n");
    let mut req = server
        .url("/rooms/blue/users/ann?x=1&y=two")
        .into_client_request()
        .expect("req");
    req.headers_mut()
        .insert("cookie", "session=abc; theme=dark".parse().expect("hv"));
    req.headers_mut()
        .insert("sec-websocket-protocol", "chat, json".parse().expect("hv"));
    let url_req = req;
    // The client offers subprotocols but the probe picks none (no proto=);
    // tungstenite's client then refuses the handshake, so ask for one.
    let mut req2 = server
        .url("/rooms/blue/users/ann?x=1&y=two&proto=json")
        .into_client_request()
        .expect("req");
    *req2.headers_mut() = url_req.headers().clone();
    let (mut ws, resp) = tokio_tungstenite::connect_async(req2)
        .await
        .expect("connect");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap_or("")),
        Some("json")
    );
    assert_eq!(
        resp.headers()
            .get("x-probe")
            .map(|v| v.to_str().unwrap_or("")),
        Some("accepted")
    );
    let scope = roundtrip(&mut ws, "scope").await;
    for expected in [
        "path=/rooms/blue/users/ann",
        "query=x=1&y=two&proto=json",
        "route=/rooms/{room}/users/{user}",
        "params=room:blue,user:ann",
        "cookies=session:abc,theme:dark",
        "subprotocols=chat,json",
        "remote=127.0.0.1:",
        &format!("host={}", server.addr),
    ] {
        assert!(
            scope.contains(expected),
            "scope lacks {expected:?}:\n{scope}"
        );
    }
}

#[tokio::test]
async fn most_specific_route_wins_and_unknown_paths_get_404() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    install(dir.path(), "echo", "lobby");
    std::fs::write(
        dir.path().join("probe.toml"),
        "routes = [\"/chat/{room}\"]\n",
    )
    .expect("manifest");
    std::fs::write(
        dir.path().join("lobby.toml"),
        "routes = [\"/chat/lobby\"]\n",
    )
    .expect("manifest");
    let server = TestServer::start(dir.path(), &[]);

    let mut lobby = server.connect("/chat/lobby").await;
    assert_eq!(
        roundtrip(&mut lobby, "scope").await,
        "scope",
        "the literal route (echo) serves /chat/lobby"
    );
    let mut other = server.connect("/chat/other").await;
    assert!(
        roundtrip(&mut other, "scope")
            .await
            .contains("params=room:other"),
        "the param route (probe) serves the rest"
    );

    let (status, body, _) = server.refused("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body, "no plugin serves /nope\n");
    let (status, _, _) = server.refused("/chat/a/b").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn plugin_rejection_is_a_real_http_response() {
    let (_dir, server) = probe_server("");
    let (status, body, headers) = server.refused("/probe?reject=403").await;
    assert_eq!(status, 403);
    assert_eq!(body, "rejected by probe");
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-probe" && v == "rejected"),
        "{headers:?}"
    );
    let (status, _, _) = server.refused("/probe?reject=418").await;
    assert_eq!(status, 418);
    // A status outside 400-599 is not passed on.
    let (status, _, _) = server.refused("/probe?reject=200").await;
    assert_eq!(status, 500);
    server.wait_log("not 400-599", WAIT).await;
    // Rejected connections never reach on-disconnect.
    assert_eq!(server.count_log("probe disconnect"), 0);
}

#[tokio::test]
async fn plain_http_and_bad_handshakes_are_answered() {
    let (_dir, server) = probe_server("");
    let r = raw_http(&server.addr, "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 426 "), "{r}");
    let r = raw_http(&server.addr, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
    let r = raw_http(
        &server.addr,
        "GET /probe HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 426 ") && r.contains("Sec-WebSocket-Version: 13"),
        "{r}"
    );
    let r = raw_http(&server.addr, "\x16\x03\x01garbage that is not http\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    // The server still serves.
    let mut ws = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut ws, "ok").await, "ok");
}

#[tokio::test]
async fn subprotocol_must_be_one_the_client_offered() {
    let (_dir, server) = probe_server("");
    let mut req = server
        .url("/probe?proto=xml")
        .into_client_request()
        .expect("req");
    req.headers_mut()
        .insert("sec-websocket-protocol", "chat, json".parse().expect("hv"));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 500)
        }
        other => panic!("expected 500, got {:?}", other.map(|(_, r)| r.status())),
    }
    server
        .wait_log("which the client did not offer", WAIT)
        .await;
}

#[tokio::test]
async fn close_codes_travel_both_ways_and_disconnect_runs_once() {
    let (_dir, server) = probe_server("");

    // Client closes with a code and reason.
    let mut ws = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut ws, "a").await, "a");
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "client bye".into(),
    }))
    .await
    .expect("close");
    // The server answers the close handshake with the same code.
    let (code, _) = closed(&mut ws).await;
    assert_eq!(code, 4001);
    server
        .wait_log("code=4001 reason=client bye by_client=true", WAIT)
        .await;

    // The plugin closes with a code and reason.
    let mut ws = server.connect("/probe").await;
    ws.send(Message::text("close 4002 plugin bye"))
        .await
        .expect("send");
    let sent = std::time::Instant::now();
    assert_eq!(closed(&mut ws).await, (4002, "plugin bye".to_string()));
    server
        .wait_log("code=4002 reason=plugin bye by_client=false", WAIT)
        .await;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "the close handshake completed without a timeout"
    );

    // The client vanishes without a close frame.
    let ws = server.connect("/probe").await;
    drop(ws);
    server
        .wait_log("code=1006 reason= by_client=true", WAIT)
        .await;

    // A close with no code.
    let mut ws = server.connect("/probe").await;
    ws.close(None).await.expect("close");
    server
        .wait_log("code=1005 reason= by_client=true", WAIT)
        .await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.count_log("probe disconnect"),
        4,
        "exactly one on-disconnect per connection:\n{}",
        server.logs()
    );
    for id in 1..=4 {
        assert_eq!(
            server.count_log(&format!("probe disconnect {id} ")),
            1,
            "connection {id}:\n{}",
            server.logs()
        );
    }
}

#[tokio::test]
async fn bad_import_arguments_are_error_values() {
    let (_dir, server) = probe_server("");
    let mut ws = server.connect("/probe").await;
    assert!(roundtrip(&mut ws, "send-to 987654")
        .await
        .contains("UnknownConnection"));
    assert!(roundtrip(&mut ws, "bad-close 999")
        .await
        .contains("InvalidClose"));
    assert!(roundtrip(&mut ws, "bad-close 1005")
        .await
        .contains("InvalidClose"));
    // Another plugin instance's connection is not reachable either.
    let mut other = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut other, "x").await, "x");
    assert_eq!(roundtrip(&mut ws, "still here").await, "still here");
}

#[tokio::test]
async fn on_connect_may_send_and_a_trap_closes_with_1011() {
    let (_dir, server) = probe_server("[config]\ngreet = \"true\"\nprefix = \"p:\"\n");
    let mut a = server.connect("/probe").await;
    assert_eq!(recv(&mut a).await, Message::text("hello 1"));
    let mut b = server.connect("/probe").await;
    assert_eq!(recv(&mut b).await, Message::text("hello 2"));
    assert_eq!(roundtrip(&mut a, "x").await, "p:x");

    a.send(Message::text("trap")).await.expect("send");
    assert_eq!(closed(&mut a).await.0, 1011);
    // The whole shard's instance is gone, so its other connection closes too.
    assert_eq!(closed(&mut b).await.0, 1011);
    server
        .wait_log("plugin failed; closing its connections with 1011", WAIT)
        .await;
    // A fresh instance serves new connections.
    let mut c = server.connect("/probe").await;
    assert_eq!(recv(&mut c).await, Message::text("hello 3"));
    assert_eq!(roundtrip(&mut c, "y").await, "p:y");
    // The failed instance's connections never reach the new one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.count_log("probe disconnect 1 "), 0);
}

#[tokio::test]
async fn per_connection_instances_fail_alone() {
    let (_dir, server) = probe_server("instance = \"per-connection\"\n");
    let mut a = server.connect("/probe").await;
    let mut b = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut a, "a").await, "a");
    a.send(Message::text("trap")).await.expect("send");
    assert_eq!(closed(&mut a).await.0, 1011);
    // b has an instance of its own and never notices.
    assert_eq!(roundtrip(&mut b, "b").await, "b");
    b.close(None).await.expect("close");
    server.wait_log("probe disconnect 2 code=1005", WAIT).await;
}

#[tokio::test]
async fn oversized_messages_close_with_1009_and_others_keep_going() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    let cfg = dir.path().join("server.toml");
    std::fs::write(
        &cfg,
        "[limits]\nmax_message_size = 1024\nmax_frame_size = 1024\n",
    )
    .expect("config");
    let server = TestServer::start(dir.path(), &["--config", cfg.to_str().expect("utf-8")]);
    let mut big = server.connect("/probe").await;
    let mut small = server.connect("/probe").await;
    assert_eq!(
        roundtrip(&mut big, &"x".repeat(1024)).await,
        "x".repeat(1024)
    );
    big.send(Message::text("y".repeat(1025)))
        .await
        .expect("send");
    assert_eq!(closed(&mut big).await.0, 1009);
    server.wait_log("code=1009", WAIT).await;
    assert_eq!(roundtrip(&mut small, "fine").await, "fine");
}

#[tokio::test]
async fn plugins_can_ask_which_log_levels_are_kept() {
    // The test server runs with RUST_LOG=info.
    let (_dir, server) = probe_server("");
    let mut ws = server.connect("/probe").await;
    assert_eq!(
        roundtrip(&mut ws, "log-enabled").await,
        "trace=false debug=false info=true warn=true error=true"
    );
}

/// SIGTERM closes every open connection with 1001, and the plugin hears each
/// one's on-disconnect (code 1001, closed by the server) before the process
/// exits.
#[tokio::test]
async fn shutdown_runs_every_on_disconnect_before_exiting() {
    const N: usize = 20;
    let (_dir, mut server) = probe_server("[config]\ngreet = \"true\"\n");
    let mut ids = Vec::with_capacity(N);
    let mut clients = Vec::with_capacity(N);
    for _ in 0..N {
        let mut ws = server.connect("/probe").await;
        // on-connect greets with the connection's id.
        let id = match recv(&mut ws).await {
            Message::Text(t) => t
                .strip_prefix("hello ")
                .and_then(|id| id.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("greeting {t:?}")),
            other => panic!("expected the greeting, got {other:?}"),
        };
        ids.push(id);
        clients.push(ws);
    }
    server
        .wait_status("every connection open", WAIT, |s| {
            s["connections"]["websocket"] == N && s["plugins"]["probe"]["connections"] == N
        })
        .await;
    assert_eq!(server.count_log("probe disconnect"), 0, "{}", server.logs());

    // Each client answers the server's close frame, as a browser would.
    let closers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { closed(&mut ws).await }))
        .collect();
    let status = server.terminate(Duration::from_secs(30)).await;
    for (id, closer) in ids.iter().zip(closers) {
        let (code, reason) = closer
            .await
            .unwrap_or_else(|e| panic!("client of connection {id}: {e}"));
        assert_eq!(
            (code, reason.as_str()),
            (1001, "server shutting down"),
            "connection {id}"
        );
    }
    assert!(status.success(), "clean exit, got {status:?}");

    let logs = server.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("probe disconnect "))
        .collect();
    let missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| {
            !lines
                .iter()
                .any(|l| l.contains(&format!("probe disconnect {id} ")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {N} connections never got on-disconnect before the exit: {missing:?}; log:\n{logs}",
        missing.len()
    );
    for id in &ids {
        let mine: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains(&format!("probe disconnect {id} ")))
            .collect();
        assert_eq!(mine.len(), 1, "connection {id}: {mine:#?}");
        assert!(
            mine[0].contains(&format!(
                "probe disconnect {id} code=1001 reason=server shutting down by_client=false"
            )),
            "connection {id}: {}",
            mine[0]
        );
    }
}
