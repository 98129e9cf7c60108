//! Groups under bounded load: members joining and leaving across two
//! servers on a real Redis while messages flow (each one who was a member
//! for a message's whole flight got it), and one reader that stops reading
//! in a group of 1,000 (the others get everything, its losses are counted
//! exactly). Loops are bounded in count and time and stay on loopback.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::support::redis::RedisServer;
use crate::support::{install, plugins_dir, roundtrip, TestServer, Ws};

/// Messages the sender broadcasts while members churn.
const CHURN_MESSAGES: usize = 150;
/// Clients joining and leaving.
const CHURNERS: usize = 200;

fn probe_dir() -> tempfile::TempDir {
    let dir = plugins_dir();
    install(dir.path(), "probe", "probe");
    dir
}

/// The number in a broadcast `m-N`, if this is one.
fn message_number(text: &str) -> Option<usize> {
    text.strip_prefix("m-")?.parse().ok()
}

/// Read texts until `until` says stop or `within` runs out, noting when
/// each `m-N` arrived.
async fn collect(
    ws: &mut Ws,
    within: Duration,
    mut until: impl FnMut(&str) -> bool,
) -> Vec<(String, Instant)> {
    let mut got = Vec::new();
    let end = Instant::now() + within;
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end.into(), ws.next()).await {
        if let Message::Text(t) = m {
            let t = t.as_str().to_owned();
            let stop = until(&t);
            got.push((t, Instant::now()));
            if stop {
                break;
            }
        }
    }
    got
}

/// One membership of a churning client: from the join's answer to the
/// moment it asked to leave, and the messages that arrived meanwhile.
struct Stay {
    joined: Instant,
    leaving: Instant,
    got: HashSet<usize>,
}

#[tokio::test]
async fn members_who_stay_through_a_message_get_it_while_others_churn() {
    let redis = RedisServer::start();
    let layer = redis.url();
    let dir = probe_dir();
    let hosts = [
        TestServer::start(dir.path(), &["--layer", &layer]),
        TestServer::start(dir.path(), &["--layer", &layer]),
    ];
    // A steady member on each host tells when a message has landed.
    let mut steady = Vec::new();
    for host in &hosts {
        let mut ws = host.connect("/probe").await;
        assert_eq!(roundtrip(&mut ws, "join room").await, "Ok(())");
        steady.push(ws);
    }
    let mut observer = hosts[0].connect("/probe").await;
    let start = Instant::now();
    while roundtrip(&mut observer, "count room").await != "Ok(2)" {
        if start.elapsed() > Duration::from_secs(10) {
            panic!(
                "the hosts never agreed on 2 members:\n{}",
                report(&hosts).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A host takes a group's frames once its subscription is in place,
    // which trails the join it announced (docs/groups.md): wait until the
    // second host's member hears the first host's broadcasts.
    let start = Instant::now();
    loop {
        assert_eq!(roundtrip(&mut observer, "bcast room warm").await, "Ok(1)");
        let heard = collect(&mut steady[1], Duration::from_millis(200), |t| t == "warm").await;
        if heard.iter().any(|(t, _)| t == "warm") {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            panic!(
                "the second host never heard the first host's broadcasts:\n{}",
                report(&hosts).await
            );
        }
    }

    // Churners: each joins and leaves three times, staying 20-120 ms.
    let stays: Arc<Mutex<Vec<Stay>>> = Arc::default();
    let mut tasks = Vec::new();
    for k in 0..CHURNERS {
        let url = hosts[k % 2].url("/probe");
        let stays = stays.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("churner connects");
            for round in 0..3u64 {
                ws.send(Message::text("join room")).await.expect("join");
                let mut got = HashSet::new();
                let answer = collect(&mut ws, Duration::from_secs(10), |t| t == "Ok(())").await;
                let joined = answer.last().map(|(_, at)| *at).expect("join answered");
                got.extend(answer.iter().filter_map(|(t, _)| message_number(t)));
                let stay = Duration::from_millis(20 + (k as u64 * 37 + round * 53) % 100);
                let seen = collect(&mut ws, stay, |_| false).await;
                got.extend(seen.iter().filter_map(|(t, _)| message_number(t)));
                let leaving = Instant::now();
                ws.send(Message::text("leave room")).await.expect("leave");
                let rest = collect(&mut ws, Duration::from_secs(10), |t| t == "Ok(())").await;
                assert!(rest.iter().any(|(t, _)| t == "Ok(())"), "leave answered");
                got.extend(rest.iter().filter_map(|(t, _)| message_number(t)));
                stays.lock().await.push(Stay {
                    joined,
                    leaving,
                    got,
                });
            }
        }));
    }

    // The steady members read as messages come, noting when each landed.
    let steady_readers: Vec<_> = steady
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut n = 0;
                collect(&mut ws, Duration::from_secs(60), |t| {
                    n += usize::from(message_number(t).is_some());
                    n == CHURN_MESSAGES
                })
                .await
            })
        })
        .collect();
    // The sender, on the first host, broadcasts every 10 ms meanwhile.
    let mut sender = hosts[0].connect("/probe").await;
    let mut sent_at = Vec::new();
    for i in 0..CHURN_MESSAGES {
        sent_at.push(Instant::now());
        sender
            .send(Message::text(format!("bcast-others room m-{i}")))
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // When the last steady member had each one.
    let mut landed = vec![None::<Instant>; CHURN_MESSAGES];
    for (h, reader) in steady_readers.into_iter().enumerate() {
        let got = reader.await.expect("steady reader ran");
        let numbers: Vec<usize> = got.iter().filter_map(|(t, _)| message_number(t)).collect();
        if numbers != (0..CHURN_MESSAGES).collect::<Vec<_>>() {
            panic!(
                "the steady member on host {h} got {} of {CHURN_MESSAGES} (first {:?}, last {:?}); the hosts:\n{}",
                numbers.len(),
                numbers.first(),
                numbers.last(),
                report(&hosts).await
            );
        }
        for (t, at) in &got {
            if let Some(i) = message_number(t) {
                landed[i] = Some(landed[i].map_or(*at, |l: Instant| l.max(*at)));
            }
        }
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("churners finish")
            .expect("churner ran");
    }
    let stays = stays.lock().await;
    assert_eq!(stays.len(), 3 * CHURNERS);
    let (mut owed, mut missed) = (0, Vec::new());
    for (s, stay) in stays.iter().enumerate() {
        for i in 0..CHURN_MESSAGES {
            let Some(landed) = landed[i] else { continue };
            if stay.joined < sent_at[i] && landed < stay.leaving {
                owed += 1;
                if !stay.got.contains(&i) {
                    missed.push((s, i));
                }
            }
        }
    }
    if !missed.is_empty() {
        panic!(
            "{} (stay, message) pairs where the stay was a member from before the message was sent until after it landed, and missed it, e.g. {:?}; the hosts:\n{}",
            missed.len(),
            &missed[..missed.len().min(5)],
            report(&hosts).await
        );
    }
    assert!(
        owed > 100,
        "the test checked only {owed} (stay, message) pairs"
    );
    for host in &hosts {
        if host.status().await["layer"]["gaps"] != 0 {
            panic!("frames were lost between hosts:\n{}", report(&hosts).await);
        }
    }
}

/// Each host's layer figures and the log lines that tell what its layer
/// did: what a failure needs to say.
async fn report(hosts: &[TestServer]) -> String {
    let mut out = String::new();
    for (h, host) in hosts.iter().enumerate() {
        let status = host.status().await;
        out.push_str(&format!("host {h}: layer {}\n", status["layer"]));
        for line in host
            .logs()
            .lines()
            .filter(|l| l.contains("channel layer") || l.contains("WARN") || l.contains("ERROR"))
        {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

async fn server_with(dir: &Path, config: &str) -> TestServer {
    let cfg = dir.join("wasmsock.toml");
    std::fs::write(&cfg, config).expect("config");
    TestServer::start(dir, &["--config", cfg.to_str().expect("utf-8")])
}

/// A client whose socket holds next to nothing when it does not read, so
/// that its server-side queue fills quickly.
async fn tiny_reader(server: &TestServer, path: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let addr = server.addr.parse().expect("address");
    let stream = socket.connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(
        server.url(path),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("upgrade");
    ws
}

#[tokio::test]
async fn a_reader_that_stops_loses_only_its_own_messages_and_each_is_counted() {
    // The slow reader, 998 reading members and the sender: 1,000.
    const MEMBERS: usize = 1000;
    const MESSAGES: usize = 300;
    let fds = crate::support::raise_fd_limit();
    assert!(
        fds > MEMBERS as u64 + 200,
        "needs {} file descriptors, the hard limit is {fds}",
        MEMBERS + 200
    );
    let dir = probe_dir();
    let server = server_with(
        dir.path(),
        "[limits]\noutbound_queue_bytes = 65536\ngroup_queue_full = \"drop\"\n",
    )
    .await;
    let mut slow = tiny_reader(&server, "/probe").await;
    assert_eq!(roundtrip(&mut slow, "join big").await, "Ok(())");
    let slow_address = roundtrip(&mut slow, "address").await;
    let slow_address = slow_address
        .strip_prefix("Ok(\"")
        .and_then(|a| a.strip_suffix("\")"))
        .expect("an address")
        .to_owned();
    let mut readers = Vec::new();
    for _ in 2..MEMBERS {
        let mut ws = server.connect("/probe").await;
        assert_eq!(roundtrip(&mut ws, "join big").await, "Ok(())");
        // Every reading member reads from now on, as fast as it can.
        readers.push(tokio::spawn(async move {
            let mut n = 0;
            let got = collect(&mut ws, Duration::from_secs(120), |t| {
                n += usize::from(t.starts_with("m-"));
                n == MESSAGES
            })
            .await;
            let numbers: Vec<usize> = got
                .iter()
                .filter_map(|(t, _)| t.split(' ').next().and_then(message_number))
                .collect();
            numbers == (0..MESSAGES).collect::<Vec<_>>()
        }));
    }
    // The sender joins last, so its own copy of a broadcast is queued after
    // every other member's: it sends the next one once it has that copy.
    let mut sender = server.connect("/probe").await;
    assert_eq!(roundtrip(&mut sender, "join big").await, "Ok(())");
    assert_eq!(
        roundtrip(&mut sender, "count big").await,
        format!("Ok({MEMBERS})")
    );
    // First fill what the kernel holds for the slow reader: messages of
    // 32 KiB sent to it alone, each given a moment to be written, until
    // eight in a row are lost (counted): its queue is full and stays full.
    let fill = "f".repeat(32 << 10);
    let (mut fills, mut lost_in_a_row, mut drops) = (0u64, 0, 0);
    while lost_in_a_row < 8 {
        assert!(
            fills < 1000,
            "1,000 fills of 32 KiB and the queue is not full"
        );
        let answer = roundtrip(&mut sender, &format!("msg-to {slow_address} {fill}")).await;
        assert_eq!(answer, "Ok(true)");
        fills += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = server.status().await["plugins"]["probe"]["group_drops"]
            .as_u64()
            .expect("group_drops");
        lost_in_a_row = if now > drops { lost_in_a_row + 1 } else { 0 };
        drops = now;
    }
    let pad = "x".repeat(1024);
    for i in 0..MESSAGES {
        let mine = format!("m-{i} {pad}");
        sender
            .send(Message::text(format!("bcast big {mine}")))
            .await
            .expect("send");
        let got = collect(&mut sender, Duration::from_secs(30), |t| t == mine).await;
        assert!(
            got.iter().any(|(t, _)| *t == mine),
            "the sender's own copy of m-{i}"
        );
    }
    let mut complete = 0;
    for r in readers {
        complete += usize::from(r.await.expect("reader ran"));
    }
    assert_eq!(
        complete,
        MEMBERS - 2,
        "every reading member got all {MESSAGES}, in order"
    );
    // Nothing is sent any more: the losses are final. The slow reader now
    // reads what it was given, until that and the losses make up all that
    // was sent to it (bounded: a busy machine drains a tiny socket slowly),
    // then a little longer, to see that nothing more comes.
    let status = server.status().await;
    let drops = status["plugins"]["probe"]["group_drops"]
        .as_u64()
        .expect("group_drops");
    let owed = MESSAGES as u64 + fills;
    let mut left = owed.saturating_sub(drops);
    let mut got = collect(&mut slow, Duration::from_secs(60), |t| {
        left = left.saturating_sub(u64::from(t.starts_with("m-") || t.starts_with('f')));
        left == 0
    })
    .await;
    got.extend(collect(&mut slow, Duration::from_millis(300), |_| false).await);
    let received = got.iter().filter(|(t, _)| t.starts_with("m-")).count();
    let filled = got.iter().filter(|(t, _)| t.starts_with('f')).count();
    assert!(
        drops > 0,
        "the slow reader's queue never filled (it got {received}): {status}"
    );
    assert!(received < MESSAGES, "the slow reader lost group messages");
    assert_eq!(
        (received + filled) as u64 + drops,
        owed,
        "what it got plus what was counted as lost is what was sent to it"
    );
    assert_eq!(status["layer"]["message_drops"], drops);
    let losses = &status["layer"]["losses"];
    assert_eq!(losses[0]["plugin"], "probe", "{losses}");
    assert_eq!(losses[0]["group"], "big");
    assert_eq!(
        losses[0]["message_drops"],
        (MESSAGES - received) as u64,
        "the group's own count is its messages the slow reader missed"
    );
    assert_eq!(
        roundtrip(&mut slow, "count big").await,
        "Ok(2)",
        "under `drop` the slow reader stays a member (with the sender; the readers have left)"
    );
}
