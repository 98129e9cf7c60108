//! Bad configuration: the server refuses to start, naming the file, the key
//! and what was expected; a bad manifest or a route conflict met while
//! running is refused and the previous state keeps serving.

use std::path::Path;
use std::time::Duration;

use crate::support::{fails_to_start, install, plugins_dir, roundtrip, TestServer};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn bad_server_config_files_name_file_key_and_expectation() {
    let dir = plugins_dir();
    let cfg = dir.path().join("wasmsock.toml");
    let cfg_arg = cfg.to_str().expect("utf-8 path").to_string();
    let cases: &[(&str, &[&str])] = &[
        (
            "listn = \"127.0.0.1:1\"\n",
            &["wasmsock.toml", "unknown field `listn`", "expected one of"],
        ),
        (
            "[limits]\nmax_message_size = \"big\"\n",
            &["wasmsock.toml", "max_message_size", "expected u64"],
        ),
        (
            "[limits]\nmax_frame_size = 0\n",
            &["wasmsock.toml", "limits.max_frame_size", "from 1 to"],
        ),
        (
            "listen = \"not an address\"\n",
            &["wasmsock.toml", "`listen`", "127.0.0.1:8080"],
        ),
        (
            "[plugin_defaults]\ninstance = \"pooled\"\n",
            &["wasmsock.toml", "instance", "per-connection"],
        ),
        (
            "[pool]\ninstances = 0\n",
            &["wasmsock.toml", "pool.instances", "from 1 to"],
        ),
        (
            "[pool]\nslots = 4\n",
            &["wasmsock.toml", "unknown field `slots`", "instances"],
        ),
        (
            "[pool]\nmemory_mb = 16\n",
            &[
                "wasmsock.toml",
                "pool.memory_mb",
                "plugin_defaults.memory_limit_mb (64)",
            ],
        ),
        (
            "shutdown_drain_ms = 0\n",
            &["wasmsock.toml", "`shutdown_drain_ms`", "from 1 to"],
        ),
        ("this is = not toml [\n", &["wasmsock.toml", "line 1"]),
        (
            "[tls]\ncert = \"cert.pem\"\n",
            &["wasmsock.toml", "`tls.key`", "tls.cert is given"],
        ),
        (
            "[tls]\nkey = \"key.pem\"\n",
            &["wasmsock.toml", "`tls.cert`", "tls.key is given"],
        ),
        (
            "[tls]\nlisten = \"127.0.0.1:0\"\n",
            &[
                "wasmsock.toml",
                "`tls.listen`",
                "needs tls.cert and tls.key",
            ],
        ),
        (
            "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nlisten = \"here\"\n",
            &["wasmsock.toml", "`tls.listen`", "127.0.0.1:8080"],
        ),
        (
            "[tls]\ncertificate = \"c.pem\"\n",
            &["wasmsock.toml", "unknown field `certificate`", "cert"],
        ),
    ];
    for (text, words) in cases {
        std::fs::write(&cfg, text).expect("write config");
        let err = fails_to_start(dir.path(), &["--config", &cfg_arg]);
        for w in *words {
            assert!(
                err.contains(w),
                "config {text:?}: error lacks {w:?}:\n{err}"
            );
        }
    }
    let err = fails_to_start(dir.path(), &["--listen", "nope:99"]);
    assert!(
        err.contains("--listen") && err.contains("127.0.0.1:8080"),
        "{err}"
    );
    let err = fails_to_start(dir.path(), &["--tls-key", "/k.pem"]);
    assert!(
        err.contains("--tls-key") && err.contains("`tls.cert`"),
        "{err}"
    );
    let err = fails_to_start(dir.path(), &["--config", "/nonexistent/wasmsock.toml"]);
    assert!(
        err.contains("/nonexistent/wasmsock.toml") && err.contains("cannot read"),
        "{err}"
    );
    let err = fails_to_start(Path::new("/nonexistent-plugins"), &[]);
    assert!(
        err.contains("plugins folder /nonexistent-plugins does not exist"),
        "{err}"
    );
}

#[test]
fn bad_manifest_at_start_stops_the_server() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    for (text, words) in [
        (
            "shards = 0\n",
            vec!["echo.toml", "`shards`", "from 1 to 256, found 0"],
        ),
        (
            "routes = [\"chat\"]\n",
            vec!["echo.toml", "routes[0]", "must start with '/'"],
        ),
        (
            "routes = [\"/a/{x}/{x}\"]\n",
            vec!["echo.toml", "routes[0]", "appears twice"],
        ),
        (
            "call_timeout_ms = -5\n",
            vec!["echo.toml", "call_timeout_ms"],
        ),
        (
            "colour = \"red\"\n",
            vec!["echo.toml", "unknown field `colour`"],
        ),
        (
            "allowed_origins = [\"example.com\"]\n",
            vec!["echo.toml", "allowed_origins[0]", "https://example.com"],
        ),
    ] {
        std::fs::write(dir.path().join("echo.toml"), text).expect("manifest");
        let err = fails_to_start(dir.path(), &[]);
        for w in words {
            assert!(
                err.contains(w),
                "manifest {text:?}: error lacks {w:?}:\n{err}"
            );
        }
    }
}

#[tokio::test]
async fn bad_manifest_while_running_keeps_the_old_version() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "app");
    std::fs::write(dir.path().join("app.toml"), "[config]\nprefix = \"one:\"\n").expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/app").await;
    assert_eq!(roundtrip(&mut ws, "a").await, "one:a");
    std::fs::write(dir.path().join("app.toml"), "shards = \"many\"\n").expect("manifest");
    server.wait_log("app.toml", WAIT).await;
    let logs = server.logs();
    assert!(
        logs.contains("shards") && logs.contains("the previous version keeps serving"),
        "{logs}"
    );
    let mut fresh = server.connect("/app").await;
    assert_eq!(roundtrip(&mut fresh, "b").await, "one:b");
    assert_eq!(roundtrip(&mut ws, "c").await, "one:c");
}

#[tokio::test]
async fn two_plugins_claiming_one_route_first_keeps_it() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "first");
    std::fs::write(dir.path().join("first.toml"), "routes = [\"/room/{id}\"]\n").expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    std::fs::write(
        dir.path().join("second.toml"),
        "routes = [\"/room/{name}\"]\n[config]\nprefix = \"2:\"\n",
    )
    .expect("m");
    install(dir.path(), "probe", "second");
    server
        .wait_log(
            "route /room/{name} is already served by plugin `first`",
            WAIT,
        )
        .await;
    let mut ws = server.connect("/room/x").await;
    assert_eq!(
        roundtrip(&mut ws, "hi").await,
        "hi",
        "the first plugin keeps the route"
    );
    assert_eq!(server.refused("/second").await.0, 404);
}
