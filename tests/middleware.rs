//! Middleware plugins: components that export `middleware-handler`, run as
//! a chain (a consumer manifest's `middleware = [...]`) during the
//! handshake, before `on-connect`. A real server with real compiled
//! middleware (`plugins/session-auth`, `tests/plugins/mw-probe`) and
//! consumers (`probe`, `echo`).

use std::path::Path;
use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{atomic_write as write, install, plugins_dir, recv, wasm, TestServer, Ws};

/// Install `mw-probe` as middleware `name` with this manifest.
fn probe_middleware(dir: &Path, name: &str, manifest: &str) {
    write(dir, &format!("{name}.toml"), manifest.as_bytes());
    install(dir, "mw_probe", name);
}

/// Install `plugins/session-auth` with a table of two sessions.
fn session_auth(dir: &Path, as_name: &str) {
    write(
        dir,
        &format!("{as_name}.toml"),
        b"[config]\nsessions = \"abc123:alice,def456:bob\"\n",
    );
    install(dir, "session_auth", as_name);
}

/// Ask the probe consumer for the identity its connection has.
async fn identity_of(ws: &mut Ws) -> String {
    ws.send(Message::text("identity")).await.expect("send");
    match recv(ws).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected the identity, got {other:?}"),
    }
}

/// The HTTP status of a handshake to `path` that must be refused, and the
/// body.
async fn refused(server: &TestServer, path: &str) -> (u16, String) {
    let answer = server.upgrade_raw(path, &[]).await;
    let status = answer
        .status()
        .unwrap_or_else(|| panic!("{path}: bad answer {answer:?}"));
    assert_ne!(status, 101, "{path}: expected a refusal, got an upgrade");
    (status, answer.body().to_string())
}

#[tokio::test]
async fn a_chain_adds_values_the_consumer_sees() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    write(
        dir.path(),
        "probe.toml",
        b"middleware = [\"session-auth\", \"tagger\"]\n",
    );
    session_auth(dir.path(), "session-auth");
    probe_middleware(dir.path(), "tagger", "[config]\nadd = \"role=admin\"\n");
    let server = TestServer::start(dir.path(), &[]);

    // session-auth names the user; tagger, second, adds its own values.
    let mut ws = server
        .connect_with("/probe", &[("cookie", "theme=dark; sessionid=abc123")])
        .await
        .unwrap_or_else(|e| panic!("connect: {e}; log:\n{}", server.logs()));
    assert_eq!(
        identity_of(&mut ws).await,
        "subject=alice;user=alice;session=abc123;role=admin;calls=1"
    );
    let mut bob = server
        .connect_with("/probe", &[("cookie", "sessionid=def456")])
        .await
        .expect("bob connects");
    assert_eq!(
        identity_of(&mut bob).await,
        "subject=bob;user=bob;session=def456;role=admin;calls=2"
    );

    // No cookie, or an unknown one: 401 from session-auth, tagger never
    // asked, and no WWW-Authenticate (a cookie session is no HTTP auth
    // scheme).
    for cookie in [&[][..], &[("Cookie", "sessionid=nope")]] {
        let answer = server.upgrade_raw("/probe", cookie).await.text;
        assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
        assert!(answer.contains("log in"), "{answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("www-authenticate"),
            "{answer}"
        );
    }

    // /status lists middleware apart from the plugins that serve routes.
    let st = server.status().await;
    assert!(st["plugins"].get("session-auth").is_none(), "{st:#}");
    assert!(st["plugins"].get("probe").is_some(), "{st:#}");
    assert_eq!(st["middleware"]["session-auth"]["calls"], 4, "{st:#}");
    assert_eq!(st["middleware"]["session-auth"]["failures"], 0, "{st:#}");
    assert_eq!(st["middleware"]["tagger"]["calls"], 2, "{st:#}");
    assert_eq!(
        server
            .metric(
                "wasmsock_middleware_calls_total{middleware=\"session-auth\",outcome=\"rejected\"}"
            )
            .await,
        2.0
    );
}

#[tokio::test]
async fn the_greeter_greets_the_session_user_and_the_chain_follows_the_token() {
    let dir = plugins_dir();
    install(dir.path(), "greeter", "greeter");
    write(
        dir.path(),
        "greeter.toml",
        b"middleware = [\"session-auth\"]\n",
    );
    session_auth(dir.path(), "session-auth");
    // A consumer that checks a token first: the chain sees its subject and
    // adds to it.
    const SECRET: &str = "a-middleware-test-secret-of-32-bytes";
    install(dir.path(), "probe", "probe");
    write(
        dir.path(),
        "probe.toml",
        format!("middleware = [\"tagger\"]\n[auth]\njwt_secret = \"{SECRET}\"\n").as_bytes(),
    );
    probe_middleware(dir.path(), "tagger", "[config]\nadd = \"role=admin\"\n");
    let server = TestServer::start(dir.path(), &[]);

    let mut ws = server
        .connect_with("/greeter", &[("cookie", "sessionid=abc123")])
        .await
        .unwrap_or_else(|e| panic!("connect: {e}; log:\n{}", server.logs()));
    assert_eq!(recv(&mut ws).await, Message::text("hello, alice"));
    let (status, body) = refused(&server, "/greeter").await;
    assert_eq!(status, 401, "{body}");

    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "carol", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("token");
    let mut ws = server
        .connect_with("/probe", &[("authorization", &format!("Bearer {token}"))])
        .await
        .unwrap_or_else(|e| panic!("connect: {e}; log:\n{}", server.logs()));
    assert_eq!(
        identity_of(&mut ws).await,
        "subject=carol;role=admin;calls=1"
    );
    // Without the token the chain is never reached.
    assert_eq!(refused(&server, "/probe").await.0, 401);
    assert_eq!(server.status().await["middleware"]["tagger"]["calls"], 1);
}

#[tokio::test]
async fn a_rejecting_middleware_answers_with_its_own_status_headers_and_body() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    write(
        dir.path(),
        "echo.toml",
        b"middleware = [\"tagger\", \"gate\"]\n",
    );
    install(dir.path(), "probe", "odd");
    write(dir.path(), "odd.toml", b"middleware = [\"odd-gate\"]\n");
    probe_middleware(dir.path(), "tagger", "[config]\nadd = \"role=guest\"\n");
    probe_middleware(
        dir.path(),
        "gate",
        "[config]\nmode = \"reject\"\nstatus = 451\nheader_name = \"X-Gate\"\n\
         header_value = \"closed\"\nbody = \"the gate is closed\\n\"\n",
    );
    // A status that is no HTTP error, and a header the host keeps for
    // itself: 500, the header dropped.
    probe_middleware(
        dir.path(),
        "odd-gate",
        "[config]\nmode = \"reject\"\nstatus = 200\nheader_name = \"Connection\"\n\
         header_value = \"keep-alive\"\nbody = \"odd\"\n",
    );
    let server = TestServer::start(dir.path(), &[]);

    let answer = server.upgrade_raw("/echo", &[]).await.text;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 451 "), "{answer}");
    assert!(head.contains("\r\nX-Gate: closed\r\n"), "{answer}");
    // The gate saw what the tagger added before it.
    assert!(
        head.contains("\r\nx-identity: subject=-;role=guest;calls=1\r\n"),
        "{answer}"
    );
    assert_eq!(body, "the gate is closed\n");

    let answer = server.upgrade_raw("/odd", &[]).await.text;
    assert!(answer.starts_with("HTTP/1.1 500 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nodd"), "{answer}");
    assert!(!answer.contains("keep-alive"), "{answer}");
    assert!(
        server
            .logs()
            .contains("status 200, which is not 400-599; answering 500"),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn a_trapping_or_looping_middleware_fails_its_handshake_and_the_server_keeps_serving() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    write(dir.path(), "probe.toml", b"middleware = [\"flaky\"]\n");
    install(dir.path(), "echo", "echo");
    write(dir.path(), "echo.toml", b"middleware = [\"looper\"]\n");
    install(dir.path(), "echo", "plain");
    // flaky traps on the second call of each instance.
    probe_middleware(dir.path(), "flaky", "[config]\ntrap_at = 2\n");
    probe_middleware(
        dir.path(),
        "looper",
        "call_timeout_ms = 50\n[config]\nmode = \"loop\"\n",
    );
    let server = TestServer::start(dir.path(), &[]);

    let mut first = server.connect("/probe").await;
    assert_eq!(identity_of(&mut first).await, "subject=-;calls=1");
    let (status, body) = refused(&server, "/probe").await;
    assert_eq!(
        (status, body.as_str()),
        (500, "middleware `flaky` failed\n")
    );
    // The next handshake gets a fresh instance: its first call.
    let mut again = server.connect("/probe").await;
    assert_eq!(identity_of(&mut again).await, "subject=-;calls=1");

    let (status, body) = refused(&server, "/echo").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("`looper` ran past its CPU budget"), "{body}");

    // Other routes, and connections already open, keep serving.
    let mut plain = server.connect("/plain").await;
    plain.send(Message::text("still here")).await.expect("send");
    assert_eq!(recv(&mut plain).await, Message::text("still here"));
    assert_eq!(identity_of(&mut first).await, "subject=-;calls=1");

    let st = server.status().await;
    assert_eq!(st["middleware"]["flaky"]["failures"], 1, "{st:#}");
    assert_eq!(st["middleware"]["looper"]["failures"], 1, "{st:#}");
    for (series, want) in [
        ("middleware=\"flaky\",outcome=\"trap\"", 1.0),
        ("middleware=\"flaky\",outcome=\"admitted\"", 2.0),
        ("middleware=\"looper\",outcome=\"deadline\"", 1.0),
    ] {
        let got = server
            .metric(&format!("wasmsock_middleware_calls_total{{{series}}}"))
            .await;
        assert_eq!(got, want, "{series}");
    }
    assert!(
        server.logs().contains("middleware `flaky` failed (trap)"),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn a_chain_naming_a_missing_middleware_answers_503_until_it_is_dropped_in() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    write(dir.path(), "probe.toml", b"middleware = [\"later\"]\n");
    let server = TestServer::start(dir.path(), &[]);

    let (status, body) = refused(&server, "/probe").await;
    assert_eq!(
        (status, body.as_str()),
        (503, "middleware `later` is not available\n")
    );
    // The consumer stays loaded.
    let st = server.status().await;
    assert!(st["plugins"].get("probe").is_some(), "{st:#}");
    assert_eq!(
        server
            .metric("wasmsock_middleware_calls_total{middleware=\"later\",outcome=\"missing\"}")
            .await,
        1.0
    );

    // Dropped in, it is used from the next handshake on, without touching
    // the consumer.
    probe_middleware(dir.path(), "later", "[config]\nadd = \"here=yes\"\n");
    server
        .wait_status("middleware `later` loaded", Duration::from_secs(10), |st| {
            st["middleware"].get("later").is_some()
        })
        .await;
    let mut ws = server.connect("/probe").await;
    assert_eq!(identity_of(&mut ws).await, "subject=-;here=yes;calls=1");
    assert_eq!(server.status().await["plugins"]["probe"]["version"], 1);

    // Removed, the chain answers 503 again.
    std::fs::remove_file(dir.path().join("later.wasm")).expect("remove");
    server
        .wait_status(
            "middleware `later` removed",
            Duration::from_secs(10),
            |st| st["middleware"].get("later").is_none(),
        )
        .await;
    assert_eq!(refused(&server, "/probe").await.0, 503);
}

#[tokio::test]
async fn replacing_a_middleware_takes_effect_for_new_handshakes() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    write(dir.path(), "probe.toml", b"middleware = [\"gate\"]\n");
    probe_middleware(
        dir.path(),
        "gate",
        "[config]\nmode = \"reject\"\nstatus = 403\nbody = \"first\"\n",
    );
    let server = TestServer::start(dir.path(), &[]);
    assert_eq!(refused(&server, "/probe").await, (403, "first".to_string()));

    // A new config: the same code, reloaded with it.
    write(
        dir.path(),
        "gate.toml",
        b"[config]\nmode = \"reject\"\nstatus = 429\nbody = \"second\"\n",
    );
    server
        .wait_status("gate version 2", Duration::from_secs(10), |st| {
            st["middleware"]["gate"]["version"] == 2
        })
        .await;
    assert_eq!(
        refused(&server, "/probe").await,
        (429, "second".to_string())
    );

    // A broken file is refused and the version in force keeps serving.
    write(dir.path(), "gate.wasm", b"\0asm\x0d\0\x01\0garbage");
    server
        .wait_status("gate refused", Duration::from_secs(10), |st| {
            st["refused"].get("gate").is_some()
        })
        .await;
    assert_eq!(
        refused(&server, "/probe").await,
        (429, "second".to_string())
    );
    assert!(
        server.logs().contains("the previous version keeps serving"),
        "{}",
        server.logs()
    );

    // New code under the same name: session-auth.
    session_auth(dir.path(), "gate");
    server
        .wait_status("gate version 3", Duration::from_secs(10), |st| {
            st["middleware"]["gate"]["version"] == 3 && st["refused"].get("gate").is_none()
        })
        .await;
    assert_eq!(refused(&server, "/probe").await.0, 401);
    let mut ws = server
        .connect_with("/probe", &[("cookie", "sessionid=def456")])
        .await
        .expect("bob connects");
    assert_eq!(
        identity_of(&mut ws).await,
        "subject=bob;user=bob;session=def456"
    );
}

#[test]
fn check_recognises_a_middleware() {
    for name in ["mw_probe", "session_auth"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmsock"))
            .arg("check")
            .arg(wasm(name))
            .output()
            .expect("run check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains("ok: implements wasmsock:plugin/middleware"),
            "{stdout}"
        );
        assert!(stdout.contains("it serves no route"), "{stdout}");
        assert!(
            stdout.contains("wasmsock:plugin/identity@0.1.0"),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn the_middleware_scaffold_builds_checks_and_guards_a_consumer() {
    let wasmsock = || std::process::Command::new(env!("CARGO_BIN_EXE_wasmsock"));
    let parent = tempfile::tempdir().expect("temp dir");
    let out = wasmsock()
        .args(["new", "gate", "--lang", "rust", "--middleware", "--dir"])
        .arg(parent.path())
        .output()
        .expect("run wasmsock new");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("(rust middleware)"), "{stdout}");
    assert!(stdout.contains("middleware = [\"gate\"]"), "{stdout}");
    let dir = parent.path().join("gate");
    let out = std::process::Command::new("bash")
        .arg(dir.join("build.sh"))
        .current_dir(&dir)
        // The scaffold tests' target folder: wit-bindgen is built once.
        .env(
            "CARGO_TARGET_DIR",
            crate::support::root().join("target/scaffold"),
        )
        .output()
        .expect("run build.sh");
    assert!(
        out.status.success(),
        "build.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = wasmsock()
        .arg("check")
        .arg(dir.join("gate.wasm"))
        .output()
        .expect("check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok: implements wasmsock:plugin/middleware"),
        "{stdout}"
    );

    // Served as written: its manifest's demo key admits alice.
    let plugins = plugins_dir();
    std::fs::copy(dir.join("gate.wasm"), plugins.path().join("gate.wasm")).expect("copy");
    std::fs::copy(dir.join("gate.toml"), plugins.path().join("gate.toml")).expect("copy");
    install(plugins.path(), "probe", "probe");
    write(plugins.path(), "probe.toml", b"middleware = [\"gate\"]\n");
    let server = TestServer::start(plugins.path(), &[]);
    let mut ws = server.connect("/probe?key=change-me").await;
    assert_eq!(identity_of(&mut ws).await, "subject=alice;user=alice");
    assert_eq!(
        refused(&server, "/probe?key=wrong").await,
        (403, "a valid ?key= is required\n".to_string())
    );

    // Other languages have no middleware scaffold.
    let out = wasmsock()
        .args(["new", "gate2", "--lang", "go", "--middleware", "--dir"])
        .arg(parent.path())
        .output()
        .expect("run wasmsock new");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lang rust only"));
    assert!(!parent.path().join("gate2").exists());
}
