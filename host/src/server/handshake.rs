//! The HTTP side of a connection: reading the upgrade request under size and
//! time limits, and writing the 101, or a plain HTTP answer before any
//! upgrade (404, 426, a plugin's rejection).
//!
//! The request is parsed here rather than inside tungstenite so that routing
//! and the plugin's `on-connect` (both asynchronous) run before the server
//! commits to the upgrade.

use std::fmt::Write as _;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::session::RequestHead;

/// Most headers a request may carry.
const MAX_HEADERS: usize = 128;

/// Why a request head could not be read. Each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The socket failed or closed before a full head arrived.
    #[error("connection closed during the handshake: {0}")]
    Io(#[from] std::io::Error),
    /// The head is larger than allowed.
    #[error("request head larger than {0} bytes")]
    TooLarge(usize),
    /// Not HTTP/1.1.
    #[error("malformed request: {0}")]
    Malformed(String),
}

impl HeadError {
    /// The HTTP status to answer with, if the socket is still worth answering.
    pub fn status(&self) -> Option<u16> {
        match self {
            HeadError::Io(_) => None,
            HeadError::TooLarge(_) => Some(431),
            HeadError::Malformed(_) => Some(400),
        }
    }
}

/// Parse a request head from the bytes received so far: `Ok(None)` while it
/// is incomplete. Bytes after the head are kept in `rest`.
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            if req.version != Some(1) {
                return Err(HeadError::Malformed(
                    "HTTP/1.1 is required for a WebSocket upgrade".into(),
                ));
            }
            let target = req.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            Ok(Some(RequestHead {
                method: req.method.unwrap_or("").to_string(),
                path: path.to_string(),
                query: query.to_string(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
                rest: buf[len..].to_vec(),
            }))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::Malformed(format!(
            "more than {MAX_HEADERS} headers"
        ))),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

/// Read and parse one request head of at most `max` bytes.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: usize,
) -> Result<RequestHead, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if let Some(head) = parse_head(&buf)? {
            return Ok(head);
        }
        if buf.len() >= max {
            return Err(HeadError::TooLarge(max));
        }
        let want = (max - buf.len()).min(4096);
        let start = buf.len();
        buf.resize(start + want, 0);
        let n = stream.read(&mut buf[start..]).await?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(HeadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

/// The standard reason phrase of a status, or "Status".
fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status")
}

/// Write a complete plain HTTP response and close the write side.
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    headers: &[(String, String)],
    body: &str,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut has_type = false;
    for (n, v) in headers {
        has_type |= n.eq_ignore_ascii_case("content-type");
        let _ = write!(out, "{n}: {v}\r\n");
    }
    if !has_type {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    out.push_str(body);
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// Write the 101 response that completes the upgrade.
pub async fn switch_protocols<S: AsyncWrite + Unpin>(
    stream: &mut S,
    key: &str,
    subprotocol: Option<&str>,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.trim().as_bytes())
    );
    if let Some(p) = subprotocol {
        let _ = write!(out, "Sec-WebSocket-Protocol: {p}\r\n");
    }
    for (n, v) in headers {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await
}
