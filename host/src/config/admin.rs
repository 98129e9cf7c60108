//! The admin listener's token: where it comes from (the environment, a
//! file, the config file), what it must look like, and the rule that an
//! admin listener beyond loopback needs one.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::ConfigError;

/// The environment variable that gives the admin token; it wins over the
/// config file's `admin_token` and `admin_token_file`.
pub const ADMIN_TOKEN_ENV: &str = "WASMSOCK_ADMIN_TOKEN";

/// The shortest token accepted: 16 characters of a random generator's
/// output (e.g. `openssl rand -hex 32` gives 64) are beyond guessing over
/// the network.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The secret every admin request but the probes must carry. Its `Debug`
/// never shows it, so it cannot leak into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(Arc<str>);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// Whether `given` is the token, in time that depends on neither the
    /// token nor how much of it `given` gets right: both are hashed and the
    /// digests compared without an early exit.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(given);
        let diff = want
            .iter()
            .zip(got.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// The token itself (to set the console's cookie).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Check a token's text: long enough, and only characters that go
    /// unchanged into a header, a cookie and a URL query.
    fn parse(text: &str) -> Result<AdminToken, String> {
        let text = text.trim();
        if text.len() < MIN_ADMIN_TOKEN_LEN {
            return Err(format!(
                "expected a token of at least {MIN_ADMIN_TOKEN_LEN} characters \
                 (e.g. from `openssl rand -hex 32`), found {} characters",
                text.len()
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(*c)))
        {
            return Err(format!(
                "the token may hold only letters, digits and - . _ ~ + / =, found {bad:?}"
            ));
        }
        Ok(AdminToken(text.into()))
    }
}

/// Where the token may come from, first found wins: the environment, then
/// the config file's `admin_token_file` or `admin_token` (not both).
pub(super) struct TokenSources<'a> {
    /// `WASMSOCK_ADMIN_TOKEN`, as read by the caller.
    pub env: Option<&'a str>,
    /// `admin_token`.
    pub inline: Option<&'a str>,
    /// `admin_token_file`, relative paths already taken from the config
    /// file's folder.
    pub file: Option<PathBuf>,
    /// The config file, for errors.
    pub config: &'a Path,
}

impl TokenSources<'_> {
    /// The token, if any source gives one.
    pub(super) fn resolve(&self) -> Result<Option<AdminToken>, ConfigError> {
        let invalid = |path: &Path, key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.into(),
            message,
        };
        if let Some(text) = self.env {
            return AdminToken::parse(text)
                .map(Some)
                .map_err(|m| invalid(Path::new("environment"), ADMIN_TOKEN_ENV, m));
        }
        match (&self.file, self.inline) {
            (Some(_), Some(_)) => Err(invalid(
                self.config,
                "admin_token_file",
                "set admin_token or admin_token_file, not both".into(),
            )),
            (Some(file), None) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    invalid(
                        self.config,
                        "admin_token_file",
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?;
                AdminToken::parse(&text).map(Some).map_err(|m| {
                    invalid(
                        self.config,
                        "admin_token_file",
                        format!("{}: {m}", file.display()),
                    )
                })
            }
            (None, Some(text)) => AdminToken::parse(text)
                .map(Some)
                .map_err(|m| invalid(self.config, "admin_token", m)),
            (None, None) => Ok(None),
        }
    }
}

/// An admin listener beyond loopback without a token would show anyone
/// who reaches it the plugins, routes and events: refuse to start.
/// `source` names where the address came from (`--admin` or the file).
pub(super) fn check_exposure(
    admin: Option<SocketAddr>,
    token: Option<&AdminToken>,
    source: &Path,
) -> Result<(), ConfigError> {
    match admin {
        Some(at) if token.is_none() && !at.ip().to_canonical().is_loopback() => {
            Err(ConfigError::Invalid {
                path: source.to_path_buf(),
                key: "admin".into(),
                message: format!(
                    "the admin listener on {at} is not on loopback and has no token: set \
                     admin_token (or admin_token_file, or the {ADMIN_TOKEN_ENV} environment \
                     variable), or listen on 127.0.0.1"
                ),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources<'a>(env: Option<&'a str>, inline: Option<&'a str>) -> TokenSources<'a> {
        TokenSources {
            env,
            inline,
            file: None,
            config: Path::new("w.toml"),
        }
    }

    #[test]
    fn the_environment_wins_and_tokens_are_checked() {
        let t = sources(Some("env-token-0123456789"), Some("file-token-0123456789"))
            .resolve()
            .expect("valid")
            .expect("a token");
        assert!(t.matches(b"env-token-0123456789"));
        assert!(!t.matches(b"file-token-0123456789"));
        assert!(!t.matches(b""));
        let short = sources(None, Some("short")).resolve().expect_err("short");
        assert!(short.to_string().contains("admin_token"), "{short}");
        let spaced = sources(None, Some("a token with spaces in it"))
            .resolve()
            .expect_err("spaces");
        assert!(spaced.to_string().contains("' '"), "{spaced}");
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
    }

    #[test]
    fn beyond_loopback_needs_a_token() {
        let any: SocketAddr = "0.0.0.0:9090".parse().expect("addr");
        let lo: SocketAddr = "[::1]:9090".parse().expect("addr");
        let src = Path::new("--admin");
        let e = check_exposure(Some(any), None, src).expect_err("refused");
        assert!(e.to_string().contains("set admin_token"), "{e}");
        assert!(check_exposure(Some(lo), None, src).is_ok());
        let t = AdminToken::parse("0123456789abcdef").expect("token");
        assert!(check_exposure(Some(any), Some(&t), src).is_ok());
    }
}
