//! The Python SDK's Django Channels consumers (sdk/python) through the real
//! server: the seed's consumer built unchanged (plugins/seed-consumer) and
//! the test consumers of tests/plugins/channels, both built by
//! `scripts/plugins.sh --lang python-sdk` into target/plugins with the
//! manifests their routing.py gives. Connects, echoes, JSON, async
//! consumers, refusals (403), close codes both ways, the scope, routing
//! as Django's, failures kept to one connection, the clear error for a real
//! wait in an async consumer, and the channel layer: groups, events to
//! `chat_message`, sends to one `channel_name`, on one server and across
//! two through Redis.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::sdk::{self, close_with, next_json, nothing_for, wait_print, QUIET, WAIT};
use crate::support::{self, closed, recv, roundtrip, TestServer};

fn serve(name: &str) -> (tempfile::TempDir, TestServer) {
    sdk::serve_built(name, "python-sdk")
}

/// The seed's consumers.py, byte for byte, with a routing.py in the seed's
/// shape (ProtocolTypeRouter, AuthMiddlewareStack, URLRouter,
/// `path('ncdev/', ...)`): it echoes on /ncdev/ and its three prints reach
/// the server's log on connect, receive and disconnect.
#[tokio::test]
async fn the_seed_consumer_runs_unchanged() {
    let ours = std::fs::read(support::root().join("plugins/seed-consumer/consumers.py"))
        .expect("plugins/seed-consumer/consumers.py");
    let seed = support::root().join("../shared/seed/consumers.py");
    if let Ok(seed) = std::fs::read(&seed) {
        assert!(
            ours == seed,
            "plugins/seed-consumer/consumers.py must be the seed's, byte for byte"
        );
    }
    let (_dir, server) = serve("seed-consumer");
    let mut ws = server.wait_route("/ncdev/", Duration::from_secs(300)).await;
    wait_print(&server, "seed-consumer", "连接上啦").await;
    assert_eq!(roundtrip(&mut ws, "你好, wasmsock").await, "你好, wasmsock");
    wait_print(&server, "seed-consumer", "已发送数据").await;
    assert_eq!(close_with(&mut ws, 1000).await, 1000);
    wait_print(&server, "seed-consumer", "断开连接啦").await;

    // Django's routing: 'ncdev/' wants its trailing slash, as under
    // Channels; the plugin refuses what its routing does not match.
    let (status, body, _) = server.refused("/ncdev").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No route found for path 'ncdev'"), "{body}");
}

#[tokio::test]
async fn json_consumers_round_trip_with_one_consumer_per_connection() {
    let (_dir, server) = serve("channels-test");
    let mut a = server.wait_route("/json/", Duration::from_secs(300)).await;
    let mut b = server.connect("/json/").await;
    let content = json!({"text": "héllo ☃", "list": [1, 2.5, null, true], "nested": {"k": "v"}});
    a.send(Message::text(content.to_string()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut a).await, json!({"got": content, "count": 1}));
    a.send(Message::text("[1]")).await.expect("send");
    assert_eq!(next_json(&mut a).await, json!({"got": [1], "count": 2}));
    // b has its own consumer object, so its own count.
    b.send(Message::text("\"b\"")).await.expect("send");
    assert_eq!(next_json(&mut b).await, json!({"got": "b", "count": 1}));

    let mut aj = server.connect("/async-json/").await;
    aj.send(Message::text(r#"{"x": 1}"#)).await.expect("send");
    assert_eq!(next_json(&mut aj).await, json!({"async": {"x": 1}}));

    // Binary is not JSON: JsonWebsocketConsumer raises, as in Channels,
    // which closes that connection (1011) and no other.
    a.send(Message::binary(vec![1u8, 2])).await.expect("send");
    assert_eq!(closed(&mut a).await.0, 1011);
    b.send(Message::text("2")).await.expect("send");
    assert_eq!(next_json(&mut b).await, json!({"got": 2, "count": 2}));
    server
        .wait_log("No text section for incoming WebSocket frame!", WAIT)
        .await;
}

#[tokio::test]
async fn async_consumers_run_their_coroutines_and_refuse_real_waits() {
    let (_dir, server) = serve("channels-test");
    let mut ws = server.wait_route("/async/", Duration::from_secs(300)).await;
    wait_print(&server, "channels-test", "async connect /async/").await;
    assert_eq!(roundtrip(&mut ws, "hello").await, "hello");
    ws.send(Message::binary(vec![0u8, 255, 7]))
        .await
        .expect("send");
    assert_eq!(recv(&mut ws).await, Message::binary(vec![0u8, 255, 7]));
    // asyncio.sleep(0) and sync_to_async complete within the call.
    assert_eq!(roundtrip(&mut ws, "double ab").await, "abab");

    // A real wait cannot happen inside a call: a clear error, this
    // connection closed with 1011, the other one unaffected.
    let mut other = server.connect("/async/").await;
    ws.send(Message::text("sleep")).await.expect("send");
    assert_eq!(closed(&mut ws).await.0, 1011);
    server.wait_log("raised UnsupportedWait", WAIT).await;
    let logs = server.logs();
    assert!(
        logs.contains("loop.create_future()")
            && logs.contains("asyncio.sleep with a delay")
            && logs.contains("nothing can wait for time"),
        "the error names what is unsupported and why; log:\n{logs}"
    );
    assert!(
        logs.contains("await asyncio.sleep(1)"),
        "the traceback points at the consumer's line; log:\n{logs}"
    );
    assert_eq!(roundtrip(&mut other, "still here").await, "still here");
    assert_eq!(close_with(&mut other, 4002).await, 4002);
    wait_print(&server, "channels-test", "async disconnect 4002").await;
}

#[tokio::test]
async fn refusals_answer_403_and_routing_is_djangos() {
    let (_dir, server) = serve("channels-test");
    server
        .wait_route("/refuse/accept/", Duration::from_secs(300))
        .await;
    for how in ["none", "close", "raise"] {
        let (status, body, _) = server.refused(&format!("/refuse/{how}/")).await;
        assert_eq!(status, 403, "refused by {how}: {body}");
    }
    // The server routes /scope/{room}/{n}/; the plugin's routing wants an
    // int for n and refuses the rest with 404, as Django would not match.
    let (status, body, _) = server.refused("/scope/lobby/seven/").await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = server.refused("/re/ABC/").await;
    assert_eq!(status, 404, "re_path's [a-z]+ does not match ABC");
    let mut ws = server.connect("/re/abc/").await;
    let scope = next_json(&mut ws).await;
    assert_eq!(
        scope["url_route"],
        json!({"args": [], "kwargs": {"word": "abc"}})
    );
    // Not routed by the server at all.
    let (status, _, _) = server.refused("/nowhere/").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn close_codes_travel_both_ways() {
    let (_dir, server) = serve("channels-test");
    let mut ws = server.wait_route("/close/", Duration::from_secs(300)).await;
    ws.send(Message::text("close 4321 done here"))
        .await
        .expect("send");
    assert_eq!(closed(&mut ws).await, (4321, "done here".to_string()));
    wait_print(&server, "channels-test", "closer disconnect code=4321").await;

    let mut ws = server.connect("/close/").await;
    ws.send(Message::text("bye")).await.expect("send");
    assert_eq!(recv(&mut ws).await, Message::text("bye"));
    assert_eq!(
        closed(&mut ws).await.0,
        1000,
        "send(close=True) closes with 1000"
    );

    let mut ws = server.connect("/close/").await;
    assert_eq!(close_with(&mut ws, 4001).await, 4001);
    wait_print(&server, "channels-test", "closer disconnect code=4001").await;

    // A code a server may not send is the consumer's error, with the rule.
    let mut ws = server.connect("/close/").await;
    ws.send(Message::text("bad-close")).await.expect("send");
    assert_eq!(closed(&mut ws).await.0, 1011);
    server
        .wait_log(
            "a server may close with 1000, 1001, 1003, 1007-1014 or 3000-4999",
            WAIT,
        )
        .await;
}

#[tokio::test]
async fn the_scope_is_shaped_like_channels() {
    let (_dir, server) = serve("channels-test");
    server
        .wait_route("/refuse/accept/", Duration::from_secs(300))
        .await;
    let mut req = server
        .url("/scope/caf%C3%A9/7/?a=1&b=%20x")
        .into_client_request()
        .expect("request");
    let headers = req.headers_mut();
    headers.insert(
        "cookie",
        "sessionid=abc; theme=dark".parse().expect("header"),
    );
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
        "accept(subprotocol=...) answers with it"
    );
    let scope = next_json(&mut ws).await;
    assert_eq!(scope["type"], "websocket");
    assert_eq!(scope["path"], "/scope/café/7/", "path is percent-decoded");
    assert_eq!(scope["raw_path"], "/scope/caf%C3%A9/7/");
    assert_eq!(scope["query_string"], "a=1&b=%20x");
    assert_eq!(scope["query_string_type"], "bytes");
    assert_eq!(scope["header_types"], json!(["bytes"]));
    let headers = scope["headers"].as_array().expect("headers");
    for (name, value) in [
        ("cookie", "sessionid=abc; theme=dark"),
        ("x-custom", "Value 1"),
        ("sec-websocket-protocol", "chat.v2, other"),
    ] {
        assert!(
            headers.contains(&json!([name, value])),
            "header {name}: {value} in {headers:?}"
        );
    }
    assert_eq!(
        scope["url_route"],
        json!({"args": [], "kwargs": {"room": "café", "n": 7}})
    );
    assert_eq!(scope["kwarg_types"], json!({"room": "str", "n": "int"}));
    assert_eq!(
        scope["cookies"],
        json!({"sessionid": "abc", "theme": "dark"})
    );
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
        scope["channel_name"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{scope}"
    );
}

#[tokio::test]
async fn a_failing_consumer_closes_only_its_connection() {
    let (_dir, server) = serve("channels-test");
    let mut a = server.wait_route("/fail/", Duration::from_secs(300)).await;
    let mut b = server.connect("/fail/").await;
    a.send(Message::text("boom")).await.expect("send");
    assert_eq!(closed(&mut a).await.0, 1011);
    assert_eq!(roundtrip(&mut b, "fine").await, "fine");
    server.wait_log("raised KeyError: 'boom'", WAIT).await;
    server
        .wait_log("Traceback (most recent call last)", WAIT)
        .await;
    let st = server.status().await;
    assert_eq!(
        st["plugins"]["channels-test"]["failures"], 0,
        "a consumer's exception is not a plugin failure: {st:#}"
    );
}

/// group_add and group_discard through `async_to_sync` (sync consumer)
/// and `await` (async consumer), seen in the server's group figures.
#[tokio::test]
async fn group_add_and_discard_reach_the_servers_groups() {
    let (_dir, server) = serve("channels-test");
    let mut a = server
        .wait_route("/chat/sync/r1/", Duration::from_secs(300))
        .await;
    let groups =
        |n: u64| move |s: &Value| s["plugins"]["channels-test"]["groups"].as_u64() == Some(n);
    server.wait_status("room-r1", WAIT, groups(1)).await;
    let mut b = server.connect("/chat/sync/r1/").await;
    let mut c = server.connect("/chat/async/r2/").await;
    server
        .wait_status("room-r1 and room-r2", WAIT, groups(2))
        .await;
    assert_eq!(roundtrip(&mut a, "leave").await, "left");
    assert_eq!(roundtrip(&mut c, "leave").await, "left");
    server
        .wait_status("room-r1 (b) only", WAIT, groups(1))
        .await;
    assert_eq!(roundtrip(&mut b, "leave").await, "left");
    server.wait_status("no group", WAIT, groups(0)).await;
    nothing_for(&mut a, "a").await;
}

/// The Channels tutorial's room: `group_send({"type": "chat.message"})`
/// reaches `chat_message` of every member's consumer, the sender's
/// included, sync and async consumers alike, and no other room's;
/// `channel_layer.send` reaches one `channel_name`; an event no handler
/// takes fails its consumers as in Channels.
#[tokio::test]
async fn group_send_reaches_the_rooms_consumers_and_send_one_channel() {
    let (_dir, server) = serve("channels-test");
    let mut a = server
        .wait_route("/chat/sync/lobby/", Duration::from_secs(300))
        .await;
    let mut b = server.connect("/chat/sync/lobby/").await;
    let mut d = server.connect("/chat/async/lobby/").await;
    let mut c = server.connect("/chat/sync/attic/").await;

    a.send(Message::text("hi")).await.expect("send");
    assert_eq!(recv(&mut a).await, Message::text("hi"), "the sender too");
    assert_eq!(recv(&mut b).await, Message::text("hi"));
    assert_eq!(recv(&mut d).await, Message::text("async hi"));
    d.send(Message::text("yo")).await.expect("send");
    assert_eq!(recv(&mut a).await, Message::text("yo"));
    assert_eq!(recv(&mut b).await, Message::text("yo"));
    assert_eq!(recv(&mut d).await, Message::text("async yo"));
    nothing_for(&mut c, "c, in another room").await;

    // group_discard: b hears the room no more.
    assert_eq!(roundtrip(&mut b, "leave").await, "left");
    a.send(Message::text("again")).await.expect("send");
    assert_eq!(recv(&mut a).await, Message::text("again"));
    assert_eq!(recv(&mut d).await, Message::text("async again"));
    nothing_for(&mut b, "b, who left").await;

    // channel_layer.send to one channel_name, from another room.
    let address = roundtrip(&mut a, "whoami").await;
    c.send(Message::text(format!("tell {address} psst")))
        .await
        .expect("send");
    assert_eq!(recv(&mut a).await, Message::text("psst"));
    nothing_for(&mut d, "d").await;
    nothing_for(&mut c, "c, the sender of a send").await;

    // No handler for the event's type: each member's consumer fails
    // ("No handler for message type"), closing its connection with 1011.
    c.send(Message::text("nohandler")).await.expect("send");
    assert_eq!(closed(&mut c).await.0, 1011);
    server
        .wait_log("No handler for message type no.such.handler", WAIT)
        .await;
    assert_eq!(
        roundtrip(&mut a, "still").await,
        "still",
        "the lobby is another room"
    );
}

/// The Channels tutorial's chat (plugins/chat-python), as built from its
/// tutorial-shaped `consumers.py` and `routing.py`: the tutorial's route,
/// names from the query, presence, the tutorial client's JSON and plain
/// text, each room to itself.
#[tokio::test]
async fn the_tutorial_chat_relays_within_a_room() {
    let (_dir, server) = serve("chat-python");
    let mut alice = server
        .wait_route("/ws/chat/lobby/?name=alice", Duration::from_secs(300))
        .await;
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "join", "name": "alice"})
    );
    let mut bob = server.connect("/ws/chat/lobby/?name=bob").await;
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "join", "name": "bob"})
    );
    assert_eq!(
        next_json(&mut bob).await,
        json!({"type": "join", "name": "bob"})
    );
    let mut carol = server.connect("/ws/chat/attic/").await;
    let guest = next_json(&mut carol).await;
    assert!(
        guest["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("guest-")),
        "a connection without a name is a guest: {guest}"
    );

    alice
        .send(Message::text(r#"{"message": "hi bob"}"#))
        .await
        .expect("send");
    let said = json!({"type": "message", "name": "alice", "text": "hi bob"});
    assert_eq!(next_json(&mut alice).await, said, "the sender hears itself");
    assert_eq!(next_json(&mut bob).await, said);
    bob.send(Message::text("plain text")).await.expect("send");
    let said = json!({"type": "message", "name": "bob", "text": "plain text"});
    assert_eq!(next_json(&mut alice).await, said);
    assert_eq!(next_json(&mut bob).await, said);
    nothing_for(&mut carol, "carol, in another room").await;

    assert_eq!(close_with(&mut bob, 1000).await, 1000);
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "leave", "name": "bob"})
    );
    // The route is the tutorial's `\w+`: the plugin refuses what the
    // server's `{room_name}` lets through but the pattern does not match.
    let (status, body, _) = server.refused("/ws/chat/no-such-room/").await;
    assert_eq!(status, 404, "a room name outside \\w+: {body}");
}

/// The SDK's own unit tests (sdk/python/tests: routes read from routing,
/// what is refused and why, the connection side with a stand-in host),
/// run with the host's Python as the build runs routing.py.
#[test]
fn the_sdk_unit_tests_pass() {
    let venv = support::root().join("target/toolchains/venv/bin/python3");
    let python = if venv.is_file() {
        venv.into_os_string()
    } else {
        "python3".into()
    };
    let out = std::process::Command::new(&python)
        .args(["-B", "-m", "unittest", "discover", "-s", "sdk/python/tests"])
        .current_dir(support::root())
        .output()
        .unwrap_or_else(|e| panic!("running {python:?} (Python 3.9 or later is needed): {e}"));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sdk/python/tests failed:\n{text}");
    assert!(text.contains("OK"), "{text}");
}

/// Two servers on one Redis: a room's consumers on both hear each other's
/// `group_send`, and `channel_layer.send` reaches a `channel_name` on the
/// other server.
#[tokio::test]
async fn rooms_span_servers_through_redis() {
    let redis = crate::support::redis::RedisServer::start();
    let layer = redis.url();
    let dir = sdk::install_built("channels-test", "python-sdk");
    let one = sdk::start_one_at_a_time(dir.path(), &["--layer", &layer]);
    let two = sdk::start_one_at_a_time(dir.path(), &["--layer", &layer]);
    let mut a = one
        .wait_route("/chat/sync/span/", Duration::from_secs(300))
        .await;
    let mut b = two
        .wait_route("/chat/sync/span/", Duration::from_secs(300))
        .await;
    // Membership reaches the other server through the layer: say
    // something until b hears a's room.
    let start = std::time::Instant::now();
    let heard = loop {
        assert!(
            start.elapsed() < WAIT,
            "b never heard a's room; logs:\n{}\n{}",
            one.logs(),
            two.logs()
        );
        let word = format!("ping-{}", start.elapsed().as_millis());
        a.send(Message::text(word.clone())).await.expect("send");
        assert_eq!(recv(&mut a).await, Message::text(word));
        if let Ok(Some(Ok(m))) = tokio::time::timeout(QUIET, b.next()).await {
            break m;
        }
    };
    assert!(
        heard.to_text().is_ok_and(|t| t.starts_with("ping-")),
        "{heard:?}"
    );
    while let Ok(Some(Ok(_))) = tokio::time::timeout(QUIET, b.next()).await {}

    b.send(Message::text("from two")).await.expect("send");
    assert_eq!(recv(&mut b).await, Message::text("from two"));
    assert_eq!(recv(&mut a).await, Message::text("from two"));

    let address = roundtrip(&mut a, "whoami").await;
    b.send(Message::text(format!("tell {address} across")))
        .await
        .expect("send");
    assert_eq!(recv(&mut a).await, Message::text("across"));
    nothing_for(&mut b, "b, the sender of a send").await;
}
