//! A plugin's `[auth]` table: the JWT every connection to it must carry,
//! the key that verifies it and where the token is looked for. Key material
//! is read and parsed once, when the manifest is loaded, so a bad key
//! refuses the plugin load (and a reload keeps the old version serving)
//! instead of failing handshakes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ConfigError;

/// Seconds of clock skew allowed on `exp` and `nbf` unless `leeway_s` says.
pub const DEFAULT_LEEWAY_S: u64 = 30;

/// The `[auth]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AuthFile {
    jwt_secret: Option<String>,
    jwt_secret_file: Option<PathBuf>,
    jwt_public_key: Option<PathBuf>,
    jwks_file: Option<PathBuf>,
    algorithms: Option<Vec<String>>,
    audience: Option<OneOrMany>,
    issuer: Option<OneOrMany>,
    leeway_s: Option<u64>,
    token_from: Option<Vec<String>>,
}

/// A string or a list of strings (`audience`, `issuer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Where a connection's token is looked for, in the order listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer TOKEN`.
    Header,
    /// The cookie of this name.
    Cookie(String),
    /// The query parameter of this name.
    Query(String),
}

/// One key that may verify a token: with the algorithms it accepts and,
/// from a JWKS, the key id a token names it by.
#[derive(Clone)]
pub struct JwtKey {
    /// The `kid` a token's header must carry to pick this key (JWKS only).
    pub kid: Option<String>,
    /// The parsed key.
    pub key: DecodingKey,
    /// What a token signed with it is checked against: algorithms (of the
    /// key's family only), audience, issuer, leeway.
    pub validation: Validation,
}

/// A plugin's JWT settings, parsed: every connection must carry a token
/// one of [`keys`](Self::keys) verifies.
#[derive(Clone)]
pub struct JwtAuth {
    /// The keys; one unless a JWKS holds several.
    pub keys: Vec<JwtKey>,
    /// Where the token is looked for, in order; the first found is checked.
    pub sources: Vec<TokenSource>,
    /// Every algorithm accepted, for telling `alg` confusion from a bad
    /// token in the logs and counters.
    pub algorithms: Vec<Algorithm>,
    /// A hash of the settings and key material: two manifests are equal
    /// when it is, without the keys ever being printed or compared.
    fingerprint: [u8; 32],
}

impl fmt::Debug for JwtAuth {
    // Never the key material: manifests are printed in debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("keys", &self.keys.len())
            .field("algorithms", &self.algorithms)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl PartialEq for JwtAuth {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

/// Which key source the table names: exactly one is allowed.
enum KeySource {
    Secret(Vec<u8>),
    PublicKey(Vec<u8>),
    Jwks(Vec<u8>),
}

impl AuthFile {
    /// Check the table and parse its key material; `manifest` names the
    /// file in errors and its folder anchors relative paths.
    pub(super) fn resolve(self, manifest: &Path) -> Result<Arc<JwtAuth>, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: manifest.to_path_buf(),
            key: format!("auth.{key}"),
            message,
        };
        let base = manifest.parent().unwrap_or(Path::new("."));
        let read_file = |key: &str, file: &Path| -> Result<Vec<u8>, ConfigError> {
            let full = base.join(file);
            std::fs::read(&full)
                .map_err(|e| invalid(key, format!("cannot read {}: {e}", full.display())))
        };
        let mut hash = Sha256::new();
        let named: Vec<&str> = [
            ("jwt_secret", self.jwt_secret.is_some()),
            ("jwt_secret_file", self.jwt_secret_file.is_some()),
            ("jwt_public_key", self.jwt_public_key.is_some()),
            ("jwks_file", self.jwks_file.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        let source = match named.as_slice() {
            [] => {
                return Err(invalid(
                    "jwt_secret",
                    "[auth] needs a key: one of jwt_secret, jwt_secret_file, jwt_public_key or jwks_file".into(),
                ))
            }
            [_] => {
                if let Some(s) = &self.jwt_secret {
                    KeySource::Secret(s.as_bytes().to_vec())
                } else if let Some(f) = &self.jwt_secret_file {
                    let mut bytes = read_file("jwt_secret_file", f)?;
                    // A trailing newline from `echo > file` is not part of the secret.
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    KeySource::Secret(bytes)
                } else if let Some(f) = &self.jwt_public_key {
                    KeySource::PublicKey(read_file("jwt_public_key", f)?)
                } else if let Some(f) = &self.jwks_file {
                    KeySource::Jwks(read_file("jwks_file", f)?)
                } else {
                    unreachable!("one key source is named")
                }
            }
            many => {
                return Err(invalid(
                    many[1],
                    format!(
                        "only one key source may be set, found {}",
                        many.join(" and ")
                    ),
                ))
            }
        };
        let sources = parse_sources(self.token_from, &invalid)?;
        let leeway = self.leeway_s.unwrap_or(DEFAULT_LEEWAY_S);
        if leeway > 86_400 {
            return Err(invalid(
                "leeway_s",
                format!("expected a number from 0 to 86400, found {leeway}"),
            ));
        }
        let audience = self.audience.map(OneOrMany::into_vec);
        let issuer = self.issuer.map(OneOrMany::into_vec);
        let listed = match self.algorithms {
            None => None,
            Some(names) if names.is_empty() => {
                return Err(invalid(
                    "algorithms",
                    "expected at least one algorithm such as \"RS256\"".into(),
                ))
            }
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| parse_algorithm(n).map_err(|m| invalid("algorithms", m)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        // (key id, key, family, algorithm the JWKS pins it to)
        let mut parsed: Vec<(
            Option<String>,
            DecodingKey,
            AlgorithmFamily,
            Option<Algorithm>,
        )> = Vec::new();
        match &source {
            KeySource::Secret(bytes) => {
                if bytes.len() < 32 {
                    return Err(invalid(
                        named[0],
                        format!(
                            "the secret is {} bytes; an HMAC secret must be at least 32 bytes",
                            bytes.len()
                        ),
                    ));
                }
                hash.update(b"secret");
                hash.update(bytes);
                let key = DecodingKey::from_secret(bytes)
                    .map_err(|e| invalid(named[0], format!("not a usable secret: {e}")))?;
                parsed.push((None, key, AlgorithmFamily::Hmac, None));
            }
            KeySource::PublicKey(pem) => {
                hash.update(b"pem");
                hash.update(pem);
                let file = self.jwt_public_key.as_deref().unwrap_or(Path::new(""));
                let (key, family) = parse_pem(pem).map_err(|why| {
                    invalid(
                        "jwt_public_key",
                        format!("{}: {why}", base.join(file).display()),
                    )
                })?;
                parsed.push((None, key, family, None));
            }
            KeySource::Jwks(json) => {
                hash.update(b"jwks");
                hash.update(json);
                let file = base.join(self.jwks_file.as_deref().unwrap_or(Path::new("")));
                let set: JwkSet = serde_json::from_slice(json).map_err(|e| {
                    invalid(
                        "jwks_file",
                        format!("{}: not a JWK set: {e}", file.display()),
                    )
                })?;
                if set.keys.is_empty() {
                    return Err(invalid(
                        "jwks_file",
                        format!("{}: the set holds no key", file.display()),
                    ));
                }
                for (i, jwk) in set.keys.iter().enumerate() {
                    let family = match &jwk.algorithm {
                        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
                        AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
                        AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
                        AlgorithmParameters::OctetKey(_) => {
                            return Err(invalid(
                                "jwks_file",
                                format!(
                                    "{}: key {i} is a shared secret (kty \"oct\"); put secrets in jwt_secret_file so that no public key can be used as one",
                                    file.display()
                                ),
                            ))
                        }
                        _ => {
                            return Err(invalid(
                                "jwks_file",
                                format!("{}: key {i} has an unsupported key type", file.display()),
                            ))
                        }
                    };
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                        invalid(
                            "jwks_file",
                            format!("{}: key {i} is not usable: {e}", file.display()),
                        )
                    })?;
                    let pinned = jwk
                        .common
                        .key_algorithm
                        .and_then(|a| Algorithm::from_str(&format!("{a:?}")).ok());
                    parsed.push((jwk.common.key_id.clone(), key, family, pinned));
                }
            }
        }
        let mut keys = Vec::with_capacity(parsed.len());
        let mut all = Vec::new();
        for (kid, key, family, pinned) in parsed {
            let algorithms: Vec<Algorithm> = match (&listed, pinned) {
                (Some(list), _) => {
                    if let Some(bad) = list.iter().find(|a| a.family() != family) {
                        if keys.is_empty() && !matches!(source, KeySource::Jwks(_)) {
                            return Err(invalid(
                                "algorithms",
                                format!(
                                    "{bad:?} does not fit the configured key ({}); {}",
                                    family_name(family),
                                    family_hint(family)
                                ),
                            ));
                        }
                    }
                    list.iter()
                        .copied()
                        .filter(|a| a.family() == family && pinned.is_none_or(|p| p == *a))
                        .collect()
                }
                (None, Some(p)) => vec![p],
                (None, None) => default_algorithms(family),
            };
            if algorithms.is_empty() {
                continue;
            }
            let mut v = Validation::new(algorithms[0]);
            v.algorithms = algorithms.clone();
            v.leeway = leeway;
            v.validate_nbf = true;
            v.required_spec_claims = ["exp".to_string()].into_iter().collect();
            if let Some(aud) = &audience {
                v.set_audience(aud);
                v.required_spec_claims.insert("aud".into());
            }
            if let Some(iss) = &issuer {
                v.set_issuer(iss);
                v.required_spec_claims.insert("iss".into());
            }
            for a in &algorithms {
                if !all.contains(a) {
                    all.push(*a);
                }
            }
            keys.push(JwtKey {
                kid,
                key,
                validation: v,
            });
        }
        if keys.is_empty() {
            return Err(invalid(
                "algorithms",
                "no configured key can verify any of the listed algorithms".into(),
            ));
        }
        hash.update(format!("{all:?}|{sources:?}|{leeway}|{audience:?}|{issuer:?}").as_bytes());
        Ok(Arc::new(JwtAuth {
            keys,
            sources,
            algorithms: all,
            fingerprint: hash.finalize().into(),
        }))
    }
}

/// `token_from`: `"header"`, `"cookie:NAME"`, `"query:NAME"`; default
/// `["header"]`.
fn parse_sources(
    list: Option<Vec<String>>,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Vec<TokenSource>, ConfigError> {
    let Some(list) = list else {
        return Ok(vec![TokenSource::Header]);
    };
    if list.is_empty() {
        return Err(invalid(
            "token_from",
            "expected at least one of \"header\", \"cookie:NAME\", \"query:NAME\"".into(),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let named = |prefix: &str| {
                s.strip_prefix(prefix)
                    .filter(|n| !n.is_empty() && !n.contains([';', '=', '&', ' ']))
                    .map(str::to_string)
            };
            if s == "header" {
                Ok(TokenSource::Header)
            } else if let Some(n) = named("cookie:") {
                Ok(TokenSource::Cookie(n))
            } else if let Some(n) = named("query:") {
                Ok(TokenSource::Query(n))
            } else {
                Err(invalid(
                    &format!("token_from[{i}]"),
                    format!("unknown token source {s:?}; expected \"header\", \"cookie:NAME\" or \"query:NAME\""),
                ))
            }
        })
        .collect()
}

/// An algorithm name as a token's header carries it; `none` never.
fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err("\"none\" (unsigned tokens) is never accepted".into());
    }
    Algorithm::from_str(name).map_err(|_| {
        format!("unknown algorithm {name:?}; expected HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384 or EdDSA")
    })
}

/// A PEM public key (or certificate) and its family: RSA, EC or Ed25519.
fn parse_pem(pem: &[u8]) -> Result<(DecodingKey, AlgorithmFamily), String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file (not text)".to_string())?;
    if !text.contains("-----BEGIN ") {
        return Err("not a PEM file (no -----BEGIN line)".into());
    }
    if text.contains("PRIVATE KEY-----") {
        return Err("holds a private key; give the public key (openssl pkey -pubout)".into());
    }
    if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
        return Ok((k, AlgorithmFamily::Rsa));
    }
    if let Ok(k) = DecodingKey::from_ec_pem(pem) {
        return Ok((k, AlgorithmFamily::Ec));
    }
    if let Ok(k) = DecodingKey::from_ed_pem(pem) {
        return Ok((k, AlgorithmFamily::Ed));
    }
    Err("not an RSA, EC (P-256, P-384) or Ed25519 public key".into())
}

/// What a key of `family` accepts when `algorithms` is not given.
fn default_algorithms(family: AlgorithmFamily) -> Vec<Algorithm> {
    use Algorithm::*;
    match family {
        AlgorithmFamily::Hmac => vec![HS256, HS384, HS512],
        AlgorithmFamily::Rsa => vec![RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmFamily::Ec => vec![ES256, ES384],
        AlgorithmFamily::Ed => vec![EdDSA],
    }
}

fn family_name(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "a shared secret",
        AlgorithmFamily::Rsa => "an RSA public key",
        AlgorithmFamily::Ec => "an EC public key",
        AlgorithmFamily::Ed => "an Ed25519 public key",
    }
}

fn family_hint(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "expected HS256, HS384 or HS512",
        AlgorithmFamily::Rsa => "expected RS256/384/512 or PS256/384/512",
        AlgorithmFamily::Ec => "expected ES256 or ES384",
        AlgorithmFamily::Ed => "expected EdDSA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Arc<JwtAuth>, ConfigError> {
        let file: AuthFile = toml::from_str(text).expect("toml");
        file.resolve(Path::new("/nonexistent/p/x.toml"))
    }

    fn err(text: &str) -> String {
        resolve(text).expect_err("refused").to_string()
    }

    const SECRET: &str = "jwt_secret = \"0123456789abcdef0123456789abcdef\"\n";

    #[test]
    fn a_secret_defaults_to_hs_and_the_header() {
        let a = resolve(SECRET).expect("ok");
        assert_eq!(
            a.algorithms,
            vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
        );
        assert_eq!(a.sources, vec![TokenSource::Header]);
        assert_eq!(a.keys[0].validation.leeway, DEFAULT_LEEWAY_S);
        assert!(!format!("{a:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(err("").contains("auth.jwt_secret"));
        let both = err(&format!("{SECRET}jwt_public_key = \"k.pem\"\n"));
        assert!(both.contains("only one key source"), "{both}");
        assert!(err("jwt_secret = \"short\"").contains("at least 32 bytes"));
        let file = err("jwt_public_key = \"missing.pem\"");
        assert!(
            file.contains("auth.jwt_public_key") && file.contains("missing.pem"),
            "{file}"
        );
        let src = err(&format!("{SECRET}token_from = [\"body\"]"));
        assert!(
            src.contains("token_from[0]") && src.contains("unknown token source"),
            "{src}"
        );
        assert!(err(&format!("{SECRET}algorithms = [\"none\"]")).contains("never accepted"));
        let wrong = err(&format!("{SECRET}algorithms = [\"RS256\"]"));
        assert!(wrong.contains("does not fit"), "{wrong}");
        assert!(err(&format!("{SECRET}leeway_s = 100000")).contains("leeway_s"));
    }

    #[test]
    fn a_bad_pem_is_refused_with_its_file() {
        let dir = tempfile::tempdir().expect("ok");
        std::fs::write(dir.path().join("k.pem"), "hello").expect("ok");
        let file: AuthFile = toml::from_str("jwt_public_key = \"k.pem\"").expect("ok");
        let e = file
            .resolve(&dir.path().join("x.toml"))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("k.pem") && e.contains("not a PEM file"), "{e}");
    }

    #[test]
    fn sources_parse_in_order() {
        let a = resolve(&format!(
            "{SECRET}token_from = [\"query:t\", \"cookie:jwt\", \"header\"]"
        ))
        .expect("ok");
        assert_eq!(
            a.sources,
            vec![
                TokenSource::Query("t".into()),
                TokenSource::Cookie("jwt".into()),
                TokenSource::Header
            ]
        );
    }
}
