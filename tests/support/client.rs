//! WebSocket client steps: receive with a timeout, a text round trip, the
//! close handshake, and the echo cases every echo plugin must pass.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{TestServer, Ws};

/// The echo cases every echo plugin must pass, whatever its language: text,
/// empty text, non-ASCII text, binary, empty binary, and 1 MiB of each.
pub fn echo_cases() -> Vec<Message> {
    let big_text: String = "é☃x".repeat((1 << 20) / 6);
    let big_binary: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    vec![
        Message::text("hello"),
        Message::text(""),
        Message::text("non-ASCII: héllo wörld ☃ 😀 中文"),
        Message::binary(vec![0u8, 1, 2, 255, 254]),
        Message::binary(Vec::new()),
        Message::text(big_text),
        Message::binary(big_binary),
    ]
}

/// Send each of [`echo_cases`] and check that it comes back unchanged;
/// panics with what differed and the server's log. Any client stream
/// (plain, or TLS in `tests/tls.rs`).
pub async fn check_echo_cases<S: Stream>(
    server: &TestServer,
    ws: &mut WebSocketStream<S>,
    what: &str,
) {
    for case in echo_cases() {
        ws.send(case.clone()).await.expect("send");
        let got = recv(ws).await;
        if got != case {
            let close = match &got {
                Message::Close(frame) => format!(": {frame:?}"),
                _ => String::new(),
            };
            panic!(
                "{what}: the echo of a {}-byte {} message differs (got a {}-byte {}{close}); log:\n{}",
                case.len(),
                kind(&case),
                got.len(),
                kind(&got),
                server.logs()
            );
        }
    }
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Close(_) => "close",
        _ => "control",
    }
}

/// What a client WebSocket may run over: TCP, or TLS over TCP.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Stream for S {}

/// Receive the next data message, failing after five seconds.
pub async fn recv<S: Stream>(ws: &mut WebSocketStream<S>) -> Message {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(m))) => return m,
            Ok(Some(Err(e))) => panic!("receive failed: {e}"),
            Ok(None) => panic!("connection ended while waiting for a message"),
            Err(_) => panic!("no message within 5 s"),
        }
    }
}

/// Send text and return the text answer.
pub async fn roundtrip<S: Stream>(ws: &mut WebSocketStream<S>, text: &str) -> String {
    ws.send(Message::text(text)).await.expect("send");
    match recv(ws).await {
        Message::Text(t) => t.as_str().to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Wait for the close frame the server sends, then finish the close
/// handshake as a well-behaved client does; returns its code and reason.
pub async fn closed(ws: &mut Ws) -> (u16, String) {
    let got = match recv(ws).await {
        Message::Close(Some(f)) => (f.code.into(), f.reason.as_str().to_string()),
        Message::Close(None) => (1005, String::new()),
        other => panic!("expected a close frame, got {other:?}"),
    };
    // Polling on sends the answering close frame and sees the stream end.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {}
    got
}
