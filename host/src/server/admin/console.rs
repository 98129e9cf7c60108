//! The console's files, compiled into the binary: a page that needs no
//! build step and nothing from the network, so it works offline and on a
//! machine that reaches nothing but this server. It reads `/status` (once a
//! second), `/events` and `/events/stream`, and its WebSocket panels
//! connect to the public listener that `/status` names.

use http::header::{HeaderValue, CACHE_CONTROL};

use super::{answer, Answer};

/// The page.
const INDEX: &str = include_str!("console/index.html");
/// Its script.
const SCRIPT: &str = include_str!("console/console.js");
/// Its style sheet.
const STYLE: &str = include_str!("console/console.css");

/// What the page may load and reach: its own files and this listener, and
/// WebSocket servers (the public listener, or any URL typed in a panel).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      img-src 'self' data:; connect-src 'self' ws: wss:; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console file at `path`, if there is one.
pub(super) fn page(path: &str) -> Option<Answer> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/console.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/console.css" => ("text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    let mut r = answer(200, content_type, body);
    let headers = r.headers_mut();
    // The files change only with the binary; revalidating costs nothing.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}
