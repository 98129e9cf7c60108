//! Plugins that misbehave on purpose (`tests/plugins/hostile`): each is cut
//! off or capped, gets error values for bad calls, reaches nothing it was not
//! granted, and never slows or breaks the echo plugin served beside it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{closed, fixture, install, plugins_dir, recv, roundtrip, TestServer, Ws};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Serve `hostile` (with `manifest`) beside `echo`.
fn hostile_server(dir: &Path, manifest: &str) -> TestServer {
    install(dir, "hostile", "hostile");
    install(dir, "echo", "echo");
    std::fs::write(dir.join("hostile.toml"), manifest).expect("manifest");
    TestServer::start(dir, &[])
}

/// Echo `n` messages on `ws`; returns the slowest round trip.
async fn echo_rounds(ws: &mut Ws, n: usize) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 0..n {
        let start = Instant::now();
        assert_eq!(
            roundtrip(ws, &format!("ping {i}")).await,
            format!("ping {i}")
        );
        worst = worst.max(start.elapsed());
    }
    worst
}

fn plugin<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &status["plugins"][name]
}

#[tokio::test]
async fn infinite_loops_are_cut_at_the_deadline_in_every_export() {
    let dir = plugins_dir();
    let server = hostile_server(dir.path(), "quarantine_after = 0\ncall_timeout_ms = 100\n");
    let mut echo = server.connect("/echo").await;

    // on-message: the connection is closed with 1011 once the budget is spent.
    let mut ws = server.connect("/hostile").await;
    let start = Instant::now();
    ws.send(Message::text("loop")).await.expect("send");
    let (code, _) = closed(&mut ws).await;
    assert_eq!(code, 1011);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "cut off after {:?}",
        start.elapsed()
    );
    server
        .wait_log("100 ms CPU budget", Duration::from_secs(5))
        .await;
    echo_rounds(&mut echo, 5).await;

    // A wait in WASI (a 30 s sleep) ends at the same deadline: the shard is
    // not held by a guest that waits rather than spins.
    let mut ws = server.connect("/hostile").await;
    let start = Instant::now();
    ws.send(Message::text("sleep")).await.expect("send");
    assert_eq!(closed(&mut ws).await.0, 1011);
    let slept = start.elapsed();
    assert!(slept < Duration::from_secs(3), "sleep cut after {slept:?}");

    // on-connect: the upgrade is answered 500 and nothing is upgraded.
    let (status, body, _) = server.refused("/hostile?connect=loop").await;
    assert_eq!((status, body.as_str()), (500, "plugin failed\n"));

    // on-disconnect: the call is cut off and the next connection is served
    // by a fresh instance.
    let mut ws = server.connect("/hostile").await;
    assert_eq!(
        roundtrip(&mut ws, "on-disconnect loop").await,
        "on-disconnect will loop"
    );
    ws.close(None).await.expect("close");
    let st = server
        .wait_status("four failures", Duration::from_secs(5), |s| {
            plugin(s, "hostile")["failures"] == 4
        })
        .await;
    assert_eq!(plugin(&st, "hostile")["live_shards"], 1, "{st:#}");
    let mut ws = server.connect("/hostile").await;
    assert_eq!(roundtrip(&mut ws, "still here").await, "still here");
    echo_rounds(&mut echo, 5).await;
    assert_eq!(plugin(&server.status().await, "echo")["failures"], 0);
}

#[tokio::test]
async fn a_spinning_plugin_does_not_slow_the_others() {
    let dir = plugins_dir();
    // A long budget, so the spin lasts while the echo is measured.
    let server = hostile_server(dir.path(), "quarantine_after = 0\ncall_timeout_ms = 1500\n");
    let mut echo = server.connect("/echo").await;
    let quiet = echo_rounds(&mut echo, 50).await;

    let mut ws = server.connect("/hostile").await;
    ws.send(Message::text("loop")).await.expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    let mut rounds = 0;
    while start.elapsed() < Duration::from_millis(1200) {
        worst = worst.max(echo_rounds(&mut echo, 1).await);
        rounds += 1;
    }
    assert!(
        worst < quiet + Duration::from_millis(200),
        "echo slowest round trip {worst:?} while another plugin spins (quiet: {quiet:?})"
    );
    assert!(
        rounds > 50,
        "only {rounds} echoes in 1.2 s while another plugin spins"
    );
    assert_eq!(closed(&mut ws).await.0, 1011);
}

#[tokio::test]
async fn traps_in_every_export_close_with_1011_and_are_isolated() {
    let dir = plugins_dir();
    let server = hostile_server(dir.path(), "quarantine_after = 0\n");
    let mut echo = server.connect("/echo").await;
    for command in ["panic", "unreachable", "divide 0"] {
        let mut ws = server.connect("/hostile").await;
        ws.send(Message::text(command)).await.expect("send");
        assert_eq!(closed(&mut ws).await.0, 1011, "{command}");
        echo_rounds(&mut echo, 3).await;
    }
    let mut ws = server.connect("/hostile").await;
    ws.send(Message::text("divide 4")).await.expect("send");
    let got = recv(&mut ws).await;
    assert_eq!(got, Message::text("25"), "{}", server.logs());

    // A trap in on-connect answers 500; like any trap it also ends the
    // other connections of its shard.
    let (status, _, _) = server.refused("/hostile?connect=panic").await;
    assert_eq!(status, 500);
    assert_eq!(closed(&mut ws).await.0, 1011);
    let mut ws = server.connect("/hostile").await;

    assert_eq!(
        roundtrip(&mut ws, "on-disconnect panic").await,
        "on-disconnect will panic"
    );
    ws.close(None).await.expect("close");
    server
        .wait_status("five failures", Duration::from_secs(5), |s| {
            plugin(s, "hostile")["failures"] == 5
        })
        .await;
    let logs = server.logs();
    for needle in [
        "hostile plugin panics on purpose",
        "wasm trap: wasm `unreachable`",
        "attempt to divide by zero",
    ] {
        assert!(logs.contains(needle), "log names {needle:?}:\n{logs}");
    }
    let mut ws = server.connect("/hostile").await;
    assert_eq!(roundtrip(&mut ws, "alive").await, "alive");
    echo_rounds(&mut echo, 3).await;
}

#[tokio::test]
async fn memory_growth_stops_at_the_cap() {
    let dir = plugins_dir();
    let server = hostile_server(dir.path(), "quarantine_after = 0\nmemory_limit_mb = 32\n");
    let mut echo = server.connect("/echo").await;
    let before = server.rss();

    // memory.grow is refused (the guest sees -1) at the cap, without a trap.
    let mut ws = server.connect("/hostile").await;
    let answer = roundtrip(&mut ws, "memory-grow").await;
    let mib: u64 = answer
        .rsplit("memory is ")
        .next()
        .and_then(|t| t.strip_suffix(" MiB"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer {answer:?}"));
    assert!(
        (31..=32).contains(&mib),
        "memory grew to {mib} MiB under a 32 MiB cap"
    );

    // A vector that grows without end fails to allocate: a trap, then a
    // fresh instance. Five times over, the host's memory stays bounded.
    for _ in 0..5 {
        let mut ws = server.connect("/hostile").await;
        ws.send(Message::text("grow-vec")).await.expect("send");
        assert_eq!(closed(&mut ws).await.0, 1011);
    }
    let grown = server.rss().saturating_sub(before);
    assert!(grown < 160 << 20, "server RSS grew by {} MiB", grown >> 20);
    echo_rounds(&mut echo, 3).await;

    // A table far over the cap is refused when the plugin loads.
    std::fs::write(dir.path().join("table.wasm"), fixture("huge-table")).expect("write");
    server
        .wait_log("table.wasm: refused", Duration::from_secs(10))
        .await;
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("table.wasm: refused"))
        .unwrap_or_default();
    assert!(line.contains("table"), "refusal names the table: {line}");
    assert!(
        server.rss() < before + (200 << 20),
        "the huge table was not allocated"
    );
}

#[tokio::test]
async fn bad_import_calls_are_error_values() {
    let dir = plugins_dir();
    install(dir.path(), "hostile", "hostile");
    install(dir.path(), "echo", "echo");
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "[limits]\nmax_message_size = 65536\n").expect("config");
    let server = TestServer::start(dir.path(), &["--config", config.to_str().expect("utf-8")]);
    let mut echo = server.connect("/echo").await;
    let mut ws = server.connect("/hostile").await;

    // Every id: other plugins' connections are unknown to this one.
    // The echo connection (id 1) belongs to another plugin; a huge id was
    // never handed out.
    for id in [1u64, 1 << 60] {
        assert_eq!(
            roundtrip(&mut ws, &format!("send-to {id}")).await,
            "Err(Error::UnknownConnection)"
        );
    }
    assert_eq!(
        roundtrip(&mut ws, "send-big 65537").await,
        "Err(Error::TooLarge(65536))"
    );
    // The message goes out before the answer.
    ws.send(Message::text("send-big 10")).await.expect("send");
    assert_eq!(recv(&mut ws).await, Message::binary(vec![0u8; 10]));
    assert_eq!(recv(&mut ws).await, Message::text("Ok(())"));
    for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        assert_eq!(
            roundtrip(&mut ws, &format!("close {code}")).await,
            "Err(Error::InvalidClose)",
            "code {code}"
        );
    }
    // Nothing reached the echo connection.
    echo_rounds(&mut echo, 3).await;
    assert_eq!(plugin(&server.status().await, "hostile")["failures"], 0);
}

/// Send a flood command and expect its answer; on failure, show the log
/// without the flood itself.
async fn flood(server: &TestServer, ws: &mut Ws, command: &str) {
    ws.send(Message::text(command)).await.expect("send");
    let got = recv(ws).await;
    let logs = server.logs();
    let short: Vec<&str> = logs.lines().filter(|l| !l.contains("xxxx")).collect();
    assert_eq!(
        got,
        Message::text("flooded 200 lines"),
        "{}",
        short.join("\n")
    );
}

#[tokio::test]
async fn a_log_flood_is_capped_per_second_and_per_line() {
    let dir = plugins_dir();
    let server = hostile_server(
        dir.path(),
        "log_lines_per_second = 40\ncall_timeout_ms = 1000\n",
    );
    let mut ws = server.connect("/hostile").await;
    // Lines the log filter discards (debug, under RUST_LOG=info) cost no
    // budget: none is dropped, no limit is reported.
    flood(&server, &mut ws, "debug-flood 12800").await;
    let st = server.status().await;
    assert_eq!(plugin(&st, "hostile")["log_lines_dropped"], 0, "{st:#}");
    assert!(!server.logs().contains("log rate limit"));
    // 200 lines of 64 KiB through the log import, then 200 through stdout.
    flood(&server, &mut ws, "log-flood 12800").await;
    flood(&server, &mut ws, "stdout-flood 12800").await;
    server
        .wait_log(
            "log rate limit of 40 lines per second reached",
            Duration::from_secs(5),
        )
        .await;
    let st = server
        .wait_status("dropped lines", Duration::from_secs(5), |s| {
            plugin(s, "hostile")["log_lines_dropped"].as_u64() >= Some(400 - 80)
        })
        .await;
    assert!(
        plugin(&st, "hostile")["log_lines_dropped"].as_u64() <= Some(400 - 40),
        "{st:#}"
    );
    let logs = server.logs();
    let flood: Vec<&str> = logs.lines().filter(|l| l.contains("xxxxxxxx")).collect();
    assert!(
        (40..=80).contains(&flood.len()),
        "{} flood lines logged",
        flood.len()
    );
    assert!(
        flood.iter().all(|l| l.len() < 4096 + 300),
        "lines are cut at 4 KiB"
    );
    // The plugin is not punished for it.
    assert_eq!(roundtrip(&mut ws, "fine").await, "fine");
}

#[tokio::test]
async fn a_reader_that_never_reads_is_closed_with_1008() {
    let dir = plugins_dir();
    // A long budget: the plugin's loop ends only when the queue is full,
    // after the socket's own buffers have filled.
    let server = hostile_server(dir.path(), "call_timeout_ms = 5000\n");
    let mut echo = server.connect("/echo").await;
    let mut ws = server.connect("/hostile").await;
    // The plugin sends 1 KiB messages to this connection until refused,
    // and the client reads nothing meanwhile.
    ws.send(Message::text("send-flood")).await.expect("send");
    server
        .wait_log("send-flood stopped after", Duration::from_secs(5))
        .await;
    echo_rounds(&mut echo, 20).await;
    let logs = server.logs();
    assert!(
        logs.contains("send-flood stopped after") && logs.contains("Error::QueueFull"),
        "{logs}"
    );
    // Now read: the queued messages, then the close with 1008.
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        assert!(Instant::now() < deadline, "no close frame");
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => break f.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(1008));
    server.wait_log("code=1008", Duration::from_secs(10)).await;
    echo_rounds(&mut echo, 3).await;
}

/// Serve `hostile` with `mode` (its first manifest lines) and `manifest`,
/// ask it to try WASI, and check that each expected line starts one line
/// of its answer.
async fn wasi_answer(mode: &str, manifest: &str, expect: &[&str]) {
    let dir = plugins_dir();
    let server = hostile_server(dir.path(), &format!("{mode}{manifest}"));
    let mut ws = server.connect("/hostile").await;
    let answer = roundtrip(&mut ws, "wasi").await;
    for e in expect {
        assert!(
            answer.lines().any(|l| l.starts_with(e)),
            "{e:?} in:\n{answer}"
        );
    }
}

#[tokio::test]
async fn wasi_reaches_nothing_unless_granted() {
    wasi_reaches_only_what_is_granted("").await;
}

/// Per-connection instances use WASI's synchronous functions (their calls
/// run without a fiber): the same answers, granted or not, and printing
/// works too.
#[tokio::test]
async fn wasi_reaches_nothing_unless_granted_per_connection() {
    let mode = "instance = \"per-connection\"\n";
    wasi_reaches_only_what_is_granted(mode).await;
    let dir = plugins_dir();
    let server = hostile_server(dir.path(), mode);
    let mut ws = server.connect("/hostile").await;
    assert_eq!(
        roundtrip(&mut ws, "stdout-flood 128").await,
        "flooded 2 lines"
    );
    assert_eq!(roundtrip(&mut ws, "still").await, "still");
}

async fn wasi_reaches_only_what_is_granted(mode: &str) {
    wasi_answer(
        mode,
        "",
        &[
            "preopens: []",
            "fs-read /etc/passwd: denied",
            "fs-list /: denied",
            "fs-write /: denied",
            "env HOME: denied",
            "env count: 0",
            "clock: allowed",
            "random: 16 bytes",
            "tcp 127.0.0.1:22: denied",
            "dns localhost: denied",
        ],
    )
    .await;

    // Granted: a read-only folder, a writable one, a variable, one address.
    let data = tempfile::tempdir().expect("tmp");
    std::fs::write(data.path().join("hello.txt"), "hello").expect("write");
    let scratch = tempfile::tempdir().expect("tmp");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let manifest = format!(
        "[config]\nfile = \"/data/hello.txt\"\ndir = \"/data\"\nenv = \"GREETING\"\ntcp = \"127.0.0.1:{port}\"\n\n\
         [wasi]\nenv = {{ GREETING = \"hi\" }}\nconnect = [\"127.0.0.1:{port}\"]\n\
         dirs = [{{ host = {:?}, guest = \"/data\" }}, {{ host = {:?}, guest = \"/scratch\", writable = true }}]\n",
        data.path(),
        scratch.path()
    );
    wasi_answer(
        mode,
        &manifest,
        &[
            "preopens: [/data,/scratch]",
            "fs-read /data/hello.txt: allowed: 5 bytes",
            "fs-list /data: allowed: 1 entries",
            "fs-write /data: denied",
            "env GREETING: allowed: \"hi\"",
            "env count: 1",
            &format!("tcp 127.0.0.1:{port}: allowed: connected"),
            "dns localhost: denied",
        ],
    )
    .await;

    // Another port on the same host stays closed; the writable folder takes
    // a file.
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let other_port = other.local_addr().expect("addr").port();
    let manifest = format!(
        "[config]\ntcp = \"127.0.0.1:{other_port}\"\ndir = \"/scratch\"\n\n[wasi]\nconnect = [\"127.0.0.1:{port}\"]\n\
         dirs = [{{ host = {:?}, guest = \"/scratch\", writable = true }}]\n",
        scratch.path()
    );
    wasi_answer(
        mode,
        &manifest,
        &[
            &format!("tcp 127.0.0.1:{other_port}: denied"),
            "fs-write /scratch: allowed: written",
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("hostile.txt")).expect("written"),
        "x"
    );
}

#[tokio::test]
async fn a_plugin_that_keeps_failing_is_quarantined() {
    let dir = plugins_dir();
    let server = hostile_server(dir.path(), "quarantine_after = 3\nquarantine_ms = 1500\n");
    let mut echo = server.connect("/echo").await;
    for _ in 0..3 {
        let mut ws = server.connect("/hostile").await;
        ws.send(Message::text("panic")).await.expect("send");
        assert_eq!(closed(&mut ws).await.0, 1011);
    }
    server
        .wait_log(
            "plugin quarantined for 1.5 s after 3 failures",
            Duration::from_secs(5),
        )
        .await;
    let (status, body, headers) = server.refused("/hostile").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("quarantined")
            && body.contains("last failure: wasm trap: wasm `unreachable`"),
        "{body}"
    );
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "retry-after" && (v == "1" || v == "2")),
        "{headers:?}"
    );
    let st = server.status().await;
    let q = &plugin(&st, "hostile")["quarantine"];
    assert_eq!(q["failures"], 3, "{st:#}");
    assert!(
        q["reason"].as_str().unwrap_or("").contains("unreachable"),
        "{st:#}"
    );
    // Other plugins are untouched; after the quarantine the plugin serves.
    echo_rounds(&mut echo, 3).await;
    let mut ws = server.wait_route("/hostile", Duration::from_secs(5)).await;
    assert_eq!(roundtrip(&mut ws, "back").await, "back");
    assert!(plugin(&server.status().await, "hostile")["quarantine"].is_null());
}
