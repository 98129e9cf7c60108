//! The admin listener's event log through a real server: `/events` lists
//! loads, a refusal with its reason, failures and the quarantine they
//! start, newest first; `/events/stream` carries the same events live as
//! server-sent events, and a reader that reconnects with `Last-Event-ID`
//! gets what it missed.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{closed, install, plugins_dir, TestServer};

const WAIT: Duration = Duration::from_secs(10);

/// `/events`, newest first.
async fn events(server: &TestServer) -> Vec<Value> {
    let (code, body) = server.admin_get("/events").await;
    assert_eq!(code, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("/events is JSON");
    assert_eq!(page["capacity"], 256);
    page["events"].as_array().expect("events").clone()
}

/// A live reader of `/events/stream`.
struct Stream {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl Stream {
    /// Open the stream, optionally resuming after event `last`.
    async fn open(server: &TestServer, last: Option<u64>) -> Stream {
        let mut s = TcpStream::connect(&server.admin).await.expect("connect");
        let resume = last.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        s.write_all(
            format!("GET /events/stream HTTP/1.1\r\nHost: admin\r\n{resume}\r\n").as_bytes(),
        )
        .await
        .expect("request");
        let mut lines = BufReader::new(s).lines();
        let mut head = Vec::new();
        loop {
            let line = next_line(&mut lines).await;
            if line.is_empty() {
                break;
            }
            head.push(line.to_ascii_lowercase());
        }
        assert!(head[0].starts_with("http/1.1 200"), "{head:?}");
        assert!(
            head.iter().any(|h| h == "content-type: text/event-stream"),
            "{head:?}"
        );
        assert!(
            head.iter().any(|h| h == "transfer-encoding: chunked"),
            "a stream, not a whole body: {head:?}"
        );
        Stream { lines }
    }

    /// The next event's JSON (chunk sizes, comments and `retry:` skipped).
    async fn next(&mut self) -> Value {
        let start = Instant::now();
        let mut id = None;
        loop {
            assert!(start.elapsed() < WAIT, "no event within {WAIT:?}");
            let line = next_line(&mut self.lines).await;
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse::<u64>().ok();
            } else if let Some(json) = line.strip_prefix("data: ") {
                let e: Value = serde_json::from_str(json).expect("event JSON");
                assert_eq!(Some(e["id"].as_u64().expect("id")), id, "id: line matches");
                return e;
            }
        }
    }

    /// Read events until one of `kind` for `plugin`.
    async fn until(&mut self, kind: &str, plugin: &str) -> Value {
        loop {
            let e = self.next().await;
            if e["kind"] == kind && e["plugin"] == plugin {
                return e;
            }
        }
    }
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<TcpStream>>) -> String {
    tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the stream goes quiet")
        .expect("read")
        .expect("the stream ended")
}

/// Trap the probe plugin once.
async fn trap(server: &TestServer) {
    let mut ws = server.connect("/probe").await;
    ws.send(Message::text("trap")).await.expect("send");
    assert_eq!(closed(&mut ws).await.0, 1011);
}

#[tokio::test]
async fn the_event_log_lists_loads_refusals_failures_and_quarantines_newest_first() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    install(dir.path(), "probe", "probe");
    std::fs::write(dir.path().join("probe.toml"), "quarantine_after = 2\n").expect("manifest");
    std::fs::write(dir.path().join("broken.wasm"), b"not a component").expect("broken");
    let server = TestServer::start(dir.path(), &[]);
    trap(&server).await;
    trap(&server).await;

    let start = Instant::now();
    let list = loop {
        let list = events(&server).await;
        if list.iter().any(|e| e["kind"] == "quarantined") {
            break list;
        }
        assert!(start.elapsed() < WAIT, "no quarantine event: {list:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let seen: Vec<(&str, &str)> = list
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind"),
                e["plugin"].as_str().expect("plugin"),
            )
        })
        .collect();
    // The folder loads in name order; newest first.
    assert_eq!(
        seen,
        [
            ("quarantined", "probe"),
            ("trap", "probe"),
            ("trap", "probe"),
            ("loaded", "probe"),
            ("loaded", "echo"),
            ("refused", "broken"),
        ],
        "{list:#?}"
    );
    let ids: Vec<u64> = list.iter().map(|e| e["id"].as_u64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for e in &list {
        let time = e["time"].as_str().expect("time");
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "RFC 3339: {time}"
        );
        assert!(e["unix_ms"].as_u64().expect("unix_ms") > 1_600_000_000_000);
    }
    let broken = &list[5];
    assert!(
        broken["detail"]
            .as_str()
            .is_some_and(|d| d.contains("broken.wasm") && d.contains("not a WebAssembly file")),
        "{broken}"
    );
    assert!(broken.get("version").is_none(), "refused: no version");
    assert_eq!(list[1]["version"], 1);
    assert!(
        list[1]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("connection ")),
        "{}",
        list[1]
    );
    assert!(
        list[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("after 2 failures")),
        "{}",
        list[0]
    );
    assert!(
        list[3]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/probe") && d.contains("shared")),
        "{}",
        list[3]
    );
}

#[tokio::test]
async fn the_stream_carries_events_live_and_resumes_after_the_last_id() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &[]);
    let mut live = Stream::open(&server, None).await;

    install(dir.path(), "echo", "late");
    let loaded = live.until("loaded", "late").await;
    assert_eq!(loaded["version"], 1);
    std::fs::write(dir.path().join("late.wasm"), b"\0asm broken").expect("overwrite");
    let refused = live.until("refused", "late").await;
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("the previous version keeps serving")),
        "{refused}"
    );
    std::fs::remove_file(dir.path().join("late.wasm")).expect("remove");
    let removed = live.until("removed", "late").await;
    assert_eq!(removed["version"], 1);

    // Each event once: the watcher does not take the server's own reads of
    // a file for changes.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let list = events(&server).await;
    let late: Vec<&str> = list
        .iter()
        .filter(|e| e["plugin"] == "late")
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(late, ["removed", "refused", "loaded"], "{list:#?}");

    // A reader that saw the load resumes with the refusal and the removal.
    let mut resumed = Stream::open(&server, loaded["id"].as_u64()).await;
    assert_eq!(resumed.next().await["id"], refused["id"]);
    assert_eq!(resumed.next().await["id"], removed["id"]);
}
