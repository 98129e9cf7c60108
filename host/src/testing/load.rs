//! How to load a plugin for a test: the file, its manifest, overrides; then
//! the server's own load path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt as _;

use super::log::LogCapture;
use super::{HarnessError, TestPlugin};
use crate::config::{InstanceMode, Limits, Manifest, PluginDefaults};
use crate::plugins::loader::{self, LoadError, LoadSpec};
use crate::plugins::Plugin;
use crate::routing::RouteTable;
use crate::runtime::connections::Connections;
use crate::runtime::WasmEngine;
use crate::session::per_ip::PerIp;
use crate::session::Admission;

/// How to load a plugin: the file, and what its manifest would say.
/// Start with [`TestPlugin::options`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The `.wasm` file.
    pub(super) path: PathBuf,
    /// Manifest text given instead of a `NAME.toml` beside the file.
    pub(super) manifest: Option<String>,
    /// `[config]` values on top of the manifest's.
    pub(super) config: BTreeMap<String, String>,
    /// `call_timeout_ms` override.
    pub(super) call_timeout: Option<Duration>,
    /// `memory_limit_mb` override.
    pub(super) memory_limit_mb: Option<u64>,
    /// Server limits that apply to the plugin.
    pub(super) limits: Limits,
}

impl LoadOptions {
    /// Use this manifest text (the `NAME.toml` format) instead of a
    /// `NAME.toml` beside the file.
    pub fn manifest(mut self, toml: impl Into<String>) -> LoadOptions {
        self.manifest = Some(toml.into());
        self
    }

    /// Set one `[config]` value (on top of the manifest's).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> LoadOptions {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Set several `[config]` values.
    pub fn with_config<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> LoadOptions {
        for (k, v) in pairs {
            self.config.insert(k.into(), v.into());
        }
        self
    }

    /// The CPU budget of one call (`call_timeout_ms`).
    pub fn call_timeout(mut self, budget: Duration) -> LoadOptions {
        self.call_timeout = Some(budget);
        self
    }

    /// The memory cap of the instance (`memory_limit_mb`).
    pub fn memory_limit_mb(mut self, mb: u64) -> LoadOptions {
        self.memory_limit_mb = Some(mb);
        self
    }

    /// Server limits that apply to the plugin: the largest message it may
    /// send and the outbound queue bounds.
    pub fn limits(mut self, limits: Limits) -> LoadOptions {
        self.limits = limits;
        self
    }

    /// Compile, link and instantiate the plugin and start its shard.
    pub async fn load(self) -> Result<TestPlugin, HarnessError> {
        let path = self.path;
        let load_err = |source| HarnessError::Load {
            path: path.clone(),
            source,
        };
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .to_string();
        let defaults = PluginDefaults::default();
        let beside = path.with_extension("toml");
        let mut manifest = match &self.manifest {
            Some(text) => Manifest::parse(&beside, text, &name, &defaults)?,
            None if beside.is_file() => Manifest::load(&beside, &name, &defaults)?,
            None => Manifest::defaults(&name, &defaults).map_err(|e| {
                HarnessError::NoRoute(format!("/{name} (the file name makes no route: {e})"))
            })?,
        };
        manifest.config.extend(self.config);
        if let Some(t) = self.call_timeout {
            manifest.call_timeout = t;
        }
        if let Some(mb) = self.memory_limit_mb {
            manifest.memory_limit = (mb as usize) << 20;
        }

        // As in the server's shared mode with one shard: every connection
        // of the test shares one instance.
        manifest.instance = InstanceMode::Shared;
        manifest.shards = 1;

        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| load_err(LoadError::Read(e)))?;
        let engine = WasmEngine::new(None).map_err(|e| HarnessError::Runtime(format!("{e:#}")))?;
        let logs = LogCapture::default();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(logs.clone()));
        let connections = Connections::new();
        let loaded = loader::load(
            &engine,
            bytes,
            LoadSpec {
                name: &name,
                version: 1,
                manifest: &manifest,
                max_message_size: self.limits.max_message_size,
                reuse: None,
                log: Some(dispatch),
                connections: connections.clone(),
            },
        )
        .await
        .map_err(load_err)?;
        let plugin = Arc::new(Plugin::start(loaded, manifest, 1, Arc::default()));
        let routes = plugin
            .manifest
            .routes
            .iter()
            .map(|r| (r.clone(), plugin.clone()));
        let (routes, _) = RouteTable::build(routes);
        Ok(TestPlugin {
            plugin,
            routes,
            admission: Admission {
                connections,
                limits: self.limits,
                // One test client, one address: the server's per-address
                // limits are not the plugin's to test.
                per_ip: PerIp::off(),
                // The harness loads one consumer: a chain naming any
                // middleware answers 503, as a server without it would.
                middleware: Default::default(),
            },
            logs,
        })
    }
}
