//! Groups on one server (the in-memory layer): the chat plugin's rooms,
//! broadcast with and without the sender, membership that ends with the
//! connection, refusals as error values, and tables back to empty after.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{install, plugins_dir, recv, root, roundtrip, TestServer, Ws};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);
/// How long tables may take to empty after the clients leave.
const SETTLE: Duration = Duration::from_secs(10);

fn chat_server() -> (tempfile::TempDir, TestServer) {
    let dir = plugins_dir();
    install(dir.path(), "chat", "chat");
    std::fs::copy(
        root().join("plugins/chat/chat.toml"),
        dir.path().join("chat.toml"),
    )
    .expect("chat manifest");
    let server = TestServer::start(dir.path(), &[]);
    (dir, server)
}

async fn next_json(ws: &mut Ws) -> Value {
    match recv(ws).await {
        Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON from chat"),
        other => panic!("expected a JSON text message, got {other:?}"),
    }
}

async fn nothing_for(ws: &mut Ws, who: &str) {
    if let Ok(got) = tokio::time::timeout(QUIET, ws.next()).await {
        panic!("{who} should have received nothing, got {got:?}");
    }
}

async fn say(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

#[tokio::test]
async fn chat_rooms_relay_to_their_members_only() {
    let (_dir, server) = chat_server();
    let mut alice = server.connect("/chat/lobby?name=alice").await;
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "join", "name": "alice", "count": 1})
    );
    let mut bob = server.connect("/chat/lobby?name=bob").await;
    let joined = json!({"type": "join", "name": "bob", "count": 2});
    assert_eq!(next_json(&mut bob).await, joined);
    assert_eq!(next_json(&mut alice).await, joined);
    let mut carol = server.connect("/chat/attic?name=carol").await;
    assert_eq!(
        next_json(&mut carol).await,
        json!({"type": "join", "name": "carol", "count": 1})
    );

    say(&mut alice, "hi bob").await;
    let said = json!({"type": "message", "name": "alice", "text": "hi bob"});
    assert_eq!(next_json(&mut alice).await, said);
    assert_eq!(next_json(&mut bob).await, said);
    nothing_for(&mut carol, "carol, in another room").await;

    say(&mut bob, "/who").await;
    assert_eq!(
        next_json(&mut bob).await,
        json!({"type": "who", "count": 2, "names": ["alice", "bob"]})
    );
    nothing_for(&mut alice, "alice, who did not ask").await;

    let st = server.status().await;
    assert_eq!(st["connections"]["groups"], 2, "{st:#}");
    assert_eq!(st["plugins"]["chat"]["groups"], 2, "{st:#}");

    bob.close(None).await.expect("close");
    assert_eq!(
        next_json(&mut alice).await,
        json!({"type": "leave", "name": "bob", "count": 1})
    );
    drop((alice, carol));
    server
        .wait_status("every group gone once its members left", SETTLE, |s| {
            s["connections"]["groups"] == 0 && s["connections"]["registered"] == 0
        })
        .await;
}

#[tokio::test]
async fn broadcast_reaches_members_once_and_can_skip_the_sender() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    std::fs::write(dir.path().join("probe.toml"), "shards = 3\n").expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    // Three connections, one per shard: a group spans instances.
    let mut a = server.connect("/probe").await;
    let mut b = server.connect("/probe").await;
    let mut c = server.connect("/probe").await;
    for ws in [&mut a, &mut b] {
        assert_eq!(roundtrip(ws, "join room:1").await, "Ok(())");
    }
    // Joining twice is no error and does not make two memberships.
    assert_eq!(roundtrip(&mut a, "join room:1").await, "Ok(())");
    assert_eq!(roundtrip(&mut c, "count room:1").await, "Ok(2)");

    say(&mut c, "bcast room:1 to all").await;
    assert_eq!(recv(&mut c).await, Message::text("Ok(2)"), "queued for 2");
    assert_eq!(recv(&mut a).await, Message::text("to all"));
    assert_eq!(recv(&mut b).await, Message::text("to all"));

    say(&mut a, "bcast-others room:1 not to a").await;
    assert_eq!(recv(&mut a).await, Message::text("Ok(1)"));
    assert_eq!(recv(&mut b).await, Message::text("not to a"));
    nothing_for(&mut a, "the excluded sender").await;
    nothing_for(&mut c, "a non-member").await;

    // Members are listed by address, in the order they joined.
    let address = |reply: String| -> String {
        reply
            .strip_prefix("Ok(\"")
            .and_then(|r| r.strip_suffix("\")"))
            .unwrap_or_else(|| panic!("address reply {reply:?}"))
            .to_string()
    };
    let (addr_a, addr_b) = (
        address(roundtrip(&mut a, "address").await),
        address(roundtrip(&mut b, "address").await),
    );
    assert_ne!(addr_a, addr_b);
    assert_eq!(
        roundtrip(&mut c, "members room:1").await,
        format!("Ok([{addr_a:?}, {addr_b:?}])")
    );

    // Leaving, and closing, end a membership.
    assert_eq!(roundtrip(&mut b, "leave room:1").await, "Ok(())");
    assert_eq!(roundtrip(&mut b, "leave room:1").await, "Ok(())");
    assert_eq!(roundtrip(&mut c, "count room:1").await, "Ok(1)");
    a.close(None).await.expect("close");
    drop(a);
    let mut count = String::new();
    for _ in 0..100 {
        count = roundtrip(&mut c, "count room:1").await;
        if count == "Ok(0)" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count, "Ok(0)", "a closed connection leaves its groups");
}

#[tokio::test]
async fn bad_group_calls_are_error_values() {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/probe").await;
    for bad in ["join has space", "join ", "count é", "bcast a/b x"] {
        assert_eq!(
            roundtrip(&mut ws, bad).await,
            "Err(GroupError::InvalidName)",
            "{bad}"
        );
    }
    assert_eq!(
        roundtrip(&mut ws, &format!("join {}", "x".repeat(101))).await,
        "Err(GroupError::InvalidName)"
    );
    assert_eq!(
        roundtrip(&mut ws, "join-other 987654 room").await,
        "Err(GroupError::UnknownConnection)"
    );
    for i in 0..64 {
        assert_eq!(roundtrip(&mut ws, &format!("join g{i}")).await, "Ok(())");
    }
    assert_eq!(
        roundtrip(&mut ws, "join g64").await,
        "Err(GroupError::TooManyGroups(64))"
    );
    // The instance survived every refusal.
    assert_eq!(roundtrip(&mut ws, "still here").await, "still here");
    assert_eq!(server.status().await["plugins"]["probe"]["failures"], 0);
    drop(ws);
    server
        .wait_status("64 groups gone with their one member", SETTLE, |s| {
            s["connections"]["groups"] == 0
        })
        .await;
}

/// `wasmsock::testing` runs group logic without a server, on the same
/// in-memory layer.
#[tokio::test]
async fn the_harness_runs_group_logic_without_a_server() {
    use wasmsock::testing::TestPlugin;
    let manifest =
        std::fs::read_to_string(root().join("plugins/chat/chat.toml")).expect("chat manifest");
    let plugin = TestPlugin::options(crate::support::wasm("chat"))
        .manifest(manifest)
        .load()
        .await
        .expect("load chat");
    let wait = Duration::from_secs(5);
    let parse = |t: String| serde_json::from_str::<Value>(&t).expect("JSON from chat");
    let mut alice = plugin
        .connect("/chat/lobby?name=alice")
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    let mut bob = plugin
        .connect("/chat/lobby?name=bob")
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    let joined = json!({"type": "join", "name": "alice", "count": 1});
    assert_eq!(
        parse(alice.receive_text(wait).await.expect("alice joined")),
        joined
    );
    let joined = json!({"type": "join", "name": "bob", "count": 2});
    assert_eq!(
        parse(alice.receive_text(wait).await.expect("bob joined")),
        joined
    );
    assert_eq!(
        parse(bob.receive_text(wait).await.expect("bob joined")),
        joined
    );
    alice.send_text("hello").await.expect("send");
    let said = json!({"type": "message", "name": "alice", "text": "hello"});
    assert_eq!(parse(bob.receive_text(wait).await.expect("relayed")), said);
    assert_eq!(
        parse(alice.receive_text(wait).await.expect("relayed")),
        said
    );
    alice.disconnect(1000).await.expect("disconnect");
    let left = json!({"type": "leave", "name": "alice", "count": 1});
    assert_eq!(
        parse(bob.receive_text(wait).await.expect("alice left")),
        left
    );
}

/// `plugins/fanout`, the fan-out benchmark's plugin: each message reaches
/// every other member of the route's group once, as sent (text as text,
/// bytes as bytes), never the sender, and never another group.
#[tokio::test]
async fn the_fanout_plugin_relays_to_every_other_member_once() {
    use wasmsock::testing::TestPlugin;
    let manifest = std::fs::read_to_string(root().join("plugins/fanout/fanout.toml"))
        .expect("fanout manifest");
    let plugin = TestPlugin::options(crate::support::wasm("fanout"))
        .manifest(manifest)
        .load()
        .await
        .expect("load fanout");
    let wait = Duration::from_secs(5);
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            plugin
                .connect("/fanout/bench")
                .await
                .expect("connect")
                .accepted()
                .expect("accepted"),
        );
    }
    let mut elsewhere = plugin
        .connect("/fanout/other")
        .await
        .expect("connect")
        .accepted()
        .expect("accepted");
    members[0].send_text("one").await.expect("send");
    members[0].send_binary(vec![0u8, 255]).await.expect("send");
    for m in &mut members[1..] {
        assert_eq!(m.receive_text(wait).await.expect("text"), "one");
        assert_eq!(
            m.receive_binary(wait).await.expect("binary"),
            vec![0u8, 255]
        );
    }
    for m in &mut members {
        m.receive_nothing(QUIET)
            .await
            .expect("once, and never to the sender");
    }
    elsewhere
        .receive_nothing(QUIET)
        .await
        .expect("another group hears nothing");
}
