//! What every loaded plugin version's instances are built with, a
//! consumer's ([`ShardSpec`](super::spec::ShardSpec)) and a middleware's
//! ([`MiddlewareSpec`](super::middleware::MiddlewareSpec)) alike: one
//! struct both hold, so the manifest settings they share are read in one
//! place and cannot drift apart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::connections::Connections;
use super::health::Health;
use crate::config::{Manifest, WasiGrants};

/// The name, number, settings, grants and health of one plugin version.
pub struct VersionBase {
    /// The plugin's name (its file stem; a middleware's is what chains
    /// name it by).
    pub name: Arc<str>,
    /// Its load counter, for log lines and events (0 outside the server:
    /// `check`).
    pub version: u64,
    /// Its manifest's `[config]` values.
    pub config: Arc<BTreeMap<String, String>>,
    /// Memory cap per instance, in bytes.
    pub memory_limit: usize,
    /// CPU budget of one call.
    pub call_timeout: Duration,
    /// Log lines an instance may write per second.
    pub log_lines_per_second: u32,
    /// What the plugin may reach through WASI.
    pub grants: WasiGrants,
    /// Failures, quarantine, dropped log lines and counters of this
    /// version.
    pub health: Arc<Health>,
    /// Every connection of the server and their groups (a middleware's
    /// host state holds them too, though it imports nothing that uses
    /// them).
    pub connections: Arc<Connections>,
    /// Where its instances' log lines go (the plugin's and the host's about
    /// it): the global subscriber when `None`; the test harness captures
    /// them with its own.
    pub log: Option<tracing::Dispatch>,
}

impl VersionBase {
    /// Version `version` of plugin `name`, loaded with `manifest`; it logs
    /// to the global subscriber until `log` is set.
    pub fn new(
        name: Arc<str>,
        version: u64,
        manifest: &Manifest,
        connections: Arc<Connections>,
    ) -> VersionBase {
        VersionBase {
            name,
            version,
            config: Arc::new(manifest.config.clone()),
            memory_limit: manifest.memory_limit,
            call_timeout: manifest.call_timeout,
            log_lines_per_second: manifest.log_lines_per_second,
            grants: manifest.wasi.clone(),
            health: Arc::new(Health::new(manifest.quarantine)),
            connections,
            log: None,
        }
    }
}
