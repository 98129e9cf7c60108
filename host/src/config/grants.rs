//! WASI grants: the only ways a plugin reaches outside its sandbox, given
//! per plugin in the `[wasi]` table of its manifest. Nothing is granted by
//! default; clocks and random numbers are always available (they reach no
//! data of the host's).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// The `[wasi]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct GrantsFile {
    env: BTreeMap<String, String>,
    dirs: Vec<DirFile>,
    connect: Vec<String>,
    dns: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirFile {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    writable: bool,
}

/// What a plugin may reach through WASI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasiGrants {
    /// Environment variables the plugin sees (it sees no others).
    pub env: BTreeMap<String, String>,
    /// Host folders the plugin may open, under a guest path.
    pub dirs: Vec<DirGrant>,
    /// Addresses the plugin may open TCP connections to.
    pub connect: Vec<AddrGrant>,
    /// Whether the plugin may resolve host names.
    pub dns: bool,
}

impl WasiGrants {
    /// True when the grants reach WASI code that blocks a thread while it
    /// waits (files, outbound TCP, name lookups): such a plugin must be
    /// called asynchronously, so per-connection mode does not pool it.
    pub fn reach_blocking_io(&self) -> bool {
        !self.dirs.is_empty() || !self.connect.is_empty() || self.dns
    }
}

/// One host folder made visible to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The folder on the host, absolute or relative to the manifest's folder.
    pub host: PathBuf,
    /// Where the plugin sees it (`/data`).
    pub guest: String,
    /// Whether the plugin may create and change files in it.
    pub writable: bool,
}

/// An address a plugin may connect to: an IP and one port or any port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrGrant {
    /// The IP address.
    pub ip: IpAddr,
    /// The port; `None` for `*`.
    pub port: Option<u16>,
}

impl AddrGrant {
    /// Parse `IP:PORT` or `IP:*` (`[v6]:PORT` for IPv6).
    pub fn parse(text: &str) -> Result<AddrGrant, String> {
        let expected = || {
            format!("expected an IP address and port such as \"127.0.0.1:6379\" or \"10.0.0.5:*\", found {text:?}")
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = host.parse().map_err(|_| expected())?;
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| expected())?),
        };
        Ok(AddrGrant { ip, port })
    }

    /// True if this grant covers `addr`.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        self.ip == addr.ip() && self.port.is_none_or(|p| p == addr.port())
    }
}

impl std::fmt::Display for AddrGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = match self.ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        match self.port {
            Some(p) => write!(f, "{ip}:{p}"),
            None => write!(f, "{ip}:*"),
        }
    }
}

impl GrantsFile {
    /// Check every grant; `base` is the manifest's folder.
    pub(super) fn resolve(self, path: &Path, base: &Path) -> Result<WasiGrants, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        };
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(invalid(
                    format!("wasi.env.{key}"),
                    "variable names may not be empty or hold '=' or NUL".into(),
                ));
            }
        }
        let mut dirs = Vec::with_capacity(self.dirs.len());
        for (i, d) in self.dirs.into_iter().enumerate() {
            let host = base.join(&d.host);
            if !host.is_dir() {
                return Err(invalid(
                    format!("wasi.dirs[{i}].host"),
                    format!("{} is not a folder", host.display()),
                ));
            }
            if !d.guest.starts_with('/') {
                return Err(invalid(
                    format!("wasi.dirs[{i}].guest"),
                    format!(
                        "expected an absolute guest path such as \"/data\", found {:?}",
                        d.guest
                    ),
                ));
            }
            dirs.push(DirGrant {
                host,
                guest: d.guest,
                writable: d.writable,
            });
        }
        let connect = self
            .connect
            .iter()
            .enumerate()
            .map(|(i, a)| AddrGrant::parse(a).map_err(|m| invalid(format!("wasi.connect[{i}]"), m)))
            .collect::<Result<_, _>>()?;
        Ok(WasiGrants {
            env: self.env,
            dirs,
            connect,
            dns: self.dns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_exact_or_any_port() {
        let g = AddrGrant::parse("127.0.0.1:6379").expect("valid");
        assert!(g.allows("127.0.0.1:6379".parse().expect("addr")));
        assert!(!g.allows("127.0.0.1:6380".parse().expect("addr")));
        let any = AddrGrant::parse("[::1]:*").expect("valid");
        assert!(any.allows("[::1]:9".parse().expect("addr")));
        assert!(!any.allows("127.0.0.1:9".parse().expect("addr")));
        assert_eq!(any.to_string(), "[::1]:*");
        for bad in [
            "redis:6379",
            "127.0.0.1",
            "127.0.0.1:99999",
            ":80",
            "1.2.3.4:x",
        ] {
            let e = AddrGrant::parse(bad).expect_err(bad);
            assert!(e.contains("expected an IP address"), "{e}");
        }
    }
}
