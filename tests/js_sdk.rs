//! The JavaScript SDK's consumers (sdk/js) through the real server: the
//! echo on the SDK (plugins/echo-js-sdk), the room chat
//! (plugins/chat-javascript) and the test consumers of tests/plugins/js-sdk,
//! built by `scripts/plugins.sh --lang js-sdk` into target/plugins with the
//! manifests their routing.js gives. Echo, chat rooms, refusals (403),
//! close codes both ways, the scope and its route parameters, JSON, async
//! methods, and the channel layer: events dispatched to the method their
//! type names, `channelLayer.send` to one `channelName`, host errors as
//! thrown errors.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::sdk::{self, close_with, next_json, nothing_for, wait_print, WAIT};
use crate::support::{self, closed, recv, roundtrip, TestServer};

/// The first server to load a 12 MB JavaScript component compiles it.
const LOAD: Duration = Duration::from_secs(300);

fn serve(name: &str) -> (tempfile::TempDir, TestServer) {
    sdk::serve_built(name, "js-sdk")
}

/// The echo on the SDK sends text back as text and binary as binary,
/// its console.log lines reach the log, and its `disconnect` hears the
/// client's close code.
#[tokio::test]
async fn echo_sends_text_and_binary_back_and_hears_the_close_code() {
    let (_dir, server) = serve("echo-js-sdk");
    let mut ws = server.wait_route("/echo-js-sdk", LOAD).await;
    wait_print(
        &server,
        "echo-js-sdk",
        "connect /echo-js-sdk from 127.0.0.1",
    )
    .await;
    for case in [
        Message::text("hello"),
        Message::text(""),
        Message::text("non-ASCII: héllo ☃ 😀 中文"),
        Message::binary(vec![0u8, 1, 2, 255, 254]),
        Message::binary(Vec::new()),
    ] {
        ws.send(case.clone()).await.expect("send");
        assert_eq!(recv(&mut ws).await, case);
    }
    assert_eq!(close_with(&mut ws, 4001).await, 4001);
    wait_print(&server, "echo-js-sdk", "disconnect: code 4001").await;
}

/// Two clients in one room hear each other (joins, messages, leaves, in
/// the Rust chat's format); a client in another room hears none of it.
#[tokio::test]
async fn chat_relays_within_a_room_and_not_to_another() {
    let (_dir, server) = serve("chat-javascript");
    let mut alice = server.wait_route("/chat-js/lobby?name=alice", LOAD).await;
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "join", "name": "alice", "count": 1})
    );
    let mut bob = server.connect("/chat-js/lobby?name=bob").await;
    let joined = json!({"type": "join", "name": "bob", "count": 2});
    assert_eq!(next_json(&mut alice).await, joined);
    assert_eq!(next_json(&mut bob).await, joined);
    let mut carol = server.connect("/chat-js/attic?name=carol").await;
    assert_eq!(
        next_json(&mut carol).await,
        json!({"type": "join", "name": "carol", "count": 1})
    );

    alice.send(Message::text("hi bob")).await.expect("send");
    let said = json!({"type": "message", "name": "alice", "text": "hi bob"});
    assert_eq!(next_json(&mut alice).await, said, "the sender hears it too");
    assert_eq!(next_json(&mut bob).await, said);
    bob.send(Message::text("héllo ☃")).await.expect("send");
    let said = json!({"type": "message", "name": "bob", "text": "héllo ☃"});
    assert_eq!(next_json(&mut alice).await, said);
    assert_eq!(next_json(&mut bob).await, said);
    nothing_for(&mut carol, "carol, in another room").await;

    bob.send(Message::text("/who")).await.expect("send");
    assert_eq!(
        next_json(&mut bob).await,
        json!({"type": "who", "count": 2, "names": ["alice", "bob"]})
    );
    nothing_for(&mut alice, "alice, who did not ask").await;

    assert_eq!(close_with(&mut bob, 1000).await, 1000);
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "leave", "name": "bob", "count": 1})
    );
    nothing_for(&mut carol, "carol").await;
}

/// Not accepting, `this.close()` and `throw new DenyConnection()` in
/// `connect` refuse with 403 (an async `connect` too); DenyConnection may
/// carry another status and a body; an error thrown there is a 500 and a
/// log line.
#[tokio::test]
async fn refusals_in_connect_answer_403() {
    let (_dir, server) = serve("js-sdk-test");
    server.wait_route("/js/refuse/accept", LOAD).await;
    for how in ["none", "close", "deny"] {
        let (status, body, _) = server.refused(&format!("/js/refuse/{how}")).await;
        assert_eq!(status, 403, "refused by {how}: {body}");
    }
    let (status, _, _) = server.refused("/js/async/refuse").await;
    assert_eq!(status, 403, "an async connect that does not accept");
    let (status, body, _) = server.refused("/js/refuse/deny-401").await;
    assert_eq!((status, body.as_str()), (401, "who are you?\n"));
    let (status, _, _) = server.refused("/js/refuse/throw").await;
    assert_eq!(status, 500);
    server
        .wait_log(
            "Refuser.connect threw Error: connect failed on purpose; refusing the connection with 500",
            WAIT,
        )
        .await;
    let st = server.status().await;
    assert_eq!(
        st["plugins"]["js-sdk-test"]["failures"], 0,
        "a consumer's error is not a plugin failure: {st:#}"
    );
}

/// `this.close(code, reason)` reaches the client and the consumer's
/// `disconnect` hears the code, whoever closed.
#[tokio::test]
async fn disconnect_receives_the_close_code() {
    let (_dir, server) = serve("js-sdk-test");
    let mut ws = server.wait_route("/js/close", LOAD).await;
    assert_eq!(roundtrip(&mut ws, "ping").await, "ping");
    ws.send(Message::text("close 4321 done here"))
        .await
        .expect("send");
    assert_eq!(closed(&mut ws).await, (4321, "done here".to_string()));
    wait_print(&server, "js-sdk-test", "closer disconnect code=4321").await;

    let mut ws = server.connect("/js/close").await;
    assert_eq!(close_with(&mut ws, 4001).await, 4001);
    wait_print(&server, "js-sdk-test", "closer disconnect code=4001").await;
}

/// `this.scope`: path (decoded and raw), query, headers, the route's
/// parameters (Channels' url_route.kwargs), cookies, client, server,
/// subprotocols (and the one accepted), and the channelName.
#[tokio::test]
async fn the_scope_carries_route_params_and_the_request() {
    let (_dir, server) = serve("js-sdk-test");
    server.wait_route("/js/refuse/accept", LOAD).await;
    let mut req = server
        .url("/js/scope/caf%C3%A9/7?a=1&b=%20x")
        .into_client_request()
        .expect("request");
    let headers = req.headers_mut();
    headers.insert("cookie", "sid=abc; theme=dark".parse().expect("header"));
    headers.insert("x-custom", "Value 1".parse().expect("header"));
    headers.insert(
        "sec-websocket-protocol",
        "chat.v2, other".parse().expect("header"),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}; log:\n{}", server.logs()));
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap_or("")),
        Some("chat.v2"),
        "accept(subprotocol) answers with it"
    );
    let scope = next_json(&mut ws).await;
    assert_eq!(scope["type"], "websocket");
    assert_eq!(scope["path"], "/js/scope/café/7");
    assert_eq!(scope["rawPath"], "/js/scope/caf%C3%A9/7");
    assert_eq!(scope["queryString"], "a=1&b=%20x");
    assert_eq!(scope["queryB"], " x");
    assert_eq!(scope["route"], "/js/scope/{room}/{n}");
    assert_eq!(scope["params"], json!({"room": "café", "n": "7"}));
    assert_eq!(scope["cookies"], json!({"sid": "abc", "theme": "dark"}));
    let headers = scope["headers"].as_array().expect("headers");
    for (name, value) in [("x-custom", "Value 1"), ("cookie", "sid=abc; theme=dark")] {
        assert!(
            headers.contains(&json!([name, value])),
            "header {name}: {value} in {headers:?}"
        );
    }
    assert_eq!(scope["client"][0], "127.0.0.1");
    assert!(
        scope["client"][1].as_u64().is_some_and(|p| p > 0),
        "{scope}"
    );
    let port: u64 = server
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert_eq!(scope["server"], json!(["127.0.0.1", port]));
    assert_eq!(scope["subprotocols"], json!(["chat.v2", "other"]));
    assert!(
        scope["channelName"].as_str().is_some_and(|c| !c.is_empty()),
        "{scope}"
    );
}

/// `groupSend({type: "room.say"})` reaches `roomSay` of every member's
/// consumer, the sender's included, and no other room's;
/// `channelLayer.send` to a channelName reaches that one consumer
/// (`private_note`, the snake_case name); `broadcast` and `sendMessage`
/// write to sockets; `groupDiscard` stops delivery;
/// the host's refusals are thrown HostErrors; an event no method takes
/// closes its consumers with 1011, naming the methods tried.
#[tokio::test]
async fn events_dispatch_by_type_and_send_reaches_one_channel() {
    let (_dir, server) = serve("js-sdk-test");
    let mut a = server.wait_route("/js/room/lobby", LOAD).await;
    let mut b = server.connect("/js/room/lobby").await;
    let mut c = server.connect("/js/room/attic").await;

    a.send(Message::text("say hello")).await.expect("send");
    assert_eq!(recv(&mut a).await, Message::text("lobby: hello"));
    assert_eq!(recv(&mut b).await, Message::text("lobby: hello"));
    nothing_for(&mut c, "c, in another room").await;

    let address = roundtrip(&mut a, "whoami").await;
    c.send(Message::text(format!("tell {address} psst")))
        .await
        .expect("send");
    assert_eq!(recv(&mut a).await, Message::text("note: psst"));
    nothing_for(&mut b, "b").await;
    nothing_for(&mut c, "c, the sender of a send").await;

    // wasmsock's own: broadcast to the sockets (not the sender's), and a
    // binary message to one socket by its channelName.
    assert_eq!(roundtrip(&mut b, "shout hey").await, "shouted to 1 of 2");
    assert_eq!(recv(&mut a).await, Message::text("shout: hey"));
    c.send(Message::text(format!("poke {address} raw")))
        .await
        .expect("send");
    assert_eq!(recv(&mut a).await, Message::binary(b"raw".to_vec()));
    nothing_for(&mut b, "b").await;

    assert_eq!(roundtrip(&mut b, "leave").await, "left");
    a.send(Message::text("say again")).await.expect("send");
    assert_eq!(recv(&mut a).await, Message::text("lobby: again"));
    nothing_for(&mut b, "b, who left").await;

    let refused = roundtrip(&mut c, "badgroup").await;
    assert_eq!(
        refused,
        "true invalid-name: channelLayer.groupAdd(\"not a group!\"): \"not a group!\" is not a valid \
         group name (1 to 100 ASCII letters, digits, '-', '_', '.', ':')"
    );

    c.send(Message::text("nohandler")).await.expect("send");
    assert_eq!(closed(&mut c).await.0, 1011);
    server
        .wait_log(
            "no handler for event type no.such.handler (tried noSuchHandler(), no_such_handler())",
            WAIT,
        )
        .await;
    assert_eq!(roundtrip(&mut a, "whoami").await, address, "a is untouched");
}

/// JsonWebsocketConsumer round trip, one consumer per connection; a binary
/// message closes that connection with 1011. Async methods run to the end
/// within the call.
#[tokio::test]
async fn json_and_async_consumers() {
    let (_dir, server) = serve("js-sdk-test");
    let mut a = server.wait_route("/js/json", LOAD).await;
    let mut b = server.connect("/js/json").await;
    let content = json!({"text": "héllo ☃", "list": [1, 2.5, null, true]});
    a.send(Message::text(content.to_string()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut a).await, json!({"got": content, "count": 1}));
    a.send(Message::text("[1]")).await.expect("send");
    assert_eq!(next_json(&mut a).await, json!({"got": [1], "count": 2}));
    b.send(Message::text("\"b\"")).await.expect("send");
    assert_eq!(next_json(&mut b).await, json!({"got": "b", "count": 1}));
    a.send(Message::binary(vec![1u8, 2])).await.expect("send");
    assert_eq!(closed(&mut a).await.0, 1011);
    server
        .wait_log("a JsonWebsocketConsumer takes text messages", WAIT)
        .await;
    b.send(Message::text("2")).await.expect("send");
    assert_eq!(next_json(&mut b).await, json!({"got": 2, "count": 2}));

    let mut ws = server.connect("/js/async/ok").await;
    assert_eq!(roundtrip(&mut ws, "hi").await, "async hi");
}

/// The SDK's own unit tests (sdk/js/tests: routes and what is refused,
/// connect's answers, dispatch by type, host errors, with a stand-in
/// host), run with node as the build runs routing.js.
#[test]
fn the_sdk_unit_tests_pass() {
    let out = std::process::Command::new("node")
        .args(["--test", "sdk/js/tests"])
        .current_dir(support::root())
        .output()
        .unwrap_or_else(|e| panic!("running node (Node.js 18 or later is needed): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sdk/js/tests failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("# fail 0") && !text.contains("# pass 0"),
        "{text}"
    );
}

/// A route the server cannot serve stops the build (sdk/js/build.sh)
/// before componentize-js runs, naming the pattern and the reason; so does
/// an import that would not resolve inside the plugin.
#[test]
fn the_build_refuses_what_the_server_cannot_route() {
    let cjs = support::root()
        .join("target/toolchains/npm/componentize-js/node_modules/.bin/componentize-js");
    assert!(
        cjs.exists(),
        "{} is missing: install it with `scripts/plugins.sh --install --lang js-sdk`",
        cjs.display()
    );
    let consumers = "import { WebsocketConsumer } from \"wasmsock\";\n\
                     export class A extends WebsocketConsumer {}\n";
    for (routing, expect) in [
        (
            "import { route } from \"wasmsock\";\nimport { A } from \"./consumers.js\";\n\
             export const routes = [route(\"/room-{n}\", A)];\n",
            "routing.js: routes[0]: \"/room-{n}\" cannot be routed: segment \"room-{n}\": a \
             parameter is a whole segment",
        ),
        (
            "import { route } from \"wasmsock\";\nimport { A } from \"./consumers.js\";\n\
             export const routes = [route(\"/files/*\", A)];\n",
            "wildcards are not routed",
        ),
        (
            "import { route } from \"wasmsock\";\nimport { A } from \"./consumers.js\";\n\
             import _ from \"lodash\";\nexport const routes = [route(\"/x\", A)];\n",
            "routing.js:3: \"lodash\" cannot be imported in a plugin",
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("consumers.js"), consumers).expect("write");
        std::fs::write(dir.path().join("routing.js"), routing).expect("write");
        std::os::unix::fs::symlink(support::root().join("wit"), dir.path().join("wit"))
            .expect("wit link");
        let out = std::process::Command::new("bash")
            .arg(support::root().join("sdk/js/build.sh"))
            .arg(dir.path())
            .arg("bad")
            .arg(dir.path().join("bad.wasm"))
            .env("COMPONENTIZE_JS", &cjs)
            .output()
            .expect("run build.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expect), "expected {expect:?} in:\n{stderr}");
        assert!(!dir.path().join("bad.wasm").exists(), "nothing was built");
        assert!(
            !dir.path().join("bad.toml").exists(),
            "no manifest was written"
        );
    }
}
