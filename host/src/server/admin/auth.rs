//! The admin token's check. With a token configured, every admin request
//! but the probes (`/healthz`, `/readyz`) must carry it, as
//! `Authorization: Bearer TOKEN` (tools: curl, Prometheus) or as the
//! console's cookie. A browser cannot add a header to a navigation, so
//! opening `/?token=TOKEN` once sets the cookie (HttpOnly, SameSite=Strict)
//! and redirects to `/`; the page's own requests then carry it.

use http::header::{
    HeaderValue, AUTHORIZATION, CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE,
};
use http::Request;

use super::{answer, Answer, TEXT};
use crate::config::AdminToken;

/// The console's cookie.
const COOKIE_NAME: &str = "wasmsock_admin";

/// Paths open without the token: an orchestrator's probes carry none.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// `None` if `req` may be answered; otherwise the answer to send instead:
/// a 401, or the redirect that sets the console's cookie.
pub(super) fn refusal<B>(req: &Request<B>, token: Option<&AdminToken>) -> Option<Answer> {
    let token = token?;
    let path = req.uri().path();
    if is_probe(path) {
        return None;
    }
    let bearer = req
        .headers()
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .collect::<Vec<_>>();
    let cookies = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, v)| v.trim())
        .collect::<Vec<_>>();
    if bearer
        .iter()
        .chain(cookies.iter())
        .any(|t| token.matches(t.as_bytes()))
    {
        return None;
    }
    let query = query_token(req.uri().query().unwrap_or(""));
    if matches!(path, "/" | "/index.html") {
        if let Some(given) = &query {
            if token.matches(given.as_bytes()) {
                return Some(set_cookie(token));
            }
        }
    }
    let given = !bearer.is_empty() || !cookies.is_empty() || query.is_some();
    tracing::debug!(
        path,
        token_given = given,
        "admin request refused: no valid admin token"
    );
    Some(unauthorized(given))
}

/// 401 with the challenge; `given`: a token came but was wrong.
fn unauthorized(given: bool) -> Answer {
    let mut r = answer(
        401,
        TEXT,
        "this admin listener needs its token: send `Authorization: Bearer TOKEN`, \
         or open /?token=TOKEN once in a browser\n",
    );
    let challenge = if given {
        "Bearer realm=\"wasmsock admin\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"wasmsock admin\""
    };
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// 303 to `/` with the console's cookie: the token leaves the address bar
/// and the history at once.
fn set_cookie(token: &AdminToken) -> Answer {
    let mut r = answer(303, TEXT, "admin token accepted; to the console: /\n");
    let headers = r.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The token's characters are checked at load to be cookie-safe.
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict",
        token.as_str()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(SET_COOKIE, v);
    }
    r
}

/// The `token` parameter of a query, percent-decoded.
fn query_token(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| percent_decode(v))
}

/// `%XX` escapes decoded; anything malformed kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AdminToken {
        let cfg = crate::config::ServerConfig::parse(
            std::path::Path::new("w.toml"),
            "admin_token = \"0123456789abcdef+/\"\n",
            &Default::default(),
        )
        .expect("config");
        cfg.admin_token.expect("token")
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::get(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request")
    }

    fn status(r: Option<Answer>) -> u16 {
        r.map_or(200, |a| a.status().as_u16())
    }

    #[test]
    fn every_source_of_the_token() {
        let t = token();
        let t = Some(&t);
        assert_eq!(status(refusal(&req("/status", &[]), t)), 401);
        assert_eq!(status(refusal(&req("/healthz", &[]), t)), 200);
        assert_eq!(status(refusal(&req("/readyz", &[]), t)), 200);
        let good = [("authorization", "Bearer 0123456789abcdef+/")];
        assert_eq!(status(refusal(&req("/metrics", &good), t)), 200);
        let bad = [("authorization", "Bearer 0123456789abcdef")];
        assert_eq!(status(refusal(&req("/metrics", &bad), t)), 401);
        let cookie = [("cookie", "a=b; wasmsock_admin=0123456789abcdef+/")];
        assert_eq!(status(refusal(&req("/events", &cookie), t)), 200);
        let visit = refusal(&req("/?token=0123456789abcdef%2B%2F", &[]), t);
        let r = visit.expect("a redirect");
        assert_eq!(r.status().as_u16(), 303);
        let set = r.headers().get(SET_COOKIE).expect("cookie");
        assert!(set
            .to_str()
            .expect("ascii")
            .starts_with("wasmsock_admin=0123456789abcdef+/;"));
        assert_eq!(
            status(refusal(&req("/status?token=0123456789abcdef+/", &[]), t)),
            401
        );
        assert_eq!(status(refusal(&req("/status", &[]), None)), 200);
    }
}
