//! Graceful shutdown through the real binary and `shutdown_drain_ms`: on
//! SIGTERM every client hears 1001 and the echo plugin logs the
//! `on-disconnect` of each before the process exits 0; a client that never
//! answers its close frame holds the exit back no longer than the drain.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{closed, install, plugins_dir, recv, TestServer};

/// Serve the echo plugin with `config` as the server file.
fn echo_server(config: &str) -> (tempfile::TempDir, TestServer) {
    let dir = plugins_dir();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins folder");
    install(&plugins, "echo", "echo");
    let file = dir.path().join("wasmsock.toml");
    std::fs::write(&file, config).expect("config");
    let file = file.to_str().expect("utf-8 path").to_owned();
    let server = TestServer::start(&plugins, &["--config", &file]);
    (dir, server)
}

#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_runs_each_on_disconnect() {
    const N: usize = 12;
    let (_dir, mut server) = echo_server("shutdown_drain_ms = 20000\n");
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let mut ws = server.connect("/echo").await;
        ws.send(Message::text(format!("hello {i}")))
            .await
            .expect("send");
        assert_eq!(recv(&mut ws).await, Message::text(format!("hello {i}")));
        clients.push(ws);
    }
    let status = server
        .wait_status("every client open", Duration::from_secs(10), |s| {
            s["plugins"]["echo"]["connections"] == N
        })
        .await;
    assert_eq!(status["connections"]["websocket"], N);
    assert_eq!(server.count_log("disconnect "), 0, "{}", server.logs());

    // Each client answers the server's close frame, as a browser does.
    let closers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { closed(&mut ws).await }))
        .collect();
    let exit = server.terminate(Duration::from_secs(30)).await;
    for (i, closer) in closers.into_iter().enumerate() {
        let got = closer.await.expect("client task");
        assert_eq!(
            got,
            (1001, "server shutting down".to_string()),
            "client {i}"
        );
    }
    assert!(exit.success(), "exit status 0, got {exit:?}");
    let logs = server.logs();
    // Connection ids count from 1 in a fresh server.
    for id in 1..=N {
        let line = format!("disconnect {id}: code 1001 reason \"server shutting down\"");
        assert_eq!(
            logs.matches(&line).count(),
            1,
            "the on-disconnect of connection {id} once before the exit: {line}\n{logs}"
        );
    }
}

#[tokio::test]
async fn a_silent_client_holds_the_exit_back_no_longer_than_the_drain() {
    // The close handshake alone may take 20 s; the drain allows 500 ms.
    let (_dir, mut server) =
        echo_server("shutdown_drain_ms = 500\n[limits]\nclose_timeout_ms = 20000\n");
    // Connected, and then never read again: it never answers a close frame.
    let silent = server.connect("/echo").await;
    server
        .wait_status("the client open", Duration::from_secs(10), |s| {
            s["plugins"]["echo"]["connections"] == 1
        })
        .await;
    let start = Instant::now();
    let exit = server.terminate(Duration::from_secs(15)).await;
    let took = start.elapsed();
    assert!(exit.success(), "exit status 0, got {exit:?}");
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM; the drain is 500 ms\n{}",
        server.logs()
    );
    assert!(
        server.logs().contains("did not close within 500 ms"),
        "the cut is logged:\n{}",
        server.logs()
    );
    drop(silent);
}
