//! Raw HTTP/1.1 on a fresh TCP connection, for what a WebSocket client
//! hides: a refused handshake's exact head and body, a handshake with
//! exact header lines, the admin listener's pages and metrics.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TestServer;

/// How long a raw request may wait for the whole answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Send raw bytes on a fresh TCP connection and read the whole answer.
pub async fn raw_http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("tcp connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(ANSWER_WITHIN, s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP answer, read until the server closed the connection.
#[derive(Debug)]
pub struct Answer {
    /// All of it, as text.
    pub text: String,
}

impl Answer {
    /// The status code, if the answer starts with a status line.
    pub fn status(&self) -> Option<u16> {
        self.text.get(9..12).and_then(|c| c.parse().ok())
    }

    /// The status line and the headers (all of it if no blank line ends
    /// them).
    pub fn head(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .map_or(&self.text, |(h, _)| h)
    }

    /// What follows the blank line after the headers.
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// `GET target` with `Host: host`, the `fixed` header lines, then `headers`.
fn request(target: &str, host: &str, fixed: &str, headers: &[(&str, &str)]) -> String {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{fixed}");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// `GET path` at `addr` (an admin listener) with `Connection: close` and
/// `headers`.
pub async fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let req = request(path, "admin", "Connection: close\r\n", headers);
    Answer {
        text: raw_http(addr, &req).await,
    }
}

impl TestServer {
    /// A WebSocket upgrade request for `target` with `headers` besides the
    /// handshake's own, sent raw to the public listener.
    pub async fn upgrade_raw(&self, target: &str, headers: &[(&str, &str)]) -> Answer {
        let handshake = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
        let req = request(target, "test", handshake, headers);
        Answer {
            text: raw_http(&self.addr, &req).await,
        }
    }

    /// GET a page of the admin listener; returns status code and body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let answer = get(&self.admin, path, &[]).await;
        let code = answer
            .status()
            .unwrap_or_else(|| panic!("bad admin answer {:?}", answer.text));
        (code, answer.body().to_string())
    }

    /// The value of the series `name{labels}` in `/metrics` (0 if absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let (code, body) = self.admin_get("/metrics").await;
        assert_eq!(code, 200, "/metrics answered {code}");
        body.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }
}
