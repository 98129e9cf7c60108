//! Server configuration (`wasmsock.toml`) and plugin manifests (`NAME.toml`).
//!
//! Both are strict: an unknown key, a value of the wrong type or out of range
//! is an error naming the file, the key and what was expected, so a typo never
//! silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod admin;
pub mod auth;
mod grants;
mod limits;
mod plugin;
mod pool;
mod reload;
mod tls;

pub use admin::{AdminToken, ADMIN_TOKEN_ENV, MIN_ADMIN_TOKEN_LEN};
pub use auth::{JwtAuth, TokenSource, DEFAULT_LEEWAY_S};
pub use grants::{AddrGrant, DirGrant, WasiGrants};
pub use limits::{GroupQueueFull, Limits, LimitsFile, PerIpLimits};
pub use plugin::{InstanceMode, Manifest, PluginDefaults, QuarantinePolicy};
pub use pool::{PoolFile, PoolSettings, DEFAULT_TABLE_ELEMENTS};
pub use reload::{OnReload, ReloadPolicy, DEFAULT_ATTACHMENT_MAX_BYTES};
pub use tls::{read_pair, PemPair, TlsFile, TlsSettings};

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown or of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's description: line, column, key and what was expected.
        message: String,
    },
    /// A key has a value of the right type but outside what is allowed.
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A TLS certificate or key file could not be read.
    #[error("{path}: cannot read the TLS {what}: {source}")]
    TlsRead {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TLS file holds no certificate (or no key), or bad PEM.
    #[error("{path}: {message}")]
    TlsPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The key does not belong to the certificate, or rustls refuses the pair.
    #[error("{key}: the TLS private key cannot serve the certificate in {cert}: {message}")]
    TlsPair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        message: String,
    },
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().replace('\n', "\n  "),
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn check_range(path: &Path, key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message: format!("expected a number from {min} to {max}, found {value}"),
        })
    }
}

/// The server configuration file, every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerFile {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Address of the admin listener (`/status`, `/healthz`); none by default.
    pub admin: Option<String>,
    /// The token every admin request but `/healthz` and `/readyz` must
    /// carry; required when the admin listener is not on loopback.
    pub admin_token: Option<String>,
    /// A file holding the admin token (trimmed), so that the secret stays
    /// out of the config file; relative paths are taken from its folder.
    pub admin_token_file: Option<PathBuf>,
    /// The plugins folder; relative paths are taken from the file's folder.
    pub plugins: Option<PathBuf>,
    /// Folder for compiled plugin artifacts; relative as above.
    pub cache_dir: Option<PathBuf>,
    /// The channel layer: `memory` or `redis://HOST:PORT`.
    pub layer: Option<String>,
    /// Log lines as `text` (default) or `json`.
    pub log_format: Option<String>,
    /// On SIGTERM or Ctrl-C, how long the server waits for its connections
    /// to close (1001) and their plugins' `on-disconnect` to run before it
    /// exits, in ms.
    pub shutdown_drain_ms: Option<u64>,
    /// Connection limits.
    pub limits: LimitsFile,
    /// Defaults for every plugin.
    pub plugin_defaults: PluginDefaults,
    /// The per-connection instance pool.
    pub pool: PoolFile,
    /// Built-in TLS (`wss://`).
    pub tls: TlsFile,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one line per event, fields as `key=value`.
    #[default]
    Text,
    /// For log pipelines: one JSON object per line, fields as keys.
    Json,
}

/// Which channel layer carries groups beyond this server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LayerConfig {
    /// This server alone, in memory.
    #[default]
    Memory,
    /// Many servers on the Redis at this URL.
    Redis(String),
}

impl LayerConfig {
    /// `memory`, or a `redis://` / `rediss://` / `redis+unix://` URL.
    fn parse(text: &str) -> Result<LayerConfig, String> {
        let text = text.trim();
        if text == "memory" {
            return Ok(LayerConfig::Memory);
        }
        if ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
        {
            return Ok(LayerConfig::Redis(text.to_owned()));
        }
        Err(format!(
            "expected \"memory\" or a Redis URL such as redis://127.0.0.1:6379, found {text:?}"
        ))
    }
}

/// The effective server configuration: file, then CLI overrides.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address of the admin listener, if any.
    pub admin: Option<SocketAddr>,
    /// The token admin requests must carry, if one is set.
    pub admin_token: Option<AdminToken>,
    /// The plugins folder.
    pub plugins_dir: PathBuf,
    /// Compiled-artifact cache folder; `None` disables the on-disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Connection limits.
    pub limits: Limits,
    /// Defaults for every plugin.
    pub plugin_defaults: PluginDefaults,
    /// The channel layer.
    pub layer: LayerConfig,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The per-connection instance pool.
    pub pool: PoolSettings,
    /// Longest wait at shutdown for connections to close and their
    /// `on-disconnect` to run.
    pub shutdown_drain: Duration,
    /// Built-in TLS, when a certificate and key are given.
    pub tls: Option<TlsSettings>,
}

impl ServerConfig {
    /// Whether the plain (`ws://`) listener runs: always without TLS, and
    /// beside it only when TLS has an address of its own.
    pub fn plain_listener(&self) -> bool {
        self.tls.as_ref().is_none_or(|t| t.listen.is_some())
    }

    /// The TLS listener's address, when TLS is on: its own, or `listen`.
    pub fn tls_listener(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|t| t.listen.unwrap_or(self.listen))
    }
}

/// The default of `shutdown_drain_ms`: as long as a close handshake may take
/// (`limits.close_timeout_ms`'s default), so a client that answers its close
/// frame in time is never cut off.
pub const DEFAULT_SHUTDOWN_DRAIN: Duration = Duration::from_millis(5_000);

/// Command-line values that override the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--admin`.
    pub admin: Option<String>,
    /// `--plugins`.
    pub plugins_dir: Option<PathBuf>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--layer`.
    pub layer: Option<String>,
    /// `--log-format`.
    pub log_format: Option<String>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-listen`.
    pub tls_listen: Option<String>,
    /// The `WASMSOCK_ADMIN_TOKEN` environment variable, read by the caller
    /// (so that loading a config never depends on the process's
    /// environment by surprise).
    pub admin_token_env: Option<String>,
}

/// The default listen address: loopback, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8080,
));

impl ServerConfig {
    /// Read the optional config file and apply the command-line overrides.
    pub fn load(file: Option<&Path>, cli: &Overrides) -> Result<ServerConfig, ConfigError> {
        match file {
            Some(path) => ServerConfig::parse(path, &read(path)?, cli),
            None => ServerConfig::resolve(None, cli),
        }
    }

    /// Parse config file text; `path` names it in errors and anchors its
    /// relative paths.
    pub fn parse(path: &Path, text: &str, cli: &Overrides) -> Result<ServerConfig, ConfigError> {
        let parsed: ServerFile = parse_toml(path, text)?;
        let limits = parsed.limits.resolve(path)?;
        if let Some(ms) = parsed.shutdown_drain_ms {
            check_range(path, "shutdown_drain_ms", ms, 1, 3_600_000)?;
        }
        parsed.plugin_defaults.validate(path, "plugin_defaults.")?;
        let pool = parsed.pool.resolve(path)?;
        let memory_mb = pool.memory.unwrap_or(0) >> 20;
        if pool.enabled
            && memory_mb > 0
            && (memory_mb as u64) < parsed.plugin_defaults.memory_limit_mb
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: "pool.memory_mb".into(),
                message: format!(
                    "expected at least plugin_defaults.memory_limit_mb ({}), found {memory_mb}: \
                     a per-connection plugin with the default memory cap would not fit",
                    parsed.plugin_defaults.memory_limit_mb
                ),
            });
        }
        ServerConfig::resolve(Some((path, parsed, limits, pool)), cli)
    }

    fn resolve(
        file: Option<(&Path, ServerFile, Limits, PoolSettings)>,
        cli: &Overrides,
    ) -> Result<ServerConfig, ConfigError> {
        let (parsed, limits, pool, base, source) = match file {
            Some((path, parsed, limits, pool)) => {
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (parsed, limits, pool, base, path.to_path_buf())
            }
            None => (
                ServerFile::default(),
                Limits::default(),
                PoolSettings::derived(),
                PathBuf::new(),
                PathBuf::from("command line"),
            ),
        };
        // An address from the command line (`--KEY`, dots as dashes) or the
        // file (`KEY`).
        let address = |key: &str, cli_value: &Option<String>, file_value: &Option<String>| {
            let Some(text) = cli_value.as_ref().or(file_value.as_ref()) else {
                return Ok(None);
            };
            text.parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| ConfigError::Invalid {
                    path: if cli_value.is_some() {
                        PathBuf::from(format!("--{}", key.replace('.', "-")))
                    } else {
                        source.clone()
                    },
                    key: key.into(),
                    message: format!("expected an address such as 127.0.0.1:8080, found {text:?}"),
                })
        };
        let listen = address("listen", &cli.listen, &parsed.listen)?.unwrap_or(DEFAULT_LISTEN);
        let admin = address("admin", &cli.admin, &parsed.admin)?;
        let tls_cert = cli
            .tls_cert
            .clone()
            .or_else(|| parsed.tls.cert.as_ref().map(|p| base.join(p)));
        let tls_key = cli
            .tls_key
            .clone()
            .or_else(|| parsed.tls.key.as_ref().map(|p| base.join(p)));
        let tls_listen = address("tls.listen", &cli.tls_listen, &parsed.tls.listen)?;
        if let Some((missing, given)) = tls::missing_half(tls_cert.is_some(), tls_key.is_some()) {
            let from_cli = match given {
                "cert" => cli.tls_cert.is_some(),
                _ => cli.tls_key.is_some(),
            };
            return Err(ConfigError::Invalid {
                path: if from_cli {
                    PathBuf::from(format!("--tls-{given}"))
                } else {
                    source.clone()
                },
                key: format!("tls.{missing}"),
                message: format!(
                    "tls.{given} is given but tls.{missing} is missing: TLS needs both the \
                     certificate and its private key (or neither)"
                ),
            });
        }
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsSettings {
                cert,
                key,
                listen: tls_listen,
            }),
            _ if tls_listen.is_some() => {
                return Err(ConfigError::Invalid {
                    path: if cli.tls_listen.is_some() {
                        PathBuf::from("--tls-listen")
                    } else {
                        source.clone()
                    },
                    key: "tls.listen".into(),
                    message: "a TLS listener needs tls.cert and tls.key".into(),
                })
            }
            _ => None,
        };
        let admin_token = admin::TokenSources {
            env: cli.admin_token_env.as_deref(),
            inline: parsed.admin_token.as_deref(),
            file: parsed.admin_token_file.as_ref().map(|p| base.join(p)),
            config: &source,
        }
        .resolve()?;
        let admin_source = if cli.admin.is_some() {
            PathBuf::from("--admin")
        } else {
            source.clone()
        };
        admin::check_exposure(admin, admin_token.as_ref(), &admin_source)?;
        let plugins_dir = cli
            .plugins_dir
            .clone()
            .or_else(|| parsed.plugins.as_ref().map(|p| base.join(p)))
            .unwrap_or_else(|| PathBuf::from("plugins"));
        let cache_dir = if cli.no_cache {
            None
        } else {
            Some(
                cli.cache_dir
                    .clone()
                    .or_else(|| parsed.cache_dir.as_ref().map(|p| base.join(p)))
                    .unwrap_or_else(|| plugins_dir.join(".wasmsock-cache")),
            )
        };
        let layer = match cli.layer.as_ref().or(parsed.layer.as_ref()) {
            None => LayerConfig::Memory,
            Some(text) => LayerConfig::parse(text).map_err(|message| ConfigError::Invalid {
                path: if cli.layer.is_some() {
                    PathBuf::from("--layer")
                } else {
                    source.clone()
                },
                key: "layer".into(),
                message,
            })?,
        };
        let log_format = match cli.log_format.as_ref().or(parsed.log_format.as_ref()) {
            None => LogFormat::Text,
            Some(text) => match text.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Invalid {
                        path: if cli.log_format.is_some() {
                            PathBuf::from("--log-format")
                        } else {
                            source.clone()
                        },
                        key: "log_format".into(),
                        message: format!("expected \"text\" or \"json\", found {other:?}"),
                    })
                }
            },
        };
        Ok(ServerConfig {
            listen,
            admin,
            admin_token,
            plugins_dir,
            cache_dir,
            limits,
            plugin_defaults: parsed.plugin_defaults,
            layer,
            log_format,
            pool,
            shutdown_drain: parsed
                .shutdown_drain_ms
                .map_or(DEFAULT_SHUTDOWN_DRAIN, Duration::from_millis),
            tls,
        })
    }
}
