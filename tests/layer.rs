//! The channel layer: events and sends by address on one server, and groups
//! shared by several `wasmsock serve` processes through a real Redis
//! (`support::redis` starts `redis-server` on a free port): every member
//! gets every message once and in each sender's order, addresses reach
//! other hosts, counts agree, a killed host leaves the counts, and a Redis
//! restart never stops local delivery while the loss across hosts is
//! counted exactly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::redis::RedisServer;
use crate::support::{install, plugins_dir, recv, roundtrip, TestServer, Ws};

/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);

/// A host's members leave other hosts' counts within the layer's timeout
/// (3 s) plus a beat; this adds room for a busy machine.
const HOST_GONE: Duration = Duration::from_secs(8);

fn probe_dir() -> tempfile::TempDir {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    dir
}

async fn say(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

async fn text(ws: &mut Ws) -> String {
    match recv(ws).await {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Texts that arrive until none has for [`QUIET`].
async fn drain(ws: &mut Ws) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(QUIET, ws.next()).await {
        if let Message::Text(t) = m {
            got.push(t.as_str().to_owned());
        }
    }
    got
}

/// The address the probe reports for its connection, unquoted.
async fn address(ws: &mut Ws) -> String {
    let answer = roundtrip(ws, "address").await;
    answer
        .strip_prefix("Ok(\"")
        .and_then(|a| a.strip_suffix("\")"))
        .unwrap_or_else(|| panic!("an address, got {answer}"))
        .to_owned()
}

/// Ask `observer` for the group's count until it is `want`.
async fn wait_count(observer: &mut Ws, group: &str, want: u32, within: Duration) -> Duration {
    let start = Instant::now();
    let want = format!("Ok({want})");
    loop {
        let got = roundtrip(observer, &format!("count {group}")).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "count {group} stayed {got}, not {want}, for {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn join(ws: &mut Ws, group: &str) {
    assert_eq!(roundtrip(ws, &format!("join {group}")).await, "Ok(())");
}

#[tokio::test]
async fn events_and_sends_by_address_on_one_server() {
    let dir = probe_dir();
    install(dir.path(), "probe", "other");
    let server = TestServer::start(dir.path(), &[]);
    let mut a = server.connect("/probe").await;
    let mut b = server.connect("/probe").await;
    join(&mut a, "room").await;
    join(&mut b, "room").await;

    say(&mut a, "gsend room hello").await;
    let mut at_a = vec![text(&mut a).await, text(&mut a).await];
    at_a.sort();
    assert_eq!(
        at_a,
        ["Ok(2)", "event room hello"],
        "the sender is a member too"
    );
    assert_eq!(text(&mut b).await, "event room hello");

    let to_b = address(&mut b).await;
    assert_eq!(
        roundtrip(&mut a, &format!("msg-to {to_b} straight")).await,
        "Ok(true)"
    );
    assert_eq!(
        text(&mut b).await,
        "straight",
        "a message goes to the socket"
    );
    assert_eq!(
        roundtrip(&mut a, &format!("event-to {to_b} poke")).await,
        "Ok(true)"
    );
    assert_eq!(
        text(&mut b).await,
        "event - poke",
        "an event goes to on-event"
    );

    // Another plugin's connection is out of reach, address or not.
    let mut stranger = server.connect("/other").await;
    let to_stranger = address(&mut stranger).await;
    for cmd in ["msg-to", "event-to"] {
        assert_eq!(
            roundtrip(&mut a, &format!("{cmd} {to_stranger} hi")).await,
            "Ok(false)"
        );
    }
    assert!(drain(&mut stranger).await.is_empty());

    assert_eq!(
        roundtrip(&mut a, "event-to not-an-address x").await,
        "Err(ChannelError::InvalidAddress)"
    );
    assert_eq!(
        roundtrip(&mut a, "gsend bad/name x").await,
        "Err(ChannelError::InvalidName)"
    );
    b.close(None).await.expect("close b");
    drop(b);
    // A closed connection's address reaches no one.
    let start = Instant::now();
    loop {
        let got = roundtrip(&mut a, &format!("msg-to {to_b} late")).await;
        if got == "Ok(false)" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still {got}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = server.status().await;
    assert_eq!(status["layer"]["kind"], "memory");
    assert_eq!(status["layer"]["events_unhandled"], 0);
}

#[tokio::test]
async fn three_hosts_share_groups_through_redis() {
    let redis = RedisServer::start();
    let layer = redis.url();
    let dir = probe_dir();
    let hosts: Vec<TestServer> = (0..3)
        .map(|_| TestServer::start(dir.path(), &["--layer", &layer]))
        .collect();
    let mut clients = Vec::new();
    let mut observers = Vec::new();
    for host in &hosts {
        let mut c = host.connect("/probe").await;
        join(&mut c, "room").await;
        clients.push(c);
        observers.push(host.connect("/probe").await);
    }
    for o in &mut observers {
        wait_count(o, "room", 3, Duration::from_secs(10)).await;
    }
    let addresses = [
        address(&mut clients[0]).await,
        address(&mut clients[1]).await,
        address(&mut clients[2]).await,
    ];
    let listed = roundtrip(&mut observers[0], "members room").await;
    for a in &addresses {
        assert!(listed.contains(a.as_str()), "{a} missing from {listed}");
    }

    // Two senders on two hosts, 50 messages each, sent without waiting.
    const N: usize = 50;
    for i in 0..N {
        say(&mut clients[0], &format!("bcast-others room a-{i}")).await;
        say(&mut clients[1], &format!("bcast-others room b-{i}")).await;
    }
    let mut seen: Vec<HashMap<char, Vec<usize>>> = Vec::new();
    for (k, c) in clients.iter_mut().enumerate() {
        let expect = if k == 2 { 2 * N } else { N };
        let mut got: HashMap<char, Vec<usize>> = HashMap::new();
        let mut count = 0;
        let start = Instant::now();
        while count < expect {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "client {k} got {count} of {expect}"
            );
            let t = text(c).await;
            if let Some((from, i)) = t.split_once('-') {
                let from = from.chars().next().expect("sender letter");
                got.entry(from)
                    .or_default()
                    .push(i.parse().expect("a number"));
                count += 1;
            }
        }
        let extra: Vec<String> = drain(c)
            .await
            .into_iter()
            .filter(|t| t.contains('-'))
            .collect();
        assert!(extra.is_empty(), "client {k} got more than once: {extra:?}");
        seen.push(got);
    }
    let in_order: Vec<usize> = (0..N).collect();
    assert_eq!(
        seen[0][&'b'], in_order,
        "host 1 gets host 2's messages in order"
    );
    assert_eq!(
        seen[1][&'a'], in_order,
        "host 2 gets host 1's messages in order"
    );
    assert_eq!(seen[2][&'a'], in_order);
    assert_eq!(seen[2][&'b'], in_order);
    assert!(!seen[0].contains_key(&'a'), "exclude leaves the sender out");

    // Addresses reach a connection on another host: a message, an event.
    let (to_b, to_c) = (addresses[1].clone(), addresses[2].clone());
    assert_eq!(
        roundtrip(&mut clients[0], &format!("msg-to {to_b} direct")).await,
        "Ok(true)"
    );
    assert_eq!(text(&mut clients[1]).await, "direct");
    assert_eq!(
        roundtrip(&mut clients[0], &format!("event-to {to_c} ev")).await,
        "Ok(true)"
    );
    assert_eq!(text(&mut clients[2]).await, "event - ev");

    // Events to the group reach every member's on-event on every host.
    say(&mut clients[0], "gsend room hi").await;
    let mut at_sender = vec![text(&mut clients[0]).await, text(&mut clients[0]).await];
    at_sender.sort();
    assert_eq!(at_sender, ["Ok(1)", "event room hi"], "one local member");
    assert_eq!(text(&mut clients[1]).await, "event room hi");
    assert_eq!(text(&mut clients[2]).await, "event room hi");

    // A host killed without a word leaves every count and list in time.
    let mut hosts = hosts;
    let killed = hosts.pop().expect("three hosts");
    drop(killed);
    let took = wait_count(&mut observers[0], "room", 2, HOST_GONE).await;
    wait_count(&mut observers[1], "room", 2, HOST_GONE).await;
    let listed = roundtrip(&mut observers[0], "members room").await;
    assert!(
        !listed.contains(to_c.as_str()),
        "{to_c} still listed after {took:?}"
    );
    assert_eq!(
        roundtrip(&mut clients[0], &format!("msg-to {to_c} x")).await,
        "Ok(false)",
        "a gone host's addresses reach no one"
    );

    // Everyone leaves: groups and subscriptions go back to none.
    drop(clients);
    drop(observers);
    for host in &hosts {
        host.wait_status(
            "no groups and no subscriptions",
            Duration::from_secs(10),
            |s| s["connections"]["groups"] == 0 && s["layer"]["subscriptions"] == 0,
        )
        .await;
        let s = host.status().await;
        assert_eq!(s["layer"]["kind"], "redis");
        assert_eq!(s["layer"]["gaps"], 0, "{s}");
    }
}

/// Broadcast `m-I` to the others in `room`, counting it.
async fn send(ws: &mut Ws, i: usize, sent: &mut usize) {
    *sent += 1;
    say(ws, &format!("bcast-others room m-{i}")).await;
}

#[tokio::test]
async fn a_redis_restart_stops_no_local_delivery_and_counts_what_it_lost() {
    let mut redis = RedisServer::start();
    let layer = redis.url();
    let dir = probe_dir();
    let one = TestServer::start(dir.path(), &["--layer", &layer]);
    let two = TestServer::start(dir.path(), &["--layer", &layer]);
    let mut sender = one.connect("/probe").await;
    let mut local = one.connect("/probe").await;
    let mut remote = two.connect("/probe").await;
    let mut observer = two.connect("/probe").await;
    for ws in [&mut sender, &mut local, &mut remote] {
        join(ws, "room").await;
    }
    wait_count(&mut observer, "room", 3, Duration::from_secs(10)).await;

    let mut sent = 0usize;
    send(&mut sender, 0, &mut sent).await;
    assert_eq!(text(&mut local).await, "m-0");
    assert_eq!(text(&mut remote).await, "m-0");

    redis.kill();
    for i in 1..=5 {
        send(&mut sender, i, &mut sent).await;
        assert_eq!(
            text(&mut local).await,
            format!("m-{i}"),
            "local delivery goes on"
        );
    }
    redis.restart();
    // Membership comes back on both hosts.
    wait_count(&mut observer, "room", 3, Duration::from_secs(15)).await;
    // Send until one arrives across; what did not arrive must be counted.
    let mut at_remote = Vec::new();
    let mut gaps = 0u64;
    let mut i = 6;
    let start = Instant::now();
    'across: loop {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "nothing crossed after the restart"
        );
        send(&mut sender, i, &mut sent).await;
        assert_eq!(text(&mut local).await, format!("m-{i}"));
        i += 1;
        while let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(200), remote.next()).await
        {
            let t = t.as_str().to_owned();
            if let Some(n) = t.strip_prefix("gap room ") {
                gaps += n.parse::<u64>().expect("a count");
            } else {
                at_remote.push(t);
                break 'across;
            }
        }
    }
    for t in drain(&mut remote).await {
        match t.strip_prefix("gap room ") {
            Some(n) => gaps += n.parse::<u64>().expect("a count"),
            None => at_remote.push(t),
        }
    }
    // m-0 arrived before the cut.
    let lost = (sent - 1 - at_remote.len()) as u64;
    assert!(lost >= 5, "the five sent while Redis was down are lost");
    assert_eq!(
        gaps, lost,
        "gap notices count exactly what never arrived; got {at_remote:?}"
    );
    let s = two.status().await;
    assert_eq!(s["layer"]["gaps"], lost, "{s}");
    assert_eq!(s["layer"]["losses"][0]["group"], "room", "{s}");
    assert_eq!(s["layer"]["losses"][0]["gaps"], lost, "{s}");
    assert_eq!(s["layer"]["connected"], true);
    let s = one.status().await;
    assert!(s["layer"]["unpublished"].as_u64().unwrap_or(0) >= 5, "{s}");
}
