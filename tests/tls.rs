//! Built-in TLS (`wss://`) through a real `wasmsock serve`: certificates
//! made in the test with rcgen, and a rustls client under tokio-tungstenite
//! (`client_async` over a `TlsConnector` stream that trusts only them).
//! Echo over wss, plain and TLS side by side, bad pairs refused at start
//! naming the file, a pair replaced on disk served to new connections while
//! an open one keeps echoing (and a bad replacement refused), and a client
//! that never sends its ClientHello cut at the handshake timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;

use crate::support::{
    check_echo_cases, fails_to_start, install, plugins_dir, roundtrip, TestServer,
};

const WAIT: Duration = Duration::from_secs(10);

/// A client WebSocket over TLS.
type Wss = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// A self-signed certificate for `localhost` and its key.
struct Pair {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn new_pair() -> Pair {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("generating a certificate");
    Pair {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        der: made.cert.der().clone(),
    }
}

/// Write `cert.pem` and `key.pem` into `dir`; returns their paths.
fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    (c, k)
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Open `wss://localhost/path` at `addr`, trusting only `roots`; returns the
/// socket and the certificate the server presented.
async fn wss(
    server: &TestServer,
    addr: &str,
    path: &str,
    roots: &[&Pair],
) -> (Wss, CertificateDer<'static>) {
    let mut store = RootCertStore::empty();
    for pair in roots {
        store
            .add(pair.der.clone())
            .expect("trust the test certificate");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = match TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        Ok(tls) => tls,
        Err(e) => panic!("TLS handshake with {addr}: {e}; log:\n{}", server.logs()),
    };
    let (_, session) = tls.get_ref();
    assert_eq!(
        session.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "the server agrees on http/1.1"
    );
    let presented = session
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("the server presented a certificate")
        .clone();
    let port = addr.rsplit_once(':').expect("host:port").1;
    match tokio_tungstenite::client_async(format!("wss://localhost:{port}{path}"), tls).await {
        Ok((ws, _)) => (ws, presented),
        Err(e) => panic!("wss upgrade on {path}: {e}; log:\n{}", server.logs()),
    }
}

/// Serve `dir` over TLS with `pair`, written into `certs`, and `extra`
/// arguments.
fn serve_tls(dir: &Path, certs: &Path, pair: &Pair, extra: &[&str]) -> TestServer {
    let (cert, key) = write_pair(certs, &pair.cert_pem, &pair.key_pem);
    let mut args = vec!["--tls-cert", text(&cert), "--tls-key", text(&key)];
    args.extend(extra);
    TestServer::start(dir, &args)
}

#[tokio::test]
async fn wss_echo_with_tls_alone_on_listen() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let certs = tempfile::tempdir().expect("temp dir");
    let pair = new_pair();
    let server = serve_tls(dir.path(), certs.path(), &pair, &[]);
    let (mut ws, presented) = wss(&server, &server.addr, "/echo", &[&pair]).await;
    assert_eq!(presented, pair.der, "the configured certificate is served");
    check_echo_cases(&server, &mut ws, "wss echo").await;

    // The client closes; the server answers and ends TLS with close_notify,
    // so the stream ends cleanly rather than looking truncated.
    ws.close(None).await.expect("send a close frame");
    loop {
        match ws.next().await {
            None | Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the TLS stream did not end cleanly: {e}"),
        }
    }

    // TLS took `--listen`: no plain listener runs, and /status says so.
    let st = server.status().await;
    assert_eq!(st["tls_listen"], server.addr.as_str(), "{st:#}");
    assert!(st["listen"].is_null(), "no plain listener: {st:#}");
    let plain = tokio_tungstenite::connect_async(server.url("/echo")).await;
    assert!(plain.is_err(), "ws:// on the TLS listener must not upgrade");
    assert!(server.logs().contains(&format!("wss://{}", server.addr)));
}

#[tokio::test]
async fn plain_and_tls_side_by_side() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let certs = tempfile::tempdir().expect("temp dir");
    let pair = new_pair();
    let server = serve_tls(
        dir.path(),
        certs.path(),
        &pair,
        &["--tls-listen", "127.0.0.1:0"],
    );
    let st = server.status().await;
    assert_eq!(st["listen"], server.addr.as_str(), "{st:#}");
    let tls_addr = st["tls_listen"]
        .as_str()
        .unwrap_or_else(|| panic!("/status names the TLS listener: {st:#}"))
        .to_owned();
    assert_ne!(tls_addr, server.addr);

    let mut plain = server.connect("/echo").await;
    let (mut secure, _) = wss(&server, &tls_addr, "/echo", &[&pair]).await;
    check_echo_cases(&server, &mut plain, "plain beside TLS").await;
    check_echo_cases(&server, &mut secure, "TLS beside plain").await;
    assert_eq!(roundtrip(&mut plain, "both open").await, "both open");
    assert_eq!(roundtrip(&mut secure, "both open").await, "both open");
    server
        .wait_status("both sockets counted", WAIT, |s| {
            s["connections"]["websocket"] == 2
        })
        .await;
}

#[test]
fn bad_pairs_are_refused_at_start_naming_the_file() {
    let dir = plugins_dir();
    let certs = tempfile::tempdir().expect("temp dir");
    let (one, other) = (new_pair(), new_pair());
    let absent = certs.path().join("absent.pem");
    // (certificate PEM, key PEM, use the absent file as the certificate,
    // what the error must say besides the file).
    let cases = [
        // The key of another certificate.
        (
            &one.cert_pem,
            &other.key_pem,
            false,
            "does not match the certificate",
        ),
        // A file that is not there.
        (
            &one.cert_pem,
            &one.key_pem,
            true,
            "cannot read the TLS certificate",
        ),
        // A key where the certificate should be, and the reverse.
        (&one.key_pem, &one.key_pem, false, "no certificate found"),
        (&one.cert_pem, &one.cert_pem, false, "no private key found"),
    ];
    for (cert_pem, key_pem, cert_absent, says) in cases {
        let (mut cert, key) = write_pair(certs.path(), cert_pem, key_pem);
        if cert_absent {
            cert = absent.clone();
        }
        let err = fails_to_start(
            dir.path(),
            &["--tls-cert", text(&cert), "--tls-key", text(&key)],
        );
        // The file at fault: the certificate unless only the key is wrong.
        let named = if says == "no private key found" {
            &key
        } else {
            &cert
        };
        assert!(
            err.contains(text(named)) && err.contains(says),
            "{says}: {err}"
        );
        if says == "does not match the certificate" {
            assert!(err.contains(text(&key)), "the key is named too: {err}");
        }
    }
}

#[tokio::test]
async fn a_replaced_pair_serves_new_connections_while_old_ones_stay() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let certs = tempfile::tempdir().expect("temp dir");
    let (first, second, third) = (new_pair(), new_pair(), new_pair());
    let trusted = [&first, &second, &third];
    let server = serve_tls(dir.path(), certs.path(), &first, &[]);
    let (mut old, presented) = wss(&server, &server.addr, "/echo", &trusted).await;
    assert_eq!(presented, first.der);
    assert_eq!(roundtrip(&mut old, "before").await, "before");

    write_pair(certs.path(), &second.cert_pem, &second.key_pem);
    server.wait_log("TLS certificate reloaded", WAIT).await;
    let (mut new, presented) = wss(&server, &server.addr, "/echo", &trusted).await;
    assert_eq!(presented, second.der, "a new connection gets the new pair");
    assert_eq!(roundtrip(&mut new, "new").await, "new");
    assert_eq!(
        roundtrip(&mut old, "still here").await,
        "still here",
        "the connection opened before the reload stays open"
    );
    assert_eq!(
        server
            .metric("wasmsock_tls_reloads_total{outcome=\"loaded\"}")
            .await,
        1.0
    );

    // A bad replacement (a key that is not the certificate's) is refused:
    // the pair before keeps serving.
    write_pair(certs.path(), &third.cert_pem, &first.key_pem);
    server
        .wait_log("TLS certificate reload refused", WAIT)
        .await;
    assert!(
        server.logs().contains("does not match the certificate"),
        "the refusal says why:\n{}",
        server.logs()
    );
    assert!(
        server
            .metric("wasmsock_tls_reloads_total{outcome=\"refused\"}")
            .await
            >= 1.0
    );
    let (mut after, presented) = wss(&server, &server.addr, "/echo", &trusted).await;
    assert_eq!(presented, second.der, "the refused pair is not served");
    assert_eq!(roundtrip(&mut after, "after").await, "after");
    assert_eq!(roundtrip(&mut old, "and still").await, "and still");
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_cut_at_the_handshake_timeout() {
    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    // The pair and the limit from a config file: `[tls]` paths are taken
    // from the file's folder.
    let certs = tempfile::tempdir().expect("temp dir");
    let pair = new_pair();
    write_pair(certs.path(), &pair.cert_pem, &pair.key_pem);
    let config = certs.path().join("wasmsock.toml");
    std::fs::write(
        &config,
        "[limits]\nhandshake_timeout_ms = 300\n\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .expect("write config");
    let server = TestServer::start(dir.path(), &["--config", text(&config)]);

    let start = Instant::now();
    let mut silent = TcpStream::connect(&server.addr).await.expect("tcp connect");
    server
        .wait_status("the silent client holds a slot", WAIT, |s| {
            s["connections"]["open"] == 1
        })
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, silent.read(&mut buf))
        .await
        .expect("the server cuts the silent client");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "no bytes, only the end: {read:?}"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "cut by the timeout, not at once ({:?})",
        start.elapsed()
    );
    server
        .wait_status("the slot is given back", WAIT, |s| {
            s["connections"]["open"] == 0
        })
        .await;
    assert_eq!(
        server
            .metric("wasmsock_handshake_rejections_total{reason=\"tls\"}")
            .await,
        1.0
    );
    // The listener still serves a client that does say hello.
    let (mut ws, _) = wss(&server, &server.addr, "/echo", &[&pair]).await;
    assert_eq!(roundtrip(&mut ws, "hello").await, "hello");
}
