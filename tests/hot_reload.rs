//! Hot loading: plugins added, replaced and removed while the server runs,
//! and every kind of broken file refused with a clear log line while the
//! previous version keeps serving.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{fixture, install, plugins_dir, roundtrip, wasm, TestServer};

const WAIT: Duration = Duration::from_secs(10);

/// Write `bytes` to `dir/name` the way `mv` does: a temporary file, then an
/// atomic rename over the target.
fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).expect("write temp");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

#[tokio::test]
async fn add_replace_and_remove_without_restart() {
    let dir = plugins_dir();
    let server = TestServer::start(dir.path(), &[]);
    assert_eq!(server.refused("/myapp").await.0, 404);

    // Add: copied in two steps, as a slow `cp` would.
    let bytes = std::fs::read(wasm("echo")).expect("echo.wasm");
    let started = Instant::now();
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    std::fs::write(dir.path().join("myapp.wasm"), head).expect("write");
    tokio::time::sleep(Duration::from_millis(20)).await;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("myapp.wasm"))
            .expect("open");
        f.write_all(tail).expect("append");
    }
    let mut old = server.wait_route("/myapp", WAIT).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "route live after {took:?}");
    assert_eq!(roundtrip(&mut old, "v1").await, "v1");

    // Replace: a different plugin, with a manifest, by atomic rename.
    std::fs::write(
        dir.path().join("myapp.toml"),
        "[config]\nprefix = \"v2:\"\n",
    )
    .expect("manifest");
    atomic_write(
        dir.path(),
        "myapp.wasm",
        &std::fs::read(wasm("probe")).expect("probe.wasm"),
    );
    server.wait_log("plugin `myapp` (version", WAIT).await;
    let start = Instant::now();
    let mut new = loop {
        let mut ws = server.connect("/myapp").await;
        if roundtrip(&mut ws, "x").await == "v2:x" {
            break ws;
        }
        assert!(
            start.elapsed() < WAIT,
            "new version not serving; log:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(roundtrip(&mut new, "y").await, "v2:y");
    // The connection opened on the old version still runs the old code.
    assert_eq!(roundtrip(&mut old, "still v1").await, "still v1");

    // Remove: the route goes away; open connections keep working.
    std::fs::remove_file(dir.path().join("myapp.wasm")).expect("remove");
    server.wait_gone("/myapp", WAIT).await;
    server.wait_log("removed plugin `myapp`", WAIT).await;
    assert_eq!(roundtrip(&mut old, "after removal").await, "after removal");
    assert_eq!(roundtrip(&mut new, "z").await, "v2:z");
}

#[tokio::test]
async fn unchanged_content_is_not_reloaded() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/echo").await;
    // Rewrite the same bytes, then change something else to know the watcher
    // has caught up.
    install(dir.path(), "echo", "echo");
    install(dir.path(), "echo", "marker");
    server.wait_route("/marker", WAIT).await;
    assert_eq!(
        server.count_log("plugin `echo` (version"),
        1,
        "{}",
        server.logs()
    );
    assert_eq!(roundtrip(&mut ws, "a").await, "a");
}

/// The broken files a user may drop in, with the words the log must use.
fn broken_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let echo = std::fs::read(wasm("echo")).expect("echo.wasm");
    vec![
        (
            "garbage",
            b"this is not wasm at all".to_vec(),
            "not a WebAssembly file",
        ),
        ("empty", Vec::new(), "the file is empty"),
        (
            "core module",
            fixture("core-module"),
            "a core WebAssembly module, not a component",
        ),
        (
            "other world",
            fixture("wrong-world"),
            "does not implement the wasmsock:plugin/consumer world",
        ),
        (
            "instantiation trap",
            fixture("traps-on-start"),
            "fails while instantiating",
        ),
        (
            "half-written",
            echo[..echo.len() / 2].to_vec(),
            "not a valid component",
        ),
    ]
}

#[tokio::test]
async fn broken_new_files_are_refused_and_named() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/echo").await;
    for (i, (case, bytes, words)) in broken_files().into_iter().enumerate() {
        let name = format!("broken{i}");
        std::fs::write(dir.path().join(format!("{name}.wasm")), &bytes).expect("write");
        let line = format!("{name}.wasm: refused: {words}");
        server.wait_log(&line, WAIT).await;
        assert_eq!(
            server.refused(&format!("/{name}")).await.0,
            404,
            "{case}: no route"
        );
        assert_eq!(
            roundtrip(&mut ws, case).await,
            case,
            "{case}: other plugins keep serving"
        );
    }
}

#[tokio::test]
async fn broken_replacements_keep_the_previous_version() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "app");
    let server = TestServer::start(dir.path(), &[]);
    let mut live = server.connect("/app").await;
    for (case, bytes, words) in broken_files() {
        let before = server.count_log(words);
        std::fs::write(dir.path().join("app.wasm"), &bytes).expect("write");
        let start = Instant::now();
        while server.count_log(words) == before {
            assert!(
                start.elapsed() < WAIT,
                "{case}: no refusal logged:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let logs = server.logs();
        let line = logs
            .lines()
            .rev()
            .find(|l| l.contains(words))
            .unwrap_or_default();
        assert!(
            line.contains("app.wasm: refused:"),
            "{case}: names the file: {line}"
        );
        assert!(
            line.contains("the previous version keeps serving"),
            "{case}: {line}"
        );
        assert_eq!(
            roundtrip(&mut live, case).await,
            case,
            "{case}: live connection"
        );
        let mut fresh = server.connect("/app").await;
        assert_eq!(
            roundtrip(&mut fresh, "new").await,
            "new",
            "{case}: new connections"
        );
    }
    // A good file again is taken.
    install(dir.path(), "probe", "app");
    server
        .wait_log("replaced plugin `app` (version 2)", WAIT)
        .await;
}
