//! The JWT step of admission: a plugin whose manifest has `[auth]` admits
//! only connections that carry a token its key verifies. A refusal is a
//! 401 with `WWW-Authenticate: Bearer` and a body that never says why: the
//! reason goes to the log and to `wasmsock_auth_failures_total`, so a
//! client probing tokens learns nothing from the answer.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, TokenData};

use super::answer::{Refusal, Refused};
use super::request::RequestHead;
use crate::config::{JwtAuth, TokenSource};
use crate::plugins::Plugin;
use crate::runtime::identity::Identity;

/// Longest token looked at; longer ones are malformed (a header-sized cap
/// already applies, this keeps the decode's work small).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused: the counter's label and the detail for the log.
#[derive(Debug)]
struct Failure {
    /// missing, malformed, expired, not_yet_valid, audience, issuer,
    /// signature or algorithm.
    reason: &'static str,
    /// The precise cause, for the log only.
    detail: String,
}

impl Failure {
    fn new(reason: &'static str, detail: impl Into<String>) -> Failure {
        Failure {
            reason,
            detail: detail.into(),
        }
    }
}

/// The identity a plugin's `[auth]` establishes for this request: `None`
/// when the plugin has no `[auth]`, the token's subject and claims when it
/// verifies, a 401 otherwise.
pub(super) fn check(plugin: &Plugin, head: &RequestHead) -> Result<Option<Identity>, Refusal> {
    let Some(auth) = &plugin.manifest.auth else {
        return Ok(None);
    };
    match verify(auth, head) {
        Ok(identity) => Ok(Some(identity)),
        Err(f) => {
            crate::metrics::global().auth_failed(&plugin.name, f.reason);
            tracing::debug!(
                plugin = &*plugin.name,
                reason = f.reason,
                "token refused: {}",
                f.detail
            );
            if warn_now(&plugin.name) {
                tracing::warn!(
                    plugin = &*plugin.name,
                    reason = f.reason,
                    "token refused ({}): {}; answering 401 (further refusals this second are logged at debug)",
                    f.reason,
                    f.detail
                );
            }
            let body = if f.reason == "missing" {
                "authentication required\n"
            } else {
                "invalid token\n"
            };
            Err(Refusal::new(Refused::Unauthenticated, 401, body)
                .with_header("WWW-Authenticate", "Bearer"))
        }
    }
}

/// True at most once a second per plugin: a flood of bad tokens costs one
/// warning a second, the rest go to debug and the counter.
fn warn_now(plugin: &str) -> bool {
    static LAST: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    let mut last = LAST
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match last.get_mut(plugin) {
        Some(t) if now.duration_since(*t) < Duration::from_secs(1) => false,
        Some(t) => {
            *t = now;
            true
        }
        None => {
            last.insert(plugin.to_string(), now);
            true
        }
    }
}

/// Find the token, pick the key, verify it and build the identity.
fn verify(auth: &JwtAuth, head: &RequestHead) -> Result<Identity, Failure> {
    let (token, from) = find_token(auth, head)
        .ok_or_else(|| Failure::new("missing", "no token in any configured source"))?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Failure::new(
            "malformed",
            format!("token from {from} is {} bytes", token.len()),
        ));
    }
    let header = jsonwebtoken::decode_header(&token).map_err(|e| header_failure(&token, e))?;
    if !auth.algorithms.contains(&header.alg) {
        return Err(Failure::new(
            "algorithm",
            format!(
                "alg {:?} is not accepted (accepted: {:?})",
                header.alg, auth.algorithms
            ),
        ));
    }
    let fits = |k: &&crate::config::auth::JwtKey| k.validation.algorithms.contains(&header.alg);
    let candidates: Vec<_> = match &header.kid {
        Some(kid) if auth.keys.iter().any(|k| k.kid.is_some()) => auth
            .keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
            .filter(fits)
            .collect(),
        _ => auth.keys.iter().filter(fits).collect(),
    };
    if candidates.is_empty() {
        return Err(Failure::new(
            "signature",
            format!(
                "no configured key verifies alg {:?} with key id {:?}",
                header.alg, header.kid
            ),
        ));
    }
    let mut first = None;
    for key in candidates {
        match jsonwebtoken::decode::<serde_json::Value>(&token, &key.key, &key.validation) {
            Ok(TokenData { claims, .. }) => return identity(claims, from),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    let e = first.map(|e| e.into_kind());
    Err(match e {
        Some(kind) => classify(kind, from),
        None => Failure::new("signature", "no key tried"),
    })
}

/// The verified claims as the plugin sees them: `sub` as the subject, the
/// whole object as JSON text.
fn identity(claims: serde_json::Value, from: &str) -> Result<Identity, Failure> {
    if !claims.is_object() {
        return Err(Failure::new(
            "malformed",
            format!("claims from {from} are not a JSON object"),
        ));
    }
    let subject = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    let text = serde_json::to_string(&claims)
        .map_err(|e| Failure::new("malformed", format!("claims: {e}")))?;
    Ok(Identity {
        subject,
        claims: Some(text),
        values: Vec::new(),
    })
}

/// The first configured source that holds a token, with its name.
fn find_token(auth: &JwtAuth, head: &RequestHead) -> Option<(String, &'static str)> {
    auth.sources.iter().find_map(|source| match source {
        TokenSource::Header => head
            .headers
            .iter()
            .filter(|(n, _)| n == "authorization")
            .find_map(|(_, v)| {
                let v = v.trim();
                let (scheme, token) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| (token.trim().to_string(), "the Authorization header"))
            }),
        TokenSource::Cookie(name) => super::scope::cookies(head)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| (v.trim_matches('"').to_string(), "a cookie")),
        TokenSource::Query(name) => head.query.split('&').find_map(|pair| {
            let (n, v) = pair.split_once('=')?;
            (n == name).then(|| (percent_decode(v), "the query"))
        }),
    })
}

/// Undo `%XX` escapes (a token is base64url and dots, but a client may
/// still escape them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A header that does not parse: an `alg` the library does not know
/// (`none` among them) is the algorithm's fault, anything else malformed.
fn header_failure(token: &str, e: jsonwebtoken::errors::Error) -> Failure {
    let alg = token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("alg").and_then(|a| a.as_str()).map(str::to_owned));
    match alg {
        Some(alg) if alg.parse::<Algorithm>().is_err() => {
            Failure::new("algorithm", format!("alg {alg:?} is not accepted"))
        }
        _ => Failure::new("malformed", format!("bad token header: {e}")),
    }
}

/// The library's error as a reason.
fn classify(kind: ErrorKind, from: &str) -> Failure {
    let reason = match &kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not_yet_valid",
        ErrorKind::InvalidAudience => "audience",
        ErrorKind::InvalidIssuer => "issuer",
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => "signature",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => "algorithm",
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => "audience",
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => "issuer",
        _ => "malformed",
    };
    Failure::new(reason, format!("token from {from}: {kind:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_undone() {
        assert_eq!(percent_decode("a%2Eb.c"), "a.b.c");
        assert_eq!(percent_decode("abc%"), "abc%");
        assert_eq!(percent_decode("abc%4"), "abc%4");
    }

    #[test]
    fn an_unknown_alg_is_the_algorithms_fault() {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let token = format!("{header}.e30.");
        let e = jsonwebtoken::decode_header(&token).expect_err("refused");
        assert_eq!(header_failure(&token, e).reason, "algorithm");
        let e = jsonwebtoken::decode_header("garbage").expect_err("refused");
        assert_eq!(header_failure("garbage", e).reason, "malformed");
    }
}
