//! Who may connect and who may look: the per-address limits (429 with
//! `Retry-After` before any upgrade, other addresses unaffected, counted)
//! and the admin listener's token (401 without it, the probes open, no
//! listener beyond loopback without one).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::MaybeTlsStream;

use crate::support::{
    exit_of, get, install, plugins_dir, roundtrip, serve_command, TestServer, Ws,
};

const WAIT: Duration = Duration::from_secs(10);

/// A token of the accepted form.
const TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A WebSocket handshake to `path` from the loopback address `127.0.0.N`.
async fn connect_from(server: &TestServer, n: u8, path: &str) -> Result<Ws, WsError> {
    let request = server.url(path).into_client_request().expect("request");
    request_from(server, n, request).await
}

/// A WebSocket handshake with `request` from `127.0.0.N`.
async fn request_from(server: &TestServer, n: u8, request: Request) -> Result<Ws, WsError> {
    let socket = TcpSocket::new_v4().expect("socket");
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0);
    socket.bind(from).expect("bind the client to 127.0.0.N");
    let to: SocketAddr = server.addr.parse().expect("server address");
    let stream = socket.connect(to).await.expect("tcp connect");
    tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .map(|(ws, _)| ws)
}

/// Connect from `127.0.0.N`, panicking with the log if refused.
async fn open_from(server: &TestServer, n: u8) -> Ws {
    match connect_from(server, n, "/echo").await {
        Ok(ws) => ws,
        Err(e) => panic!("connect from 127.0.0.{n}: {e}; log:\n{}", server.logs()),
    }
}

/// Expect a 429 before any upgrade; returns its `Retry-After` and body.
fn too_many(result: Result<Ws, WsError>) -> (u64, String) {
    let resp = match result {
        Err(WsError::Http(resp)) => resp,
        Ok(_) => panic!("expected 429, got an upgrade"),
        Err(e) => panic!("expected 429, got {e}"),
    };
    assert_eq!(resp.status().as_u16(), 429, "{resp:?}");
    let after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {resp:?}"));
    let body = resp
        .body()
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    (after, body)
}

/// `wasmsock_handshake_rejections_total{reason="REASON"}` (0 if absent).
async fn rejections(server: &TestServer, reason: &str) -> f64 {
    let series = format!("wasmsock_handshake_rejections_total{{reason=\"{reason}\"}}");
    server.metric(&series).await
}

#[tokio::test]
async fn connections_past_the_per_address_cap_get_429_and_others_do_not() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    std::fs::write(
        dir.path().join("echo.toml"),
        "allowed_origins = [\"https://ok.example\"]\n",
    )
    .expect("manifest");
    let server = TestServer::with_config(
        dir.path(),
        "[limits]\nmax_connections_per_ip = 3\nhandshake_rate_per_ip = 0\n",
    );
    // Handshakes refused by a later step (here the origin: 403) give their
    // place back at once: more of them than the cap leave it whole.
    for _ in 0..5 {
        let mut request = server.url("/echo").into_client_request().expect("request");
        request.headers_mut().insert(
            "origin",
            "https://elsewhere.example".parse().expect("header"),
        );
        match request_from(&server, 1, request).await {
            Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
            Ok(_) => panic!("a foreign origin was let in"),
            Err(e) => panic!("expected 403, got {e}"),
        }
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_from(&server, 1).await);
    }
    let (after, body) = too_many(connect_from(&server, 1, "/echo").await);
    assert_eq!(after, 1, "the cap's Retry-After");
    assert_eq!(body, "too many connections from your address\n");
    // Another address is not touched by 127.0.0.1's cap.
    let mut other = open_from(&server, 2).await;
    assert_eq!(roundtrip(&mut other, "from .2").await, "from .2");
    for (i, ws) in held.iter_mut().enumerate() {
        let text = format!("held {i}");
        assert_eq!(
            roundtrip(ws, &text).await,
            text,
            "held connections serve on"
        );
    }
    // One of the three closes: its place comes back.
    let mut first = held.remove(0);
    first.close(None).await.expect("close");
    let mut seen = 1.0;
    let start = Instant::now();
    let mut again = loop {
        match connect_from(&server, 1, "/echo").await {
            Ok(ws) => break ws,
            Err(e) => {
                let _ = too_many(Err(e));
                seen += 1.0;
                assert!(
                    start.elapsed() < WAIT,
                    "the closed connection's place was not given back; log:\n{}",
                    server.logs()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(roundtrip(&mut again, "again").await, "again");
    let refused = rejections(&server, "per_ip_connections").await;
    assert_eq!(refused, seen, "each 429 counted once");
    assert_eq!(rejections(&server, "per_ip_rate").await, 0.0);
    assert!(
        server.count_log("over the per-address limit") >= 1,
        "a warning names the limit; log:\n{}",
        server.logs()
    );
}

#[tokio::test]
async fn handshakes_past_the_per_address_rate_get_429_until_the_bucket_refills() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::with_config(
        dir.path(),
        "[limits]\nmax_connections_per_ip = 0\nhandshake_rate_per_ip = 5\n\
         handshake_burst_per_ip = 5\n",
    );
    // Ten at once: the check comes before `on-connect`, so they reach it
    // within milliseconds however slow the plugin or the machine.
    let outcomes =
        futures_util::future::join_all((0..10).map(|_| connect_from(&server, 1, "/echo"))).await;
    let (mut accepted, mut refused) = (0, 0);
    for outcome in outcomes {
        match outcome {
            Ok(mut ws) => {
                assert_eq!(roundtrip(&mut ws, "x").await, "x");
                let _ = ws.close(None).await;
                accepted += 1;
            }
            Err(e) => {
                let (after, body) = too_many(Err(e));
                assert_eq!(after, 1, "one token is back within 200 ms");
                assert_eq!(body, "too many handshakes from your address; slow down\n");
                refused += 1;
            }
        }
    }
    assert!(
        accepted >= 5,
        "the burst of five was not let through: {accepted}"
    );
    assert!(refused >= 1, "ten quick handshakes all passed a 5/s rate");
    // Another address has its own bucket.
    let mut other = open_from(&server, 3).await;
    assert_eq!(roundtrip(&mut other, "from .3").await, "from .3");
    // Waited out, the bucket lets 127.0.0.1 in again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut back = open_from(&server, 1).await;
    assert_eq!(roundtrip(&mut back, "back").await, "back");
    assert_eq!(
        rejections(&server, "per_ip_rate").await,
        refused as f64,
        "each 429 counted once"
    );
    assert_eq!(rejections(&server, "per_ip_connections").await, 0.0);
}

/// A raw admin request with extra headers; returns status, the head (in
/// lower case) and the body.
async fn admin(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let answer = get(addr, path, headers).await;
    let code = answer
        .status()
        .unwrap_or_else(|| panic!("bad admin answer {:?}", answer.text));
    (
        code,
        answer.head().to_ascii_lowercase(),
        answer.body().to_string(),
    )
}

#[tokio::test]
async fn the_admin_token_guards_every_page_but_the_probes() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    // From a file, with the newline an editor leaves: trimmed.
    std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).expect("token file");
    let server = TestServer::with_config(dir.path(), "admin_token_file = \"admin.token\"\n");
    let at = server.admin.as_str();
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/status", "/metrics", "/events", "/"] {
        let (code, head, body) = admin(at, path, &[]).await;
        assert_eq!(code, 401, "{path} without the token: {body}");
        assert!(head.contains("www-authenticate: bearer"), "{path}: {head}");
        assert!(!body.contains(TOKEN));
        let wrong = admin(
            at,
            path,
            &[("Authorization", "Bearer not-the-token-0123456789")],
        )
        .await;
        assert_eq!(wrong.0, 401, "{path} with a wrong token");
        let (code, _, body) = admin(at, path, &[("Authorization", &bearer)]).await;
        assert_eq!(code, 200, "{path} with the token: {body}");
    }
    for probe in ["/healthz", "/readyz"] {
        let (code, _, body) = admin(at, probe, &[]).await;
        assert_eq!(code, 200, "{probe} stays open for probes: {body}");
    }
    // The console in a browser: /?token= sets the cookie, then the page and
    // what it reads come with it.
    let (code, head, _) = admin(at, &format!("/?token={TOKEN}"), &[]).await;
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("\r\nlocation: /\r\n"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie set: {head}"));
    assert!(cookie.contains("httponly") && cookie.contains("samesite=strict"));
    let sent = format!("wasmsock_admin={TOKEN}");
    let (code, head, page) = admin(at, "/", &[("Cookie", &sent)]).await;
    assert_eq!(code, 200, "the console with its cookie");
    assert!(head.contains("text/html") && page.contains("<html"));
    for path in ["/status", "/events", "/console.js"] {
        assert_eq!(
            admin(at, path, &[("Cookie", &sent)]).await.0,
            200,
            "{path} with the cookie"
        );
    }
    let (code, _, _) = admin(at, "/?token=wrong-token-0123456789", &[]).await;
    assert_eq!(code, 401, "a wrong token in the query sets nothing");
    // The public listener is not the admin's: clients connect as before.
    let mut ws = server.connect("/echo").await;
    assert_eq!(roundtrip(&mut ws, "hi").await, "hi");
}

/// Start `wasmsock serve` with `args` and `env`; returns the child.
fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = serve_command(dir, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("run wasmsock")
}

#[test]
fn an_admin_listener_beyond_loopback_needs_a_token() {
    let dir = plugins_dir();
    let (status, _, err) = exit_of(spawn(dir.path(), &["--admin", "0.0.0.0:0"], &[]));
    assert!(!status.success(), "started without a token");
    assert!(
        err.contains("--admin") && err.contains("not on loopback") && err.contains("admin_token"),
        "{err}"
    );
}

#[tokio::test]
async fn with_a_token_from_the_environment_it_listens_beyond_loopback() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let mut child = spawn(
        dir.path(),
        &["--admin", "0.0.0.0:0"],
        &[("WASMSOCK_ADMIN_TOKEN", TOKEN)],
    );
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .take(2)
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(120), lines)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let port = lines
        .get(1)
        .and_then(|l| l.strip_prefix("console on http://0.0.0.0:"))
        .and_then(|l| l.strip_suffix('/'))
        .map(str::to_owned);
    let Some(port) = port else {
        let _ = child.kill();
        let (_, _, err) = exit_of(child);
        panic!("did not start: stdout {lines:?}; stderr:\n{err}");
    };
    let at = format!("127.0.0.1:{port}");
    let bearer = format!("Bearer {TOKEN}");
    let unauthorized = admin(&at, "/status", &[]).await.0;
    let authorized = admin(&at, "/status", &[("Authorization", &bearer)]).await.0;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((unauthorized, authorized), (401, 200));
}

#[test]
fn bad_per_address_and_token_settings_name_their_key() {
    let dir = plugins_dir();
    let cfg = dir.path().join("wasmsock.toml");
    let cfg_arg = cfg.to_str().expect("utf-8").to_string();
    let cases: &[(&str, &[&str])] = &[
        (
            "[limits]\nhandshake_burst_per_ip = 0\n",
            &["limits.handshake_burst_per_ip", "expected a number from 1"],
        ),
        (
            "[limits]\nhandshake_rate_per_ip = 2000000\n",
            &["limits.handshake_rate_per_ip", "found 2000000"],
        ),
        (
            "[limits]\nmax_connections_per_ip = -1\n",
            &["max_connections_per_ip"],
        ),
        (
            "admin_token = \"short\"\n",
            &["key `admin_token`", "at least 16 characters"],
        ),
        (
            "admin_token = \"has spaces in the token here\"\n",
            &["key `admin_token`", "only letters, digits"],
        ),
        (
            "admin_token = \"0123456789abcdef\"\nadmin_token_file = \"t\"\n",
            &["admin_token_file", "not both"],
        ),
        (
            "admin_token_file = \"missing.token\"\n",
            &["admin_token_file", "cannot read", "missing.token"],
        ),
        (
            "admin = \"0.0.0.0:0\"\n",
            &["wasmsock.toml", "key `admin`", "set admin_token"],
        ),
    ];
    for (text, needles) in cases {
        std::fs::write(&cfg, text).expect("write config");
        let (status, _, err) = exit_of(spawn(
            dir.path(),
            &["--listen", "127.0.0.1:0", "--config", &cfg_arg],
            &[],
        ));
        assert!(!status.success(), "{text:?} was accepted");
        for needle in *needles {
            assert!(err.contains(needle), "{text:?}: {needle:?} not in {err}");
        }
    }
    let (status, _, err) = exit_of(spawn(
        dir.path(),
        &["--admin", "127.0.0.1:0"],
        &[("WASMSOCK_ADMIN_TOKEN", "")],
    ));
    assert!(!status.success());
    assert!(err.contains("WASMSOCK_ADMIN_TOKEN"), "{err}");
}
