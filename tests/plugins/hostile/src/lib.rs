//! A consumer that misbehaves when asked, so the tests can show that the
//! host contains it. Every text message is a command; its answer (when the
//! plugin survives) is sent back as text. Unknown text is echoed.
//!
//! Commands that break the instance:
//! - `loop`: spin forever;
//! - `panic`, `unreachable`, `divide N` (by zero traps): trap;
//! - `grow-vec`: push 1 MiB blocks onto a vector until allocation fails.
//!
//! Commands the host answers with error values or caps:
//! - `memory-grow`: `memory.grow` one page at a time until refused;
//! - `log-flood KIB` / `stdout-flood KIB` / `debug-flood KIB`: log that many
//!   KiB in 64 KiB lines (at warn, on stdout, at debug);
//! - `send-flood`: send 1 KiB messages to this connection until refused;
//! - `send-big BYTES`, `send-to ID`, `close CODE`: one import call, answered
//!   with its result;
//! - `wasi`: try the filesystem, environment, clocks, random and sockets and
//!   answer one `name: outcome` line each. Config `file` names a file to
//!   read, `dir` a folder to list and write in, `env` a variable to read,
//!   `tcp` an address to connect to.
//!
//! `on-disconnect CMD` runs CMD in this connection's on-disconnect; the
//! query `connect=CMD` runs CMD in on-connect. Every on-disconnect that
//! completes is logged as `hostile disconnect CONN code=C`.

wit_bindgen::generate!({ path: "../../../wit", world: "consumer" });

use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;

use exports::wasmsock::plugin::handler::Guest;
use wasmsock::plugin::types::{Accept, CloseInfo, ConnectionId, Message, Reject, Scope};
use wasmsock::plugin::{config, connection, log};

struct Hostile;

thread_local! {
    static ON_DISCONNECT: RefCell<HashMap<u64, String>> = RefCell::default();
}

/// Recurse without end (each frame keeps a little on the stack), until
/// the wasm stack is exhausted.
fn recurse(depth: u64) -> u64 {
    let pad = black_box([depth; 8]);
    recurse(black_box(depth + 1)).wrapping_add(pad[7])
}

/// Run one command; `None` when there is nothing to answer.
fn run(conn: ConnectionId, command: &str) -> Option<String> {
    let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
    match verb {
        "loop" => {
            let mut n = 0u64;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        // Waits in WASI (a monotonic-clock pollable), where no epoch tick
        // can interrupt guest code: the host bounds the wait itself.
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(30));
            Some("woke".to_string())
        }
        "panic" => panic!("hostile plugin panics on purpose"),
        "recurse" => Some(format!("{}", recurse(black_box(0)))),
        "unreachable" => core::arch::wasm32::unreachable(),
        "divide" => {
            let d: i32 = black_box(arg.parse().unwrap_or(0));
            Some(format!("{}", black_box(100) / d))
        }
        "grow-vec" => {
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            loop {
                blocks.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        "memory-grow" => {
            let mut pages = 0usize;
            while core::arch::wasm32::memory_grow(0, 1) != usize::MAX {
                pages += 1;
            }
            let total = core::arch::wasm32::memory_size(0);
            Some(format!(
                "memory.grow refused after {pages} more pages; memory is {} MiB",
                total * 64 / 1024
            ))
        }
        "log-flood" | "stdout-flood" | "debug-flood" => {
            let kib: usize = arg.parse().unwrap_or(1024);
            let line = "x".repeat(64 << 10);
            let lines = kib.div_ceil(64);
            for _ in 0..lines {
                if verb == "log-flood" {
                    log::log(log::Level::Warn, &line);
                } else if verb == "debug-flood" {
                    log::log(log::Level::Debug, &line);
                } else {
                    println!("{line}");
                }
            }
            Some(format!("flooded {lines} lines"))
        }
        "send-flood" => {
            let block = Message::Binary(vec![7u8; 1024]);
            let mut sent = 0u64;
            let outcome = loop {
                if let Err(e) = connection::send(conn, &block) {
                    break e;
                }
                sent += 1;
            };
            log::log(
                log::Level::Info,
                &format!("send-flood stopped after {sent} sends: {outcome:?}"),
            );
            None
        }
        "send-big" => {
            let len: usize = arg.parse().unwrap_or(0);
            Some(format!(
                "{:?}",
                connection::send(conn, &Message::Binary(vec![0u8; len]))
            ))
        }
        "send-to" => {
            let target: u64 = arg.parse().unwrap_or(u64::MAX);
            Some(format!(
                "{:?}",
                connection::send(target, &Message::Text("from hostile".into()))
            ))
        }
        "close" => {
            let code: u16 = arg.parse().unwrap_or(0);
            Some(format!("{:?}", connection::close(conn, code, "")))
        }
        "wasi" => Some(probe_wasi()),
        "on-disconnect" => {
            ON_DISCONNECT.with(|m| m.borrow_mut().insert(conn, arg.to_string()));
            Some(format!("on-disconnect will {arg}"))
        }
        _ => Some(command.to_string()),
    }
}

fn outcome<T, E: std::fmt::Display>(r: Result<T, E>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => format!("allowed: {}", ok(v)),
        Err(e) => format!("denied: {e}"),
    }
}

/// Try each kind of WASI access; one line per attempt.
fn probe_wasi() -> String {
    let file = config::get("file").unwrap_or_else(|| "/etc/passwd".into());
    let dir = config::get("dir").unwrap_or_else(|| "/".into());
    let env = config::get("env").unwrap_or_else(|| "HOME".into());
    let tcp = config::get("tcp").unwrap_or_else(|| "127.0.0.1:22".into());
    let preopens = wasi::filesystem::preopens::get_directories();
    let lines = [
        format!(
            "preopens: [{}]",
            preopens
                .iter()
                .map(|(_, p)| p.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        format!(
            "fs-read {file}: {}",
            outcome(std::fs::read_to_string(&file), |s| format!(
                "{} bytes",
                s.len()
            ))
        ),
        format!(
            "fs-list {dir}: {}",
            outcome(std::fs::read_dir(&dir), |d| format!(
                "{} entries",
                d.count()
            ))
        ),
        format!(
            "fs-write {dir}: {}",
            outcome(
                std::fs::write(format!("{}/hostile.txt", dir.trim_end_matches('/')), "x"),
                |_| "written".into()
            )
        ),
        format!(
            "env {env}: {}",
            outcome(std::env::var(&env), |v| format!("{v:?}"))
        ),
        format!("env count: {}", std::env::vars().count()),
        format!(
            "clock: {}",
            outcome(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH),
                |d| { format!("{} s since 1970", d.as_secs()) }
            )
        ),
        format!(
            "random: {} bytes",
            wasi::random::random::get_random_bytes(16).len()
        ),
        format!(
            "tcp {tcp}: {}",
            outcome(std::net::TcpStream::connect(&tcp), |_| "connected".into())
        ),
        format!(
            "dns localhost: {}",
            outcome(
                std::net::ToSocketAddrs::to_socket_addrs("localhost:80"),
                |a| { format!("{} addresses", a.count()) }
            )
        ),
    ];
    lines.join("\n")
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

impl Guest for Hostile {
    fn on_connect(conn: ConnectionId, scope: Scope) -> Result<Accept, Reject> {
        if let Some(command) = query_value(&scope.query, "connect") {
            run(conn, &command.replace("%20", " "));
        }
        Ok(Accept {
            subprotocol: None,
            headers: vec![],
        })
    }

    fn on_message(conn: ConnectionId, message: Message) {
        let reply = match message {
            Message::Text(command) => run(conn, &command).map(Message::Text),
            binary => Some(binary),
        };
        if let Some(reply) = reply {
            let _ = connection::send(conn, &reply);
        }
    }

    fn on_disconnect(conn: ConnectionId, info: CloseInfo) {
        if let Some(command) = ON_DISCONNECT.with(|m| m.borrow_mut().remove(&conn)) {
            run(conn, &command);
        }
        log::log(
            log::Level::Info,
            &format!("hostile disconnect {conn} code={}", info.code),
        );
    }
}

export!(Hostile);
