//! The second baseline for wasmsock's benchmarks: an echo server on
//! fastwebsockets (the fastest maintained Rust WebSocket library), upgraded
//! through hyper 1 as its own examples do, with no wasm in between. Where
//! `ref-echo` says what wasmsock's own stack (tokio-tungstenite) costs,
//! this says what a change of transport could save.
//!
//! Run: `cargo run --release -p fws-echo -- [ADDR]` (default 127.0.0.1:0).
//! The first line on stdout is `listening on ADDR`, as with wasmsock.
//! Text and binary messages are echoed (fragmented ones reassembled and
//! text checked as UTF-8 by `FragmentCollector`); pings are answered and
//! closes completed by the library.

use std::net::SocketAddr;

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        match echo(fut).await {
            Ok(()) | Err(WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF) => {}
            Err(e) => eprintln!("fws-echo: {e}"),
        }
    });
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()?;
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    stream.set_nodelay(true)?;
                    tokio::spawn(async move {
                        let served = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service_fn(upgrade))
                            .with_upgrades()
                            .await;
                        if let Err(e) = served {
                            if !e.is_incomplete_message() {
                                eprintln!("fws-echo: {e}");
                            }
                        }
                    });
                }
                Err(e) => {
                    eprintln!("fws-echo: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
