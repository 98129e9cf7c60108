//! JWT auth through a real server: a manifest's `[auth]` admits only
//! connections whose token its key verifies (HS256 from each source, RS256
//! and ES256 from key files) and the plugin reads the token's subject and
//! claims (tests/plugins/whoami); every bad token is a 401 before any
//! upgrade, with a body that does not say why, the reason in the log and in
//! `wasmsock_auth_failures_total`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{atomic_write, install, plugins_dir, recv, root, TestServer};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/jwt").join(name)).expect("test key")
}

/// A token over `claims` with `alg` and `key`.
fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).expect("signing")
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("secret"),
        claims,
    )
}

/// Claims of a token valid for an hour.
fn good(sub: &str) -> Value {
    json!({"sub": sub, "exp": now() + 3600, "team": "blue", "aud": "chat", "iss": "tests"})
}

/// Install whoami as `name` with `manifest`.
fn whoami(dir: &Path, name: &str, manifest: &str) {
    install(dir, "whoami", name);
    std::fs::write(dir.join(format!("{name}.toml")), manifest).expect("write manifest");
}

/// Connect with `extra` request headers and read what whoami says.
async fn identity_of(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Value {
    let mut ws = match server.connect_with(path, headers).await {
        Ok(ws) => ws,
        Err(e) => panic!("connect {path}: {e}; log:\n{}", server.logs()),
    };
    let text = recv(&mut ws).await.into_text().expect("text");
    serde_json::from_str(&text).expect("whoami sends JSON")
}

/// A raw upgrade request; returns the status (0 without a status line),
/// the head and the body, read until the server closes.
async fn raw(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let answer = server.upgrade_raw(target, headers).await;
    (
        answer.status().unwrap_or(0),
        answer.head().to_string(),
        answer.body().to_string(),
    )
}

/// `wasmsock_auth_failures_total{plugin, reason}`, 0 when absent.
async fn failures(server: &TestServer, plugin: &str, reason: &str) -> f64 {
    let (code, body) = server.admin_get("/metrics").await;
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("/metrics parses");
    scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "wasmsock_auth_failures_total"
                && s.labels.get("plugin") == Some(plugin)
                && s.labels.get("reason") == Some(reason)
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn an_hs256_token_from_each_source_reaches_the_plugin() {
    let dir = plugins_dir();
    whoami(
        dir.path(),
        "who",
        &format!(
            "[auth]\njwt_secret = \"{SECRET}\"\naudience = \"chat\"\nissuer = \"tests\"\n\
             token_from = [\"header\", \"cookie:jwt\", \"query:token\"]\n"
        ),
    );
    install(dir.path(), "whoami", "open");
    let server = TestServer::start(dir.path(), &[]);
    let token = hs256(&good("ada"));

    let bearer = format!("Bearer {token}");
    let me = identity_of(&server, "/who", &[("authorization", &bearer)]).await;
    assert_eq!(me["user"], "ada", "{me}");
    assert_eq!(me["claims"]["team"], "blue", "{me}");
    assert_eq!(me["role"], Value::Null);

    let cookie = format!("other=1; jwt={token}");
    let me = identity_of(&server, "/who", &[("cookie", &cookie)]).await;
    assert_eq!(me["user"], "ada", "from the cookie: {me}");

    let me = identity_of(&server, &format!("/who?x=1&token={token}"), &[]).await;
    assert_eq!(me["user"], "ada", "from the query: {me}");
    assert_eq!(me["claims"]["sub"], "ada");

    // A plugin without [auth] stays open and anonymous.
    let me = identity_of(&server, "/open", &[]).await;
    assert_eq!(me, json!({"user": null, "claims": null, "role": null}));

    let st = server.status().await;
    assert_eq!(st["plugins"]["who"]["auth"], "jwt", "{st:#}");
    assert_eq!(st["plugins"]["open"]["auth"], "none");
    assert!(
        !st.to_string().contains(SECRET),
        "/status never shows the key"
    );
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_with_key_files() {
    let dir = plugins_dir();
    for (name, file) in [
        ("rs", "test-only-rsa-public.pem"),
        ("es", "test-only-ec-public.pem"),
    ] {
        std::fs::write(dir.path().join(file), fixture(file)).expect("copy key");
        whoami(
            dir.path(),
            name,
            &format!("[auth]\njwt_public_key = \"{file}\"\naudience = \"chat\"\n"),
        );
    }
    let server = TestServer::start(dir.path(), &[]);
    let rsa = EncodingKey::from_rsa_pem(&fixture("test-only-rsa-private.pem")).expect("rsa key");
    let ec = EncodingKey::from_ec_pem(&fixture("test-only-ec-private.pem")).expect("ec key");

    let token = sign(Algorithm::RS256, &rsa, &good("rita"));
    let me = identity_of(
        &server,
        "/rs",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(me["user"], "rita", "{me}");

    let token = sign(Algorithm::ES256, &ec, &good("ed"));
    let me = identity_of(
        &server,
        "/es",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(me["user"], "ed", "{me}");
    assert_eq!(me["claims"]["aud"], "chat");

    // The RSA key's token on the EC plugin: a bad signature... of another
    // family, which the EC key never accepts.
    let token = sign(Algorithm::RS256, &rsa, &good("rita"));
    let (code, _, _) = raw(
        &server,
        "/es",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn bad_tokens_get_401_before_any_upgrade_with_the_reason_only_logged_and_counted() {
    let dir = plugins_dir();
    whoami(
        dir.path(),
        "who",
        &format!("[auth]\njwt_secret = \"{SECRET}\"\naudience = \"chat\"\nissuer = \"tests\"\nleeway_s = 5\n"),
    );
    std::fs::write(
        dir.path().join("key.pem"),
        fixture("test-only-rsa-public.pem"),
    )
    .expect("copy key");
    whoami(
        dir.path(),
        "rs",
        "[auth]\njwt_public_key = \"key.pem\"\naudience = \"chat\"\n",
    );
    let server = TestServer::start_logging(dir.path(), &[], "info,wasmsock=debug");

    let t = now();
    let other = EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!").expect("secret");
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let claims_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good("eve").to_string())
    };
    // HS256 signed with the RSA public key's bytes: algorithm confusion.
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&fixture("test-only-rsa-public.pem")).expect("key bytes"),
        &good("eve"),
    );
    let cases: Vec<(&str, &str, Option<String>, &str)> = vec![
        ("who", "missing", None, "authentication required\n"),
        (
            "who",
            "malformed",
            Some("not.a.token".into()),
            "invalid token\n",
        ),
        (
            "who",
            "expired",
            Some(hs256(
                &json!({"sub": "eve", "exp": t - 600, "aud": "chat", "iss": "tests"}),
            )),
            "invalid token\n",
        ),
        (
            "who",
            "not_yet_valid",
            Some(hs256(
                &json!({"sub": "eve", "exp": t + 3600, "nbf": t + 600, "aud": "chat", "iss": "tests"}),
            )),
            "invalid token\n",
        ),
        (
            "who",
            "audience",
            Some(hs256(
                &json!({"sub": "eve", "exp": t + 3600, "aud": "other", "iss": "tests"}),
            )),
            "invalid token\n",
        ),
        (
            "who",
            "issuer",
            Some(hs256(
                &json!({"sub": "eve", "exp": t + 3600, "aud": "chat", "iss": "evil"}),
            )),
            "invalid token\n",
        ),
        (
            "who",
            "signature",
            Some(sign(Algorithm::HS256, &other, &good("eve"))),
            "invalid token\n",
        ),
        (
            "who",
            "algorithm",
            Some(format!("{none_header}.{claims_b64}.")),
            "invalid token\n",
        ),
        ("rs", "algorithm", Some(confused), "invalid token\n"),
    ];
    for (plugin, reason, token, body) in &cases {
        let before = failures(&server, plugin, reason).await;
        let auth = token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let (code, head, got) = raw(&server, &format!("/{plugin}"), &headers).await;
        assert_eq!(code, 401, "{reason}: {head}\n{got}");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{reason}: {head}"
        );
        assert!(!head.contains("101"), "no upgrade for {reason}");
        assert_eq!(&got, body, "{reason}: the body is generic");
        assert!(!got.contains(reason), "the body never says why");
        assert_eq!(
            failures(&server, plugin, reason).await,
            before + 1.0,
            "{plugin}: {reason} counted once"
        );
        server
            .wait_log(&format!("reason=\"{reason}\""), Duration::from_secs(5))
            .await;
    }
    let logs = server.logs();
    assert!(
        logs.contains("ExpiredSignature"),
        "the precise cause is logged"
    );
    assert!(
        logs.contains("\"none\""),
        "the refused alg is named in the log"
    );
    assert!(server.count_log("token refused (") >= 1, "a warning too");
}

#[tokio::test]
async fn the_greeter_greets_the_token_subject_or_a_stranger() {
    let dir = plugins_dir();
    install(dir.path(), "greeter", "greeter");
    std::fs::copy(
        root().join("plugins/greeter/greeter.toml"),
        dir.path().join("greeter.toml"),
    )
    .expect("copy the shipped manifest");
    install(dir.path(), "greeter", "members");
    std::fs::write(
        dir.path().join("members.toml"),
        format!("[auth]\njwt_secret = \"{SECRET}\"\ntoken_from = [\"query:token\"]\naudience = \"chat\"\n"),
    )
    .expect("write manifest");
    let server = TestServer::start(dir.path(), &[]);

    let mut ws = server.connect("/greeter").await;
    assert_eq!(
        recv(&mut ws).await.into_text().expect("text"),
        "hello, stranger"
    );

    let token = hs256(&good("ada"));
    let mut ws = server.connect(&format!("/members?token={token}")).await;
    assert_eq!(recv(&mut ws).await.into_text().expect("text"), "hello, ada");
    futures_util::SinkExt::send(&mut ws, tokio_tungstenite::tungstenite::Message::text("hi"))
        .await
        .expect("send");
    assert_eq!(recv(&mut ws).await.into_text().expect("text"), "ada: hi");

    let (code, _, _) = raw(&server, "/members", &[]).await;
    assert_eq!(code, 401, "the protected copy refuses anonymous clients");
}

#[tokio::test]
async fn a_channels_consumer_finds_the_token_user_in_scope_user() {
    let dir = plugins_dir();
    let built = root().join("target/plugins/channels-test.wasm");
    assert!(
        built.exists(),
        "{} is missing: build it with `scripts/plugins.sh --install --lang python-sdk`",
        built.display()
    );
    std::fs::copy(&built, dir.path().join("py.wasm")).expect("copy plugin");
    std::fs::write(
        dir.path().join("py.toml"),
        format!(
            "routes = [\"/scope/{{room}}/{{n}}/\"]\n[auth]\njwt_secret = \"{SECRET}\"\n\
             token_from = [\"query:token\"]\naudience = \"chat\"\n"
        ),
    )
    .expect("write manifest");
    let server = TestServer::start(dir.path(), &[]);
    let token = hs256(&good("ada"));
    let mut ws = server.connect(&format!("/scope/r/1/?token={token}")).await;
    let report: Value =
        serde_json::from_str(&recv(&mut ws).await.into_text().expect("text")).expect("JSON");
    assert_eq!(report["user"], "ada", "{report}");
    assert_eq!(report["is_authenticated"], true);
    assert_eq!(report["identity"]["subject"], "ada");
    assert_eq!(
        report["identity"]["claims"]["team"], "blue",
        "claims parsed"
    );
}

#[tokio::test]
async fn the_harness_connects_as_a_user_without_a_token() {
    use wasmsock::testing::{ScopeBuilder, TestPlugin};
    let plugin = TestPlugin::load(crate::support::wasm("whoami"))
        .await
        .expect("load whoami");
    let wait = Duration::from_secs(5);
    let request = ScopeBuilder::path("/whoami")
        .user("ada")
        .claims(r#"{"sub":"ada","team":"blue"}"#)
        .identity_value("role", "reader")
        .identity_value("role", "admin");
    let mut conn = plugin
        .connect(request)
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    let me: Value =
        serde_json::from_str(&conn.receive_text(wait).await.expect("identity")).expect("JSON");
    assert_eq!(
        me,
        json!({"user": "ada", "claims": {"sub": "ada", "team": "blue"}, "role": "admin"})
    );
    let mut anon = plugin
        .connect("/whoami")
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    let me: Value =
        serde_json::from_str(&anon.receive_text(wait).await.expect("identity")).expect("JSON");
    assert_eq!(me, json!({"user": null, "claims": null, "role": null}));
}

#[tokio::test]
async fn the_identity_moves_with_a_connection_to_the_new_version() {
    let dir = plugins_dir();
    let manifest = |version: u32| {
        format!(
            "[config]\nversion = \"{version}\"\n[auth]\njwt_secret = \"{SECRET}\"\n\
             token_from = [\"query:token\"]\naudience = \"chat\"\n"
        )
    };
    std::fs::write(dir.path().join("keeper.toml"), manifest(1)).expect("manifest");
    install(dir.path(), "keeper", "keeper");
    let server = TestServer::start(dir.path(), &[]);
    let token = hs256(&good("ada"));
    let mut ws = server.connect(&format!("/keeper?token={token}")).await;
    let ask = |text: &'static str| tokio_tungstenite::tungstenite::Message::text(text);
    futures_util::SinkExt::send(&mut ws, ask("who"))
        .await
        .expect("send");
    assert_eq!(
        recv(&mut ws).await.into_text().expect("text"),
        "Ok(Some(\"ada\"))"
    );

    atomic_write(dir.path(), "keeper.toml", manifest(2).as_bytes());
    server
        .wait_log("plugin `keeper` (version 2)", Duration::from_secs(20))
        .await;
    futures_util::SinkExt::send(&mut ws, ask("hi"))
        .await
        .expect("send");
    assert_eq!(
        recv(&mut ws).await.into_text().expect("text"),
        "2:1:hi",
        "the connection moved to version 2"
    );
    futures_util::SinkExt::send(&mut ws, ask("who"))
        .await
        .expect("send");
    assert_eq!(
        recv(&mut ws).await.into_text().expect("text"),
        "Ok(Some(\"ada\"))",
        "its identity came with it"
    );
}

#[test]
fn a_bad_auth_table_stops_the_server_at_start_naming_file_key_and_reason() {
    let dir = plugins_dir();
    install(dir.path(), "whoami", "who");
    std::fs::write(dir.path().join("bad.pem"), "not a key\n").expect("write");
    for (text, words) in [
        (
            "[auth]\njwt_public_key = \"bad.pem\"\n".to_string(),
            vec![
                "who.toml",
                "auth.jwt_public_key",
                "bad.pem",
                "not a PEM file",
            ],
        ),
        (
            "[auth]\njwt_public_key = \"absent.pem\"\n".to_string(),
            vec![
                "who.toml",
                "auth.jwt_public_key",
                "absent.pem",
                "cannot read",
            ],
        ),
        (
            format!("[auth]\njwt_secret = \"{SECRET}\"\njwt_public_key = \"bad.pem\"\n"),
            vec![
                "who.toml",
                "only one key source",
                "jwt_secret and jwt_public_key",
            ],
        ),
        (
            format!("[auth]\njwt_secret = \"{SECRET}\"\ntoken_from = [\"body\"]\n"),
            vec![
                "who.toml",
                "auth.token_from[0]",
                "unknown token source \"body\"",
            ],
        ),
        (
            format!("[auth]\njwt_secret = \"{SECRET}\"\nalgorithms = [\"none\"]\n"),
            vec!["who.toml", "auth.algorithms", "never accepted"],
        ),
    ] {
        std::fs::write(dir.path().join("who.toml"), &text).expect("manifest");
        let err = crate::support::fails_to_start(dir.path(), &[]);
        for w in words {
            assert!(
                err.contains(w),
                "manifest {text:?}: error lacks {w:?}:\n{err}"
            );
        }
    }
}

#[tokio::test]
async fn a_bad_key_on_reload_keeps_the_old_version_serving() {
    let dir = plugins_dir();
    let good_manifest = format!(
        "[auth]\njwt_secret = \"{SECRET}\"\ntoken_from = [\"query:token\"]\naudience = \"chat\"\n"
    );
    whoami(dir.path(), "who", &good_manifest);
    let server = TestServer::start(dir.path(), &[]);
    let token = hs256(&good("ada"));
    let path = format!("/who?token={token}");
    assert_eq!(identity_of(&server, &path, &[]).await["user"], "ada");

    atomic_write(
        dir.path(),
        "who.toml",
        "[auth]\njwt_public_key = \"gone.pem\"\n".as_bytes(),
    );
    server.wait_log("gone.pem", Duration::from_secs(20)).await;
    assert!(
        server.logs().contains("the previous version keeps serving"),
        "{}",
        server.logs()
    );
    assert_eq!(
        identity_of(&server, &path, &[]).await["user"],
        "ada",
        "the old version, with its key, still serves"
    );
}
