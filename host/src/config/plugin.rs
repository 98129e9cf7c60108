//! Plugin settings: the server-wide defaults and each plugin's manifest
//! (`NAME.toml` beside `NAME.wasm`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::auth::{AuthFile, JwtAuth};
use super::grants::{GrantsFile, WasiGrants};
use super::reload::{OnReload, ReloadPolicy};
use super::{check_range, parse_toml, read, ConfigError};
use crate::routing::{PatternError, RoutePattern};

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
    /// Log lines (from the log import, stdout and stderr together) a shard
    /// may write per second; the rest are dropped and counted.
    pub log_lines_per_second: u64,
    /// Failures (trap, deadline, memory cap, failed rebuild) within
    /// `quarantine_window_ms` that quarantine the plugin; 0 never does.
    pub quarantine_after: u64,
    /// The window failures are counted in, in ms.
    pub quarantine_window_ms: u64,
    /// How long the first quarantine lasts, in ms; each one that follows
    /// within ten minutes of the last lasts twice as long (at most 10 min).
    pub quarantine_ms: u64,
}

impl Default for PluginDefaults {
    fn default() -> Self {
        PluginDefaults {
            instance: InstanceMode::Shared,
            shards: 1,
            memory_limit_mb: 64,
            call_timeout_ms: 100,
            allowed_origins: Vec::new(),
            log_lines_per_second: 1000,
            quarantine_after: 5,
            quarantine_window_ms: 60_000,
            quarantine_ms: 10_000,
        }
    }
}

const MAX_SHARDS: u64 = 256;

impl PluginDefaults {
    pub(super) fn validate(&self, path: &Path, prefix: &str) -> Result<(), ConfigError> {
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
        check_range(
            path,
            &format!("{prefix}log_lines_per_second"),
            self.log_lines_per_second,
            1,
            1_000_000,
        )?;
        check_range(
            path,
            &format!("{prefix}quarantine_after"),
            self.quarantine_after,
            0,
            1_000_000,
        )?;
        check_range(
            path,
            &format!("{prefix}quarantine_window_ms"),
            self.quarantine_window_ms,
            1,
            86_400_000,
        )?;
        check_range(
            path,
            &format!("{prefix}quarantine_ms"),
            self.quarantine_ms,
            1,
            86_400_000,
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
    log_lines_per_second: Option<u64>,
    quarantine_after: Option<u64>,
    quarantine_window_ms: Option<u64>,
    quarantine_ms: Option<u64>,
    on_reload: Option<OnReload>,
    drain_timeout_ms: Option<u64>,
    attachment_max_bytes: Option<u64>,
    timers_max: Option<u64>,
    middleware: Vec<String>,
    config: BTreeMap<String, toml::Value>,
    wasi: GrantsFile,
    auth: Option<AuthFile>,
}

/// When repeated failures take a plugin out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantinePolicy {
    /// Failures within `window` that quarantine; 0 never does.
    pub after: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// Length of the first quarantine; repeats double it.
    pub base: Duration,
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
    /// Log lines a shard may write per second.
    pub log_lines_per_second: u32,
    /// When failures quarantine the plugin.
    pub quarantine: QuarantinePolicy,
    /// What a reload does to its open connections, and their attachments'
    /// cap.
    pub reload: ReloadPolicy,
    /// The middleware its handshakes go through, in order, by name
    /// (resolved at each handshake).
    pub middleware: Vec<String>,
    /// Values the plugin reads through the `config` interface.
    pub config: BTreeMap<String, String>,
    /// What the plugin may reach through WASI.
    pub wasi: WasiGrants,
    /// The JWT every connection must carry (`[auth]`); `None` leaves the
    /// plugin open.
    pub auth: Option<Arc<JwtAuth>>,
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
            log_lines_per_second: defaults.log_lines_per_second as u32,
            quarantine: QuarantinePolicy {
                after: defaults.quarantine_after as u32,
                window: Duration::from_millis(defaults.quarantine_window_ms),
                base: Duration::from_millis(defaults.quarantine_ms),
            },
            reload: ReloadPolicy::default(),
            middleware: Vec::new(),
            config: BTreeMap::new(),
            wasi: WasiGrants::default(),
            auth: None,
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
            log_lines_per_second: file
                .log_lines_per_second
                .unwrap_or(defaults.log_lines_per_second),
            quarantine_after: file.quarantine_after.unwrap_or(defaults.quarantine_after),
            quarantine_window_ms: file
                .quarantine_window_ms
                .unwrap_or(defaults.quarantine_window_ms),
            quarantine_ms: file.quarantine_ms.unwrap_or(defaults.quarantine_ms),
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
        manifest.reload = ReloadPolicy::from_keys(
            path,
            file.on_reload,
            file.drain_timeout_ms,
            file.attachment_max_bytes,
            file.timers_max,
        )?;
        if let Some(max) = file.max_connections {
            check_range(path, "max_connections", max, 1, 10_000_000)?;
            manifest.max_connections = Some(max);
        }
        for (i, name) in file.middleware.iter().enumerate() {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(invalid(
                    &format!("middleware[{i}]"),
                    format!(
                        "expected the name of a middleware plugin (its file stem: letters, digits, '-' and '_'), found {name:?}"
                    ),
                ));
            }
        }
        manifest.middleware = file.middleware;
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
        let base = path.parent().unwrap_or(Path::new("."));
        manifest.wasi = file.wasi.resolve(path, base)?;
        manifest.auth = file.auth.map(|a| a.resolve(path)).transpose()?;
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
    fn reload_keys_are_read_and_checked() {
        let m = parse("on_reload = \"close\"\ndrain_timeout_ms = 250\nattachment_max_bytes = 100")
            .expect("valid");
        assert_eq!(m.reload.on_reload, Some(OnReload::Close));
        assert_eq!(m.reload.drain_timeout, Some(Duration::from_millis(250)));
        assert_eq!(m.reload.attachment_max_bytes, 100);
        let d = parse("").expect("valid");
        assert_eq!(d.reload.mode(true), OnReload::Adopt);
        assert_eq!(d.reload.mode(false), OnReload::Drain);
        assert_eq!(d.reload.attachment_max_bytes, 64 << 10);
        let e = parse("on_reload = \"swap\"")
            .expect_err("bad mode")
            .to_string();
        assert!(e.contains("on_reload") && e.contains("adopt"), "{e}");
        let e = parse("drain_timeout_ms = 0").expect_err("zero").to_string();
        assert!(e.contains("`drain_timeout_ms`"), "{e}");
    }

    #[test]
    fn middleware_names_are_read_and_checked() {
        let m = parse("middleware = [\"session-auth\", \"rate_limit\"]").expect("valid");
        assert_eq!(m.middleware, ["session-auth", "rate_limit"]);
        assert!(parse("").expect("valid").middleware.is_empty());
        let e = parse("middleware = [\"ok\", \"no/slash\"]")
            .expect_err("bad name")
            .to_string();
        assert!(e.contains("middleware[1]") && e.contains("no/slash"), "{e}");
    }

    #[test]
    fn manifest_config_values_become_strings() {
        let m = parse("[config]\na = \"s\"\nb = 3\nc = true").expect("valid");
        assert_eq!(m.config["a"], "s");
        assert_eq!(m.config["b"], "3");
        assert_eq!(m.config["c"], "true");
    }
}
