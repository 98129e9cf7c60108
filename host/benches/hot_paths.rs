//! Micro-benchmarks of the hot paths the host owns: route matching, scope
//! building, and a host→guest call with a small message (direct, and through
//! a shard's inbox and a connection's outbox as the server does it).
//!
//! Group fan-out (one message to many connections) is not benchmarked:
//! groups do not exist in wasmsock yet.
//!
//! Run: `cargo bench -p wasmsock --bench hot_paths`. The guest benchmarks
//! use the echo plugin, built on first use into target/wasm like the tests
//! do (needs the wasm32-wasip2 target).

#![allow(missing_docs)]
#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use wasmsock::config::{InstanceMode, Manifest, PluginDefaults};
use wasmsock::internals::{
    build_scope, compile, spawn, Batch, CallBudget, ConnMap, ConnectOutcome, Connections,
    HostState, LogBudget, LogTags, Message, Outbound, Outbox, PluginExports, Request, RequestHead,
    Served, ShardSpec, Timers, VersionBase,
};
use wasmsock::routing::{RoutePattern, RouteTable};
use wasmsock::runtime::WasmEngine;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The echo plugin, built with the plugins' own workspace if missing.
fn echo_wasm() -> Vec<u8> {
    let path = root().join("target/wasm/wasm32-wasip2/release/echo.wasm");
    if !path.exists() {
        let status = std::process::Command::new("cargo")
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root().join("plugins/Cargo.toml"))
            .env("CARGO_TARGET_DIR", root().join("target/wasm"))
            .status()
            .unwrap();
        assert!(status.success(), "building the echo plugin failed");
    }
    std::fs::read(path).unwrap()
}

// ---------------------------------------------------------------- routing

fn routes(n: usize) -> RouteTable<String> {
    // The shapes a real deployment has: a few literal routes, parameterised
    // ones, and a nested admin route per app.
    let mut entries = Vec::new();
    for i in 0..n {
        let text = match i % 3 {
            0 => format!("/app{i}"),
            1 => format!("/app{i}/{{room}}"),
            _ => format!("/app{i}/{{room}}/admin"),
        };
        entries.push((RoutePattern::parse(&text).unwrap(), Arc::new(text)));
    }
    let (table, conflicts) = RouteTable::build(entries);
    assert!(conflicts.is_empty());
    table
}

fn bench_routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_lookup");
    for n in [1usize, 10, 100] {
        let table = routes(n);
        // The last-sorted literal and a parameterised route deep in the table.
        let literal = format!("/app{}", (n - 1) / 3 * 3);
        let param = format!("/app{}/lobby", if n > 1 { 1 } else { 0 });
        g.bench_with_input(BenchmarkId::new("literal", n), &literal, |b, p| {
            b.iter(|| table.lookup(std::hint::black_box(p)).unwrap())
        });
        if n > 1 {
            g.bench_with_input(BenchmarkId::new("param", n), &param, |b, p| {
                b.iter(|| table.lookup(std::hint::black_box(p)).unwrap())
            });
        }
        g.bench_with_input(BenchmarkId::new("miss", n), "/nowhere/at/all", |b, p| {
            b.iter(|| table.lookup(std::hint::black_box(p)).is_none())
        });
    }
    g.finish();
}

// ---------------------------------------------------------------- scope

/// What a browser sends with an upgrade: ~12 headers, two cookies, a
/// subprotocol list.
fn browser_head() -> RequestHead {
    let headers = [
        ("host", "example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        ("accept", "*/*"),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        ("sec-websocket-version", "13"),
        ("origin", "https://example.com"),
        ("sec-websocket-extensions", "permessage-deflate"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-protocol", "chat.v2, chat.v1"),
        ("cookie", "sessionid=abc123def456; csrftoken=xyz789"),
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
    ];
    RequestHead {
        method: "GET".into(),
        path: "/chat/lobby".into(),
        query: "token=abc".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        rest: Vec::new(),
    }
}

fn bench_scope(c: &mut Criterion) {
    let head = browser_head();
    let peer: SocketAddr = "127.0.0.1:54321".parse().unwrap();
    let params = vec![("room".to_string(), "lobby".to_string())];
    c.bench_function("scope_build/browser_upgrade", |b| {
        b.iter(|| {
            build_scope(
                std::hint::black_box(&head),
                "/chat/{room}",
                params.clone(),
                peer,
            )
        })
    });
}

// ---------------------------------------------------------------- guest calls

struct Echo {
    engine: WasmEngine,
    spec: Arc<ShardSpec>,
}

fn echo_plugin() -> Echo {
    let engine = WasmEngine::new(None).unwrap();
    let compiled = compile(&engine, InstanceMode::Shared, &echo_wasm(), None).unwrap();
    let manifest = Manifest::defaults("echo", &PluginDefaults::default()).unwrap();
    let spec = Arc::new(ShardSpec::new(
        engine.clone(),
        compiled.pre,
        VersionBase::new("echo".into(), 0, &manifest, Connections::new()),
        &manifest,
        16 << 20,
    ));
    Echo { engine, spec }
}

fn small_message() -> Message {
    Message::Text("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into())
}

fn bench_guest(c: &mut Criterion) {
    let echo = echo_plugin();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Direct: one `on-message` call on an instance, the plugin's `send`
    // landing in an outbox (drained every 512 calls so it never fills).
    let mut g = c.benchmark_group("guest_call");
    g.throughput(Throughput::Elements(1));
    let outbox = Arc::new(Outbox::new(1024, 32 << 20));
    let state = HostState {
        plugin: "echo".into(),
        config: Arc::new(BTreeMap::new()),
        conns: ConnMap::from_iter([(
            1u64,
            Served {
                outbox: outbox.clone(),
                kept: Default::default(),
            },
        )]),
        attachment_max: 64 << 10,
        timers: Timers::new(1024),
        connections: Connections::new(),
        max_message_size: 16 << 20,
        takes_events: false,
        budget: CallBudget::start(Duration::from_secs(3600)),
        limits: Default::default(),
        log_budget: Arc::new(LogBudget::new(
            "echo".into(),
            1000,
            echo.spec.base.health.clone(),
        )),
        log_tags: Arc::new(LogTags::new("echo".into(), 1)),
        wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
        table: Default::default(),
    };
    let mut store = echo.engine.store(state, 64 << 20);
    let exports = rt.block_on(echo.spec.pre.instantiate(&mut store)).unwrap();
    let PluginExports::Async(exports) = exports else {
        panic!("a shared shard's exports are called asynchronously");
    };
    let handler = exports.handler().unwrap();
    let msg = small_message();
    let mut batch = Batch::default();
    let mut n = 0u32;
    g.bench_function("on_message_64B_direct", |b| {
        b.iter(|| {
            rt.block_on(handler.call_on_message(&mut store, 1, &msg))
                .unwrap();
            n += 1;
            if n % 512 == 0 {
                outbox.take_now(&mut batch);
                batch.items.clear();
            }
        })
    });

    // Through a shard: the connection task's `Request::Message` into the
    // shard's inbox, the call, and the echo taken from the outbox: what one
    // message costs the host between the socket reader and the writer.
    let shard = rt.block_on(async {
        let handle = spawn(echo.spec.clone(), None);
        let (tx, rx) = tokio::sync::oneshot::channel();
        handle
            .send(Request::Connect {
                conn: 7,
                scope: Box::new(build_scope(
                    &browser_head(),
                    "/echo",
                    Vec::new(),
                    "127.0.0.1:1".parse().unwrap(),
                )),
                identity: None,
                outbox: outbox.clone(),
                reply: tx,
            })
            .await
            .unwrap();
        assert!(matches!(rx.await.unwrap(), ConnectOutcome::Accept(_)));
        handle
    });
    outbox.take_now(&mut batch);
    batch.items.clear();
    g.bench_function("on_message_64B_via_shard", |b| {
        b.iter(|| {
            rt.block_on(async {
                shard
                    .send(Request::Message {
                        conn: 7,
                        message: small_message(),
                    })
                    .await
                    .unwrap();
                outbox.take(&mut batch).await;
            });
            assert!(matches!(batch.items.pop(), Some(Outbound::Text(_))));
            batch.items.clear();
        })
    });
    g.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_routing, bench_scope, bench_guest
);
criterion_main!(benches);
