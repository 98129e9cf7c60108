//! The echo plugin over real sockets: every kind of message comes back
//! unchanged, and one shared shard serves a thousand connections.

use std::time::Duration;

use crate::support::{self, install, plugins_dir, recv, TestServer};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn echoes_text_and_binary_of_every_size() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/echo").await;

    support::check_echo_cases(&server, &mut ws, "echo").await;
    ws.close(None).await.expect("close");
    server.wait_log("disconnect", Duration::from_secs(5)).await;
    let logs = server.logs();
    assert!(
        logs.contains("connect 1 path=/echo"),
        "on-connect logged:\n{logs}"
    );
    assert!(
        logs.contains("disconnect 1: code 1005"),
        "on-disconnect logged with its code:\n{logs}"
    );
}

#[tokio::test]
async fn pipelined_messages_keep_their_order() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/echo").await;
    for i in 0..500 {
        ws.feed(Message::text(format!("m{i}"))).await.expect("feed");
    }
    ws.flush().await.expect("flush");
    for i in 0..500 {
        assert_eq!(recv(&mut ws).await, Message::text(format!("m{i}")));
    }
}

#[tokio::test]
async fn a_thousand_connections_share_one_shard() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    std::fs::write(
        dir.path().join("echo.toml"),
        "shards = 1\ninstance = \"shared\"\n",
    )
    .expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    let url = server.url("/echo");

    const N: usize = 1000;
    let mut conns = Vec::with_capacity(N);
    for chunk in 0..(N / 100) {
        let opened = futures_util::future::join_all(
            (0..100).map(|_| tokio_tungstenite::connect_async(url.clone())),
        )
        .await;
        for (i, r) in opened.into_iter().enumerate() {
            let (ws, _) =
                r.unwrap_or_else(|e| panic!("connection {} failed: {e}", chunk * 100 + i));
            conns.push(ws);
        }
    }
    assert_eq!(conns.len(), N);
    // Every connection sends at once, then each checks its own echo.
    let results = futures_util::future::join_all(conns.into_iter().enumerate().map(
        |(i, mut ws)| async move {
            let text = format!("conn {i} says hi");
            ws.send(Message::text(text.clone()))
                .await
                .map_err(|e| format!("{i}: send {e}"))?;
            let got = tokio::time::timeout(Duration::from_secs(30), ws.next())
                .await
                .map_err(|_| format!("{i}: no echo within 30 s"))?;
            match got {
                Some(Ok(Message::Text(t))) if t.as_str() == text => Ok(ws),
                other => Err(format!("{i}: wrong echo {other:?}")),
            }
        },
    ))
    .await;
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {N} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // While all of them are open: one version of echo, one shard, serving
    // every connection.
    let st = server.status().await;
    assert_eq!(st["plugins"]["echo"]["version"], 1, "one load: {st:#}");
    assert_eq!(st["plugins"]["echo"]["live_shards"], 1, "one shard: {st:#}");
    assert_eq!(st["shards"], 1, "no other shard: {st:#}");
    assert_eq!(st["plugins"]["echo"]["connections"], N, "{st:#}");
    assert_eq!(st["connections"]["websocket"], N, "{st:#}");
    drop(results);
}

/// The zero-config way: `wasmsock serve` in a folder with `plugins/`, every
/// path relative, the default cache; SIGTERM then closes clients with 1001
/// and exits cleanly.
#[tokio::test]
async fn zero_config_relative_paths_and_clean_shutdown() {
    use std::io::{BufRead, BufReader};
    let work = plugins_dir();
    std::fs::create_dir(work.path().join("plugins")).expect("mkdir");
    install(&work.path().join("plugins"), "echo", "echo");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasmsock"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(work.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_string();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("connect");
    ws.send(Message::text("hi")).await.expect("send");
    assert_eq!(recv(&mut ws).await, Message::text("hi"));
    assert!(
        work.path().join("plugins/.wasmsock-cache").is_dir(),
        "default cache folder beside the plugins"
    );

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    assert_eq!(
        support::closed(&mut ws).await.0,
        1001,
        "clients hear the server going away"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "clean exit, got {status:?}");
}
