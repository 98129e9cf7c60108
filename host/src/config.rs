//! Server configuration (`wasmsock.toml`) and plugin manifests (`NAME.toml`).
//!
//! Both are strict: an unknown key, a value of the wrong type or out of range
//! is an error naming the file, the key and what was expected, so a typo never
//! silently falls back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::routing::{PatternError, RoutePattern};

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

/// Limits every connection is held to. Defaults suit a public server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest complete message accepted from a client or a plugin, in bytes.
    pub max_message_size: u64,
    /// Largest single frame accepted from a client, in bytes.
    pub max_frame_size: u64,
    /// Time a client has to send a complete upgrade request, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Largest upgrade request head (request line and headers), in bytes.
    pub max_header_bytes: u64,
    /// Messages that may wait in one connection's outbound queue.
    pub outbound_queue_messages: u64,
    /// Bytes that may wait in one connection's outbound queue.
    pub outbound_queue_bytes: u64,
    /// Initial read buffer of each connection, in bytes. Small keeps idle
    /// connections cheap; it grows for large frames.
    pub read_buffer_bytes: u64,
    /// Time a close handshake may take before the socket is dropped, in ms.
    pub close_timeout_ms: u64,
    /// Connections held at once, all plugins together (handshakes included);
    /// over it a client gets HTTP 503.
    pub max_connections: u64,
    /// A ping is sent after this long without a frame from the client, in
    /// ms; 0 turns keepalive off.
    pub ping_interval_ms: u64,
    /// A client that sends nothing (not even the pong) this long after a
    /// ping is taken for dead and dropped, in ms.
    pub ping_timeout_ms: u64,
    /// Close a connection after this long without a data message from the
    /// client (1001, "idle timeout"), in ms; 0 (the default) never does.
    pub idle_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            handshake_timeout_ms: 10_000,
            max_header_bytes: 16 << 10,
            outbound_queue_messages: 1024,
            outbound_queue_bytes: 32 << 20,
            read_buffer_bytes: 4 << 10,
            close_timeout_ms: 5_000,
            max_connections: 100_000,
            ping_interval_ms: 30_000,
            ping_timeout_ms: 10_000,
            idle_timeout_ms: 0,
        }
    }
}

impl Limits {
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let gib = 1u64 << 30;
        check_range(
            path,
            "limits.max_message_size",
            self.max_message_size,
            1,
            gib,
        )?;
        check_range(path, "limits.max_frame_size", self.max_frame_size, 1, gib)?;
        check_range(
            path,
            "limits.handshake_timeout_ms",
            self.handshake_timeout_ms,
            1,
            3_600_000,
        )?;
        check_range(
            path,
            "limits.max_header_bytes",
            self.max_header_bytes,
            256,
            1 << 20,
        )?;
        check_range(
            path,
            "limits.outbound_queue_messages",
            self.outbound_queue_messages,
            1,
            1 << 20,
        )?;
        check_range(
            path,
            "limits.outbound_queue_bytes",
            self.outbound_queue_bytes,
            1,
            4 * gib,
        )?;
        check_range(
            path,
            "limits.read_buffer_bytes",
            self.read_buffer_bytes,
            64,
            16 << 20,
        )?;
        check_range(
            path,
            "limits.close_timeout_ms",
            self.close_timeout_ms,
            1,
            600_000,
        )?;
        check_range(
            path,
            "limits.max_connections",
            self.max_connections,
            1,
            10_000_000,
        )?;
        check_range(
            path,
            "limits.ping_interval_ms",
            self.ping_interval_ms,
            0,
            86_400_000,
        )?;
        check_range(
            path,
            "limits.ping_timeout_ms",
            self.ping_timeout_ms,
            1,
            3_600_000,
        )?;
        check_range(
            path,
            "limits.idle_timeout_ms",
            self.idle_timeout_ms,
            0,
            86_400_000,
        )
    }

    /// The handshake deadline as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
}

/// How a plugin's instances are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceMode {
    /// A fixed number of shards, each serving many connections.
    Shared,
    /// A fresh instance for every connection, dropped when it closes.
    PerConnection,
}

/// Settings a plugin inherits unless its manifest overrides them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginDefaults {
    /// Instance layout.
    pub instance: InstanceMode,
    /// Shards per plugin in shared mode.
    pub shards: u64,
    /// Linear memory (and table) cap per instance, in MiB.
    pub memory_limit_mb: u64,
    /// Wall-clock CPU budget of one call into the plugin, in ms.
    pub call_timeout_ms: u64,
    /// Browser origins allowed to connect (`https://example.com`); empty
    /// allows every origin. Requests without an `Origin` header (clients
    /// that are not browsers) are not affected.
    pub allowed_origins: Vec<String>,
}

impl Default for PluginDefaults {
    fn default() -> Self {
        PluginDefaults {
            instance: InstanceMode::Shared,
            shards: 1,
            memory_limit_mb: 64,
            call_timeout_ms: 100,
            allowed_origins: Vec::new(),
        }
    }
}

const MAX_SHARDS: u64 = 256;

impl PluginDefaults {
    fn validate(&self, path: &Path, prefix: &str) -> Result<(), ConfigError> {
        check_range(path, &format!("{prefix}shards"), self.shards, 1, MAX_SHARDS)?;
        check_range(
            path,
            &format!("{prefix}memory_limit_mb"),
            self.memory_limit_mb,
            1,
            4096,
        )?;
        check_range(
            path,
            &format!("{prefix}call_timeout_ms"),
            self.call_timeout_ms,
            1,
            600_000,
        )?;
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            let valid = origin.contains("://")
                && !origin.ends_with('/')
                && !origin.contains(char::is_whitespace);
            if !valid {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    key: format!("{prefix}allowed_origins[{i}]"),
                    message: format!(
                        "expected an origin such as \"https://example.com\", found {origin:?}"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The server configuration file, every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerFile {
    /// Address to listen on.
    pub listen: Option<String>,
    /// The plugins folder; relative paths are taken from the file's folder.
    pub plugins: Option<PathBuf>,
    /// Folder for compiled plugin artifacts; relative as above.
    pub cache_dir: Option<PathBuf>,
    /// Connection limits.
    pub limits: Limits,
    /// Defaults for every plugin.
    pub plugin_defaults: PluginDefaults,
}

/// The effective server configuration: file, then CLI overrides.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The plugins folder.
    pub plugins_dir: PathBuf,
    /// Compiled-artifact cache folder; `None` disables the on-disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Connection limits.
    pub limits: Limits,
    /// Defaults for every plugin.
    pub plugin_defaults: PluginDefaults,
}

/// Command-line values that override the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--plugins`.
    pub plugins_dir: Option<PathBuf>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache`.
    pub no_cache: bool,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServerConfig {
    /// Read the optional config file and apply the command-line overrides.
    pub fn load(file: Option<&Path>, cli: &Overrides) -> Result<ServerConfig, ConfigError> {
        let (parsed, base, source) = match file {
            Some(path) => {
                let parsed: ServerFile = parse_toml(path, &read(path)?)?;
                parsed.limits.validate(path)?;
                parsed.plugin_defaults.validate(path, "plugin_defaults.")?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (parsed, base, path.to_path_buf())
            }
            None => (
                ServerFile::default(),
                PathBuf::new(),
                PathBuf::from("command line"),
            ),
        };
        let listen_text = cli
            .listen
            .clone()
            .or(parsed.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::Invalid {
                path: if cli.listen.is_some() {
                    PathBuf::from("--listen")
                } else {
                    source.clone()
                },
                key: "listen".into(),
                message: format!(
                    "expected an address such as 127.0.0.1:8080, found {listen_text:?}"
                ),
            })?;
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
        Ok(ServerConfig {
            listen,
            plugins_dir,
            cache_dir,
            limits: parsed.limits,
            plugin_defaults: parsed.plugin_defaults,
        })
    }
}

/// A plugin manifest (`NAME.toml` beside `NAME.wasm`), every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ManifestFile {
    routes: Option<Vec<String>>,
    instance: Option<InstanceMode>,
    shards: Option<u64>,
    memory_limit_mb: Option<u64>,
    call_timeout_ms: Option<u64>,
    max_connections: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    config: BTreeMap<String, toml::Value>,
}

/// A plugin's effective settings: manifest over server defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The routes it serves; `/NAME` when the manifest names none.
    pub routes: Vec<RoutePattern>,
    /// Instance layout.
    pub instance: InstanceMode,
    /// Shards in shared mode.
    pub shards: usize,
    /// Memory cap per instance, in bytes.
    pub memory_limit: usize,
    /// CPU budget of one call.
    pub call_timeout: Duration,
    /// Connections this plugin may hold at once (all its versions
    /// together); `None` leaves only the server's limit.
    pub max_connections: Option<u64>,
    /// Origins allowed to connect, lower-case; empty allows all.
    pub allowed_origins: Vec<String>,
    /// Values the plugin reads through the `config` interface.
    pub config: BTreeMap<String, String>,
}

impl Manifest {
    /// The settings of a plugin that has no manifest.
    pub fn defaults(name: &str, defaults: &PluginDefaults) -> Result<Manifest, PatternError> {
        Ok(Manifest {
            routes: vec![RoutePattern::parse(&format!("/{name}"))?],
            instance: defaults.instance,
            shards: defaults.shards as usize,
            memory_limit: (defaults.memory_limit_mb as usize) << 20,
            call_timeout: Duration::from_millis(defaults.call_timeout_ms),
            max_connections: None,
            allowed_origins: defaults
                .allowed_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            config: BTreeMap::new(),
        })
    }

    /// Parse the manifest at `path` for plugin `name`.
    pub fn load(
        path: &Path,
        name: &str,
        defaults: &PluginDefaults,
    ) -> Result<Manifest, ConfigError> {
        Manifest::parse(path, &read(path)?, name, defaults)
    }

    /// Parse manifest text; `path` only names it in errors.
    pub fn parse(
        path: &Path,
        text: &str,
        name: &str,
        defaults: &PluginDefaults,
    ) -> Result<Manifest, ConfigError> {
        let file: ManifestFile = parse_toml(path, text)?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let merged = PluginDefaults {
            instance: file.instance.unwrap_or(defaults.instance),
            shards: file.shards.unwrap_or(defaults.shards),
            memory_limit_mb: file.memory_limit_mb.unwrap_or(defaults.memory_limit_mb),
            call_timeout_ms: file.call_timeout_ms.unwrap_or(defaults.call_timeout_ms),
            allowed_origins: file
                .allowed_origins
                .unwrap_or_else(|| defaults.allowed_origins.clone()),
        };
        merged.validate(path, "")?;
        let mut manifest = Manifest::defaults(name, &merged).map_err(|e| {
            invalid(
                "routes",
                format!("the default route /{name} is not valid: {e}"),
            )
        })?;
        if let Some(routes) = file.routes {
            if routes.is_empty() {
                return Err(invalid(
                    "routes",
                    "expected at least one route such as \"/chat/{room}\"".into(),
                ));
            }
            manifest.routes = routes
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    RoutePattern::parse(r)
                        .map_err(|e| invalid(&format!("routes[{i}]"), format!("{r:?}: {e}")))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(max) = file.max_connections {
            check_range(path, "max_connections", max, 1, 10_000_000)?;
            manifest.max_connections = Some(max);
        }
        for (key, value) in file.config {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(invalid(
                        &format!("config.{key}"),
                        format!(
                            "expected a string, number or boolean, found a {}",
                            other.type_str()
                        ),
                    ))
                }
            };
            manifest.config.insert(key, text);
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ConfigError> {
        Manifest::parse(Path::new("p/x.toml"), text, "x", &PluginDefaults::default())
    }

    #[test]
    fn manifest_defaults_to_name_route() {
        let m = parse("").expect("empty manifest is valid");
        assert_eq!(m.routes[0].as_str(), "/x");
        assert_eq!(m.shards, 1);
        assert_eq!(m.instance, InstanceMode::Shared);
    }

    #[test]
    fn manifest_errors_name_file_and_key() {
        let e = parse("shardz = 2").expect_err("unknown key").to_string();
        assert!(e.contains("p/x.toml") && e.contains("shardz"), "{e}");
        let e = parse("shards = 0").expect_err("zero shards").to_string();
        assert!(e.contains("`shards`") && e.contains("from 1 to 256"), "{e}");
        let e = parse("routes = [\"nope\"]")
            .expect_err("bad route")
            .to_string();
        assert!(
            e.contains("routes[0]") && e.contains("must start with '/'"),
            "{e}"
        );
        let e = parse("instance = \"many\"")
            .expect_err("bad mode")
            .to_string();
        assert!(
            e.contains("instance") && e.contains("per-connection"),
            "{e}"
        );
        let e = parse("[config]\nx = [1]")
            .expect_err("array config")
            .to_string();
        assert!(e.contains("config.x"), "{e}");
    }

    #[test]
    fn manifest_config_values_become_strings() {
        let m = parse("[config]\na = \"s\"\nb = 3\nc = true").expect("valid");
        assert_eq!(m.config["a"], "s");
        assert_eq!(m.config["b"], "3");
        assert_eq!(m.config["c"], "true");
    }
}
