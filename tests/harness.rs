//! The plugin test harness (`wasmsock::testing`) on real components: the
//! echo plugin built with the SDK, and the probe test plugin for
//! rejections, closes, scopes, config, subprotocols and traps.

use std::time::Duration;

use crate::support::{self, wasm};
use wasmsock::testing::{
    CloseFrame, ConnectResult, HarnessError, Message, ScopeBuilder, TestPlugin,
};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(100);

#[tokio::test]
async fn echo_answers_text_and_binary_and_nothing_else() {
    let plugin = TestPlugin::load(wasm("echo")).await.expect("load echo");
    assert_eq!(plugin.name(), "echo");
    let mut conn = plugin
        .connect("/echo")
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    assert_eq!(conn.id(), 1);
    conn.receive_nothing(QUIET).await.expect("no greeting");

    conn.send_text("hello").await.expect("send text");
    assert_eq!(
        conn.receive(WAIT).await.expect("echo"),
        Message::Text("hello".into())
    );
    conn.send_binary(vec![0u8, 1, 2, 255, 254])
        .await
        .expect("send binary");
    assert_eq!(
        conn.receive_binary(WAIT).await.expect("binary echo"),
        vec![0u8, 1, 2, 255, 254]
    );
    conn.receive_nothing(QUIET)
        .await
        .expect("one echo per message");
    assert_eq!(conn.close_received(), None);

    conn.disconnect(1000).await.expect("disconnect");
    let log = plugin.log_text();
    for line in [
        "connect 1 path=/echo from 127.0.0.1:40000",
        "disconnect 1: code 1000 reason \"\"",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
    assert!(
        plugin.logs().iter().all(|l| l.source == "plugin"),
        "only the plugin's own lines:\n{log}"
    );
}

#[tokio::test]
async fn echo_keeps_connections_apart_and_routes_like_the_server() {
    let plugin = TestPlugin::load(wasm("echo")).await.expect("load echo");
    let mut a = plugin
        .connect("/echo")
        .await
        .expect("a")
        .accepted()
        .expect("a accepted");
    let mut b = plugin
        .connect("/echo")
        .await
        .expect("b")
        .accepted()
        .expect("b accepted");
    assert_ne!(a.id(), b.id());
    a.send_text("for a").await.expect("send a");
    b.receive_nothing(QUIET)
        .await
        .expect("b hears nothing of a");
    assert_eq!(a.receive_text(WAIT).await.expect("a echo"), "for a");
    // The default route is /NAME; anything else is the server's 404.
    match plugin.connect("/elsewhere").await {
        Err(HarnessError::NoRoute(path)) => assert_eq!(path, "/elsewhere"),
        other => panic!("expected NoRoute, got {other:?}"),
    }
    // A dropped connection still reaches on-disconnect (1006).
    let b_id = b.id();
    drop(b);
    a.send_text("sync").await.expect("send after drop");
    let deadline = std::time::Instant::now() + WAIT;
    let want = format!("disconnect {b_id}: code 1006");
    while !plugin.log_text().contains(&want) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {want:?}:\n{}",
            plugin.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn probe_rejects_with_status_body_and_headers() {
    let plugin = TestPlugin::load(wasm("probe")).await.expect("load probe");
    let rejection = plugin
        .connect("/probe?reject=403")
        .await
        .expect("connect")
        .rejected()
        .expect("rejected");
    assert_eq!(rejection.status, 403);
    assert_eq!(rejection.body, "rejected by probe");
    assert!(rejection
        .headers
        .contains(&("x-probe".to_string(), "rejected".to_string())));
    // A status outside 400-599 is answered 500, as by the server.
    let odd = plugin
        .connect("/probe?reject=200")
        .await
        .expect("connect")
        .rejected()
        .expect("rejected");
    assert_eq!(odd.status, 500);
}

#[tokio::test]
async fn probe_close_is_received_and_reported_back() {
    let plugin = TestPlugin::load(wasm("probe")).await.expect("load probe");
    let mut conn = plugin
        .connect("/probe")
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    conn.send_text("close 4001 bye").await.expect("send");
    assert_eq!(
        conn.close_received(),
        Some(CloseFrame {
            code: 4001,
            reason: "bye".into()
        })
    );
    assert_eq!(
        conn.receive_close(WAIT).await.expect("close"),
        CloseFrame {
            code: 4001,
            reason: "bye".into()
        }
    );
    match conn.send_text("after close").await {
        Err(HarnessError::ClosedByPlugin { code: 4001, .. }) => {}
        other => panic!("sending after the plugin closed: {other:?}"),
    }
    conn.disconnect(1000).await.expect("disconnect");
    let log = plugin.log_text();
    assert!(
        log.contains("probe disconnect 1 code=4001 reason=bye by_client=false"),
        "the plugin hears its own close:\n{log}"
    );
}

#[tokio::test]
async fn probe_sees_the_scope_the_server_would_build() {
    let plugin = TestPlugin::options(wasm("probe"))
        .manifest("routes = [\"/rooms/{room}\"]\n")
        .load()
        .await
        .expect("load probe");
    let request = ScopeBuilder::path("/rooms/lobby?a=1")
        .header("Origin", "https://example.com")
        .cookie("session", "abc")
        .subprotocol("chat")
        .remote_addr("10.1.2.3:5555".parse().expect("addr"));
    let mut conn = plugin
        .connect(request)
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    conn.send_text("scope").await.expect("send");
    let scope = conn.receive_text(WAIT).await.expect("scope");
    for line in [
        "path=/rooms/lobby",
        "query=a=1",
        "route=/rooms/{room}",
        "params=room:lobby",
        "cookies=session:abc",
        "subprotocols=chat",
        "remote=10.1.2.3:5555",
        "host=wasmsock.test",
    ] {
        assert!(
            scope.lines().any(|l| l == line),
            "scope lacks {line:?}:\n{scope}"
        );
    }
    assert_eq!(conn.subprotocol(), None, "probe picks one only when asked");
}

#[tokio::test]
async fn config_values_and_subprotocols_reach_the_plugin() {
    let plugin = TestPlugin::options(wasm("probe"))
        .with_config([("prefix", "v2:"), ("greet", "true")])
        .load()
        .await
        .expect("load probe");
    let mut conn = plugin
        .connect(ScopeBuilder::path("/probe?proto=chat").subprotocol("chat"))
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    assert_eq!(conn.subprotocol(), Some("chat"));
    assert!(conn
        .headers()
        .contains(&("x-probe".to_string(), "accepted".to_string())));
    assert_eq!(conn.receive_text(WAIT).await.expect("greeting"), "hello 1");
    conn.send_text("hi").await.expect("send");
    assert_eq!(conn.receive_text(WAIT).await.expect("echo"), "v2:hi");

    // Choosing a subprotocol the client did not offer fails the handshake.
    match plugin.connect("/probe?proto=other").await.expect("connect") {
        ConnectResult::Failed(why) => assert!(why.contains("did not offer"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_trap_closes_with_1011_and_the_next_connection_gets_a_fresh_instance() {
    let plugin = TestPlugin::load(wasm("probe")).await.expect("load probe");
    let mut a = plugin
        .connect("/probe")
        .await
        .expect("a")
        .accepted()
        .expect("a accepted");
    let mut b = plugin
        .connect("/probe")
        .await
        .expect("b")
        .accepted()
        .expect("b accepted");
    a.send_text("send-to 2").await.expect("send-to");
    assert_eq!(b.receive_text(WAIT).await.expect("b hears a"), "from probe");
    assert_eq!(a.receive_text(WAIT).await.expect("result"), "Ok(())");

    a.send_text("trap").await.expect("send trap");
    let failed = CloseFrame {
        code: 1011,
        reason: "plugin failed".into(),
    };
    assert_eq!(a.receive_close(WAIT).await.expect("a closed"), failed);
    assert_eq!(b.receive_close(WAIT).await.expect("b closed too"), failed);
    assert!(
        plugin
            .logs()
            .iter()
            .any(|l| l.source == "host" && l.message.contains("plugin failed")),
        "the host's failure line is captured:\n{}",
        plugin.log_text()
    );

    let mut c = plugin
        .connect("/probe")
        .await
        .expect("c")
        .accepted()
        .expect("c accepted");
    c.send_text("still here").await.expect("send");
    assert_eq!(c.receive_text(WAIT).await.expect("echo"), "still here");
}

#[tokio::test]
async fn files_the_server_refuses_are_refused_with_its_words() {
    let dir = support::plugins_dir();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, support::fixture("core-module")).expect("write");
    match TestPlugin::load(&core).await {
        Err(e @ HarnessError::Load { .. }) => {
            assert!(e.to_string().contains("not a component"), "{e}")
        }
        other => panic!("expected a load error, got {other:?}"),
    }
    let missing = dir.path().join("missing.wasm");
    assert!(matches!(
        TestPlugin::load(&missing).await,
        Err(HarnessError::Load { .. })
    ));
}

/// The SDK keeps one value per connection (user and count here), picks the
/// subprotocol in `accept`, and speaks JSON with the `json` feature.
#[tokio::test]
async fn sdk_json_echo_keeps_state_per_connection() {
    let plugin = TestPlugin::load(wasm("json_echo"))
        .await
        .expect("load json-echo");
    let route = "/json_echo";
    let mut ann = plugin
        .connect(ScopeBuilder::path(format!("{route}?user=ann")).subprotocol("json"))
        .await
        .expect("ann")
        .accepted()
        .expect("ann accepted");
    assert_eq!(ann.subprotocol(), Some("json"));
    let mut bob = plugin
        .connect(format!("{route}?user=bob"))
        .await
        .expect("bob")
        .accepted()
        .expect("bob accepted");
    assert_eq!(bob.subprotocol(), None);

    let json = |text: String| -> serde_json::Value { serde_json::from_str(&text).expect("JSON") };
    for n in 1..=3 {
        ann.send_text(format!(r#"{{"say":"a{n}"}}"#))
            .await
            .expect("send");
        assert_eq!(
            json(ann.receive_text(WAIT).await.expect("reply")),
            serde_json::json!({"user": "ann", "n": n, "echo": format!("a{n}")})
        );
    }
    bob.send_text(r#"{"say":"b"}"#).await.expect("send");
    assert_eq!(
        json(bob.receive_text(WAIT).await.expect("reply")),
        serde_json::json!({"user": "bob", "n": 1, "echo": "b"}),
        "bob's count is his own"
    );
    bob.send_binary(b"not json".to_vec()).await.expect("send");
    let failure = json(bob.receive_text(WAIT).await.expect("error reply"));
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid JSON")),
        "{failure}"
    );

    ann.disconnect(1000).await.expect("ann leaves");
    bob.disconnect(1001).await.expect("bob leaves");
    let log = plugin.log_text();
    assert!(
        log.contains("json-echo 1: ann sent 3 messages, closed with 1000"),
        "{log}"
    );
    assert!(
        log.contains("json-echo 2: bob sent 1 messages, closed with 1001"),
        "{log}"
    );

    // A fresh connection starts from zero: the state left with bob and ann.
    let rejection = plugin
        .connect(format!("{route}?user="))
        .await
        .expect("connect")
        .rejected()
        .expect("empty user refused");
    assert_eq!(
        (rejection.status, rejection.body.as_str()),
        (400, "empty user name")
    );
    let mut ann2 = plugin
        .connect(format!("{route}?user=ann"))
        .await
        .expect("ann again")
        .accepted()
        .expect("accepted");
    ann2.send_text(r#"{"say":"again"}"#).await.expect("send");
    assert_eq!(json(ann2.receive_text(WAIT).await.expect("reply"))["n"], 1);
}

/// `wasmsock test FILE --script STEPS` runs the same harness from a text
/// file: a passing script exits 0, the first failing step exits 1 naming
/// its line.
#[test]
fn the_test_command_runs_a_script() {
    let dir = support::plugins_dir();
    let run = |plugin: &str, script: &str| {
        let path = dir.path().join("steps.txt");
        std::fs::write(&path, script).expect("write script");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmsock"))
            .arg("test")
            .arg(wasm(plugin))
            .arg("--script")
            .arg(&path)
            .output()
            .expect("run wasmsock test");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (code, out) = run(
        "echo",
        "# echo, the whole way\nconnect /echo\nsend hello\nexpect hello\n\
         send-binary 00ff\nexpect-binary 00 ff\nexpect-nothing 50ms\nclose 1000\n\
         expect-log disconnect 1: code 1000\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("passed (8 steps)"), "{out}");

    let (code, out) = run(
        "probe",
        "config prefix p:\nconnect-rejected /probe?reject=403 403\nconnect /probe\n\
         send hi\nexpect p:hi\nsend close 4001 bye\nexpect-close 4001 bye\n",
    );
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = run("echo", "connect /echo\nsend one\nexpect two\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("line 3: `expect two`: received text \"one\""),
        "{out}"
    );

    let (code, out) = run("echo", "connect /echo\nwobble\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("line 2: unknown step `wobble`"), "{out}");
}
