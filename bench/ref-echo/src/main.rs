//! The baseline for wasmsock's benchmarks: the same stack (tokio and
//! tokio-tungstenite) echoing every message, with no wasm in between.
//!
//! Run: `cargo run --release -p ref-echo -- [ADDR]` (default 127.0.0.1:0).
//! The first line on stdout is `listening on ADDR`, as with wasmsock.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Error;

async fn echo(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
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
                    tokio::spawn(async move {
                        if let Err(e) = echo(stream).await {
                            match e {
                                Error::ConnectionClosed | Error::AlreadyClosed | Error::Protocol(_) => {}
                                e => eprintln!("ref-echo: {e}"),
                            }
                        }
                    });
                }
                Err(e) => {
                    eprintln!("ref-echo: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
