//! Live upgrades: a new version of a plugin takes its open connections over
//! (state from their attachments, messages in order, none lost), a failed
//! call costs one connection instead of a shard, and plugins that do not
//! adopt drain or close as their manifest says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{
    atomic_write, closed, install, plugins_dir, raise_fd_limit, roundtrip, wasm, TestServer,
};

const WAIT: Duration = Duration::from_secs(10);

/// `component` with a custom section appended: the same behaviour in a file
/// with another hash, as a rebuild gives.
fn rebuilt(component: &[u8], stamp: &str) -> Vec<u8> {
    let name = b"wasmsock-test-build";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(stamp.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section
    let mut len = body.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&body);
    out
}

/// Parse keeper's answer `V:N:TEXT`.
fn parse(answer: &str) -> (u64, u64, String) {
    let mut parts = answer.splitn(3, ':');
    let v = parts.next().and_then(|v| v.parse().ok());
    let n = parts.next().and_then(|n| n.parse().ok());
    match (v, n, parts.next()) {
        (Some(v), Some(n), Some(t)) => (v, n, t.to_string()),
        _ => panic!("not a keeper answer: {answer:?}"),
    }
}

fn keeper_manifest(version: u32, extra: &str) -> Vec<u8> {
    format!("shards = 2\n{extra}\n[config]\nversion = \"{version}\"\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_move_to_each_new_version_with_their_state() {
    const CONNS: usize = 1000;
    raise_fd_limit();
    let dir = plugins_dir();
    let keeper = std::fs::read(wasm("keeper")).expect("keeper.wasm");
    atomic_write(dir.path(), "keeper.toml", &keeper_manifest(1, ""));
    atomic_write(dir.path(), "keeper.wasm", &keeper);
    let server = TestServer::start(dir.path(), &[]);
    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        clients.push(server.connect("/keeper").await);
    }

    // Every client talks without pause (one message in flight each, 20 ms
    // apart) until it has seen the last version, checking every answer.
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(CONNS);
    for (c, mut ws) in clients.into_iter().enumerate() {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(90);
            let (mut i, mut last_v) = (0u64, 0u64);
            loop {
                i += 1;
                let text = format!("c{c}m{i}");
                ws.send(Message::text(text.clone()))
                    .await
                    .map_err(|e| format!("client {c}: send {i}: {e}"))?;
                let answer = loop {
                    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => break t.as_str().to_string(),
                        Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                        other => return Err(format!("client {c}: message {i}: {other:?}")),
                    }
                };
                let (v, n, echoed) = parse(&answer);
                if n != i || echoed != text {
                    return Err(format!(
                        "client {c}: message {i} ({text}) answered {answer:?}: lost, repeated or out of order"
                    ));
                }
                if v < last_v {
                    return Err(format!("client {c}: version went back from {last_v} to {v}"));
                }
                last_v = v;
                if done.load(Ordering::Acquire) && v == 4 {
                    return Ok((i, last_v));
                }
                if Instant::now() > deadline {
                    return Err(format!("client {c}: still on version {v} after 90 s"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    // Three reloads while they talk: the manifest alone, new code, the
    // manifest again.
    let steps: [(u32, bool); 3] = [(2, false), (3, true), (4, false)];
    for (version, new_code) in steps {
        tokio::time::sleep(Duration::from_millis(400)).await;
        atomic_write(dir.path(), "keeper.toml", &keeper_manifest(version, ""));
        if new_code {
            atomic_write(dir.path(), "keeper.wasm", &rebuilt(&keeper, "v3"));
        }
        server
            .wait_log(&format!("plugin `keeper` (version {version})"), WAIT)
            .await;
    }
    done.store(true, Ordering::Release);

    let mut total = 0;
    for task in tasks {
        match task.await.expect("client task") {
            Ok((sent, version)) => {
                assert_eq!(version, 4);
                total += sent;
            }
            Err(e) => panic!("{e}\nlog:\n{}", server.logs()),
        }
    }
    let adopted = server
        .metric("wasmsock_connections_moved_total{plugin=\"keeper\",outcome=\"adopted\"}")
        .await;
    assert_eq!(
        adopted,
        (3 * CONNS) as f64,
        "every connection adopted by each of the three new versions"
    );
    // The old versions are gone: two shards of the version in force remain.
    server
        .wait_status("only the last version's shards", WAIT, |st| {
            st["shards"].as_u64() == Some(2)
        })
        .await;
    println!("{CONNS} clients, {total} messages answered in order across 3 reloads");
}

#[tokio::test]
async fn a_failed_call_costs_its_connection_and_the_others_keep_their_state() {
    let dir = plugins_dir();
    atomic_write(
        dir.path(),
        "keeper.toml",
        b"shards = 1\nmemory_limit_mb = 16\ncall_timeout_ms = 100\nquarantine_after = 0\n",
    );
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut ws = server.connect("/keeper").await;
        assert_eq!(roundtrip(&mut ws, "a").await, "1:1:a");
        clients.push(ws);
    }
    // A trap, a deadline and the memory cap, each in a call for one
    // connection of the shared instance.
    for (round, (how, kind)) in [("trap", "trap"), ("spin", "deadline"), ("grow", "memory")]
        .into_iter()
        .enumerate()
    {
        let mut failing = clients.remove(0);
        failing.send(Message::text(how)).await.expect("send");
        assert_eq!(
            closed(&mut failing).await.0,
            1011,
            "{how}: the failing connection"
        );
        let n = round as u64 + 2;
        for (i, ws) in clients.iter_mut().enumerate() {
            let answer = roundtrip(ws, &format!("after-{how}")).await;
            assert_eq!(
                answer,
                format!("1:{n}:after-{how}"),
                "{how}: connection {i} lost its state or its place:\n{}",
                server.logs()
            );
        }
        let failures = server
            .metric(&format!(
                "wasmsock_plugin_failures_total{{plugin=\"keeper\",kind=\"{kind}\"}}"
            ))
            .await;
        assert_eq!(failures, 1.0, "{how} counted as {kind}");
    }
    assert_eq!(
        server.count_log("keeper adopted"),
        99 + 98 + 97,
        "each fresh instance adopted the others:\n{}",
        server.logs()
    );
    assert!(server
        .logs()
        .contains("handing its other connections to a fresh instance"));
}

#[tokio::test]
async fn attachments_are_kept_by_the_host_and_capped() {
    let dir = plugins_dir();
    atomic_write(dir.path(), "keeper.toml", b"attachment_max_bytes = 1000\n");
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/keeper").await;
    assert_eq!(roundtrip(&mut ws, "get").await, "Ok(\"\")");
    assert_eq!(roundtrip(&mut ws, "x").await, "1:1:x");
    assert_eq!(roundtrip(&mut ws, "get").await, "Ok(\"1\")");
    assert_eq!(
        roundtrip(&mut ws, "big").await,
        "Err(Error::TooLarge(1000))"
    );
    assert_eq!(
        roundtrip(&mut ws, "get").await,
        "Ok(\"1\")",
        "a refused attachment leaves the previous one"
    );
    let held = server
        .metric("wasmsock_attachment_bytes{plugin=\"keeper\"}")
        .await;
    assert_eq!(held, 1.0, "one byte held");
    drop(ws);
    server.wait_log("keeper disconnect", WAIT).await;
    let start = Instant::now();
    while server
        .metric("wasmsock_attachment_bytes{plugin=\"keeper\"}")
        .await
        != 0.0
    {
        assert!(
            start.elapsed() < WAIT,
            "attachment bytes never went back to 0"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn close_mode_and_a_refused_adoption_close_with_1012() {
    let dir = plugins_dir();
    atomic_write(dir.path(), "keeper.toml", &keeper_manifest(1, ""));
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let mut a = server.connect("/keeper").await;
    assert_eq!(roundtrip(&mut a, "x").await, "1:1:x");
    atomic_write(
        dir.path(),
        "keeper.toml",
        &keeper_manifest(2, "on_reload = \"close\""),
    );
    assert_eq!(closed(&mut a).await, (1012, "plugin replaced".to_string()));

    let mut b = server.connect("/keeper").await;
    assert_eq!(roundtrip(&mut b, "y").await, "2:1:y");
    atomic_write(
        dir.path(),
        "keeper.toml",
        b"shards = 2\n[config]\nversion = \"3\"\nadopt = \"no\"\n",
    );
    assert_eq!(
        closed(&mut b).await,
        (1012, "not adopted by the new version".to_string())
    );
    let refused = server
        .metric("wasmsock_connections_moved_total{plugin=\"keeper\",outcome=\"refused\"}")
        .await;
    assert_eq!(refused, 1.0);
}

#[tokio::test]
async fn a_plugin_without_adopt_handler_drains_then_closes() {
    let dir = plugins_dir();
    atomic_write(dir.path(), "probe.toml", b"[config]\nprefix = \"v1:\"\n");
    install(dir.path(), "probe", "probe");
    let server = TestServer::start(dir.path(), &[]);
    let mut old = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut old, "x").await, "v1:x");

    // Replaced: probe exports no adopt-handler, so it drains.
    atomic_write(
        dir.path(),
        "probe.toml",
        b"drain_timeout_ms = 1500\n[config]\nprefix = \"v2:\"\n",
    );
    server.wait_log("plugin `probe` (version 2)", WAIT).await;
    let replaced = Instant::now();
    let mut new = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut new, "x").await, "v2:x");
    assert_eq!(
        roundtrip(&mut old, "x").await,
        "v1:x",
        "the old connection keeps the old version until the drain ends"
    );
    assert_eq!(
        closed(&mut old).await,
        (1012, "plugin replaced".to_string())
    );
    let took = replaced.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "closed {took:?} after the reload"
    );
    server.wait_log("probe disconnect", WAIT).await;

    // Removed: the open connection drains the same way, then gets 1001.
    std::fs::remove_file(dir.path().join("probe.wasm")).expect("remove");
    server.wait_log("removed plugin `probe`", WAIT).await;
    assert_eq!(
        roundtrip(&mut new, "y").await,
        "v2:y",
        "still served while it drains"
    );
    assert_eq!(closed(&mut new).await, (1001, "plugin removed".to_string()));
}

#[tokio::test]
async fn a_stateless_plugin_moves_when_its_manifest_says_adopt() {
    let dir = plugins_dir();
    atomic_write(
        dir.path(),
        "probe.toml",
        b"on_reload = \"adopt\"\n[config]\nprefix = \"v1:\"\n",
    );
    install(dir.path(), "probe", "probe");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut ws, "x").await, "v1:x");
    atomic_write(
        dir.path(),
        "probe.toml",
        b"on_reload = \"adopt\"\n[config]\nprefix = \"v2:\"\n",
    );
    server.wait_log("plugin `probe` (version 2)", WAIT).await;
    let start = Instant::now();
    loop {
        let answer = roundtrip(&mut ws, "x").await;
        if answer == "v2:x" {
            break;
        }
        assert_eq!(answer, "v1:x");
        assert!(start.elapsed() < WAIT, "the connection never moved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It moved without a call: the old version never heard a disconnect.
    drop(ws);
    server.wait_log("probe disconnect", WAIT).await;
    assert_eq!(server.count_log("probe disconnect"), 1);
}

#[tokio::test]
async fn twenty_reloads_leave_one_version_and_no_memory_behind() {
    let dir = plugins_dir();
    atomic_write(dir.path(), "keeper.toml", &keeper_manifest(1, ""));
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/keeper").await;
    assert_eq!(roundtrip(&mut ws, "x").await, "1:1:x");
    // Warm up: one reload and back, so allocator pools settle first.
    atomic_write(dir.path(), "keeper.toml", &keeper_manifest(2, ""));
    server.wait_log("plugin `keeper` (version 2)", WAIT).await;
    assert_eq!(roundtrip(&mut ws, "x").await, "2:2:x");
    let before = server.rss();
    for v in 3..=22u32 {
        atomic_write(dir.path(), "keeper.toml", &keeper_manifest(v, ""));
        server
            .wait_log(&format!("plugin `keeper` (version {v})"), WAIT)
            .await;
        let start = Instant::now();
        loop {
            let (got, n, _) = parse(&roundtrip(&mut ws, "x").await);
            if got == u64::from(v) {
                assert!(n >= u64::from(v), "count carried over");
                break;
            }
            assert!(start.elapsed() < WAIT, "never moved to version {v}");
        }
    }
    drop(ws);
    server.wait_log("keeper disconnect", WAIT).await;
    let st = server
        .wait_status("one version with its two shards", WAIT, |st| {
            st["shards"].as_u64() == Some(2)
                && st["plugins"]["keeper"]["versions"].as_array().map(Vec::len) == Some(1)
        })
        .await;
    assert_eq!(st["plugins"]["keeper"]["version"], 22);
    let after = server.rss();
    let grew = after.saturating_sub(before);
    assert!(
        grew < 4 << 20,
        "RSS grew {} KiB over 20 reloads ({} → {} KiB)",
        grew >> 10,
        before >> 10,
        after >> 10
    );
    println!(
        "20 reloads: RSS {} → {} KiB ({:+} KiB)",
        before >> 10,
        after >> 10,
        (after as i64 - before as i64) >> 10
    );
}

/// Receive the next text, or `None` when nothing comes within `within`.
async fn text_within(ws: &mut crate::support::Ws, within: Duration) -> Option<String> {
    match tokio::time::timeout(within, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => Some(t.as_str().to_string()),
        Ok(other) => panic!("expected a text message, got {other:?}"),
        Err(_) => None,
    }
}

#[tokio::test]
async fn timers_fire_once_cancel_die_with_their_connection_and_survive_a_reload() {
    let dir = plugins_dir();
    atomic_write(
        dir.path(),
        "keeper.toml",
        &keeper_manifest(1, "timers_max = 4"),
    );
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/keeper").await;

    // Once, at about the asked time.
    let set = Instant::now();
    assert_eq!(roundtrip(&mut ws, "timer 300 7").await, "Ok(())");
    assert_eq!(
        text_within(&mut ws, WAIT).await.as_deref(),
        Some("1:timer 7")
    );
    let took = set.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(1500),
        "fired after {took:?}"
    );
    assert_eq!(
        text_within(&mut ws, Duration::from_millis(500)).await,
        None,
        "fired once"
    );

    // Cancelled: never fires; a second cancel finds nothing.
    assert_eq!(roundtrip(&mut ws, "timer 200 8").await, "Ok(())");
    assert_eq!(roundtrip(&mut ws, "cancel 8").await, "true");
    assert_eq!(roundtrip(&mut ws, "cancel 8").await, "false");
    assert_eq!(text_within(&mut ws, Duration::from_millis(500)).await, None);

    // Bounded: the fifth timer of the instance is refused.
    for t in 1..=4 {
        assert_eq!(
            roundtrip(&mut ws, &format!("timer 60000 {t}")).await,
            "Ok(())"
        );
    }
    assert_eq!(
        roundtrip(&mut ws, "timer 60000 5").await,
        "Err(TimerError::TooMany(4))"
    );
    for t in 1..=4 {
        assert_eq!(roundtrip(&mut ws, &format!("cancel {t}")).await, "true");
    }

    // A connection's timer dies with it.
    let mut gone = server.connect("/keeper").await;
    assert_eq!(roundtrip(&mut gone, "timer 300 9").await, "Ok(())");
    drop(gone);
    server.wait_log("keeper disconnect", WAIT).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        server.count_log("keeper timer"),
        1,
        "only the first timer fired"
    );

    // A connection's timer and a plugin timer outlive a reload and fire in
    // the new version.
    assert_eq!(roundtrip(&mut ws, "timer 1000 10").await, "Ok(())");
    assert_eq!(roundtrip(&mut ws, "ptimer 1000 11").await, "Ok(())");
    atomic_write(
        dir.path(),
        "keeper.toml",
        &keeper_manifest(2, "timers_max = 4"),
    );
    server.wait_log("plugin `keeper` (version 2)", WAIT).await;
    assert_eq!(
        text_within(&mut ws, WAIT).await.as_deref(),
        Some("2:timer 10"),
        "log:\n{}",
        server.logs()
    );
    server
        .wait_log("keeper plugin timer 11 version=2", WAIT)
        .await;
    let fired = server
        .metric("wasmsock_timers_total{plugin=\"keeper\",outcome=\"fired\"}")
        .await;
    let refused = server
        .metric("wasmsock_timers_total{plugin=\"keeper\",outcome=\"refused\"}")
        .await;
    assert_eq!((fired, refused), (3.0, 1.0));
}

/// Per-connection instances, which are called synchronously (no fiber):
/// a connection's state and its timer move to the new version's instance.
#[tokio::test]
async fn a_per_connection_instance_moves_with_its_state_and_timer() {
    let manifest = |v: u32| {
        format!("instance = \"per-connection\"\ntimers_max = 4\n[config]\nversion = \"{v}\"\n")
            .into_bytes()
    };
    let dir = plugins_dir();
    atomic_write(dir.path(), "keeper.toml", &manifest(1));
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/keeper").await;
    assert_eq!(roundtrip(&mut ws, "a").await, "1:1:a");
    assert_eq!(roundtrip(&mut ws, "b").await, "1:2:b");
    assert_eq!(roundtrip(&mut ws, "timer 2500 10").await, "Ok(())");
    atomic_write(dir.path(), "keeper.toml", &manifest(2));
    server.wait_log("plugin `keeper` (version 2)", WAIT).await;
    assert_eq!(roundtrip(&mut ws, "c").await, "2:3:c", "{}", server.logs());
    assert_eq!(
        text_within(&mut ws, WAIT).await.as_deref(),
        Some("2:timer 10"),
        "log:\n{}",
        server.logs()
    );
}
