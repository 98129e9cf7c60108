//! Putting a reload's result in force: a loaded consumer takes its name's
//! place in the plugin map and the route table (the version it replaces
//! hands its connections on), a removed one leaves them; both kinds log,
//! count and record a new version the same way ([`Arrival::announce`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::loader::Loaded;
use super::{instance_mode, lock, Plugin, RefuseError, Registry};
use crate::config::Manifest;
use crate::events::{self, Kind};
use crate::routing::{RoutePattern, RouteTable};

/// A version just put in force, consumer or middleware, as its log line
/// and event describe it.
pub(super) struct Arrival<'a> {
    /// The plugin's name.
    pub name: &'a str,
    /// Its load counter.
    pub version: u64,
    /// SHA-256 of its file, hex.
    pub hash: &'a str,
    /// Size of its file in bytes.
    pub size: usize,
    /// How long compiling took.
    pub compile_time: Duration,
}

impl Arrival<'_> {
    /// Log "loaded" (or "replaced", when it took the place of a version of
    /// its own kind, which counts as a reload) `KIND `name` (version N)`
    /// followed by `tail`, and record the event with `detail`.
    pub fn announce(&self, replaced: bool, kind: &str, tail: &str, detail: &str) {
        let (name, version) = (self.name, self.version);
        tracing::info!(
            plugin = name,
            version,
            sha256 = &self.hash[..12],
            size = self.size,
            compile_ms = self.compile_time.as_millis() as u64,
            "{} {kind} `{name}` (version {version}){tail}",
            if replaced { "replaced" } else { "loaded" },
        );
        if replaced {
            crate::metrics::global().reloaded(name);
        }
        events::global().record(
            if replaced {
                Kind::Reloaded
            } else {
                Kind::Loaded
            },
            name,
            Some(version),
            detail,
        );
    }
}

impl Registry {
    /// Put a loaded consumer version in force (replacing `current`, the
    /// consumer of the same name, or a middleware, which goes): its routes
    /// are served from the next handshake, and `current`'s connections
    /// move, drain or close as the new manifest says.
    pub(super) fn put_consumer(
        &self,
        name: &str,
        loaded: Loaded,
        manifest: Manifest,
        version: u64,
        current: Option<Arc<Plugin>>,
    ) {
        self.remove_middleware(name);
        let active = current
            .as_ref()
            .map(|c| c.active.clone())
            .unwrap_or_default();
        let plugin = Arc::new(Plugin::start(loaded, manifest, version, active));
        let routes: Vec<String> = plugin
            .manifest
            .routes
            .iter()
            .map(|r| r.to_string())
            .collect();
        Arrival {
            name,
            version,
            hash: &plugin.hash,
            size: plugin.size,
            compile_time: plugin.compile_time,
        }
        .announce(
            current.is_some(),
            "plugin",
            &format!(" serving {}", routes.join(", ")),
            &format!(
                "serving {} ({}, sha256 {}, {} bytes)",
                routes.join(", "),
                instance_mode(&plugin.manifest),
                &plugin.hash[..12],
                plugin.size
            ),
        );
        lock(&self.plugins).insert(name.to_string(), plugin.clone());
        self.rebuild_routes();
        if let Some(old) = current {
            old.replaced_by(&plugin);
            lock(&self.retired).push(Arc::downgrade(&old));
        }
    }

    /// `version` of `name` is in force: the next load gets a higher number.
    pub(super) fn note_version(&self, name: &str, version: u64) {
        let mut versions = lock(&self.versions);
        let v = versions.entry(name.to_string()).or_insert(0);
        *v = (*v).max(version);
    }

    /// Refuse `manifest` if another consumer already serves one of its
    /// routes.
    pub(super) fn check_routes(
        &self,
        name: &str,
        path: &Path,
        manifest: &Manifest,
    ) -> Result<(), RefuseError> {
        let plugins = lock(&self.plugins);
        for route in &manifest.routes {
            for (owner, plugin) in plugins.iter().filter(|(n, _)| n.as_str() != name) {
                if let Some(existing) = plugin.manifest.routes.iter().find(|r| r.same_route(route))
                {
                    return Err(RefuseError::RouteTaken {
                        path: path.to_path_buf(),
                        route: route.to_string(),
                        owner: owner.clone(),
                        existing: existing.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Take `name` out of service, whichever kind it is, and forget its
    /// last refusal: its file is gone.
    pub(super) fn remove(&self, name: &str) {
        self.remove_consumer(name);
        self.remove_middleware(name);
        lock(&self.errors).remove(name);
    }

    /// Take consumer `name` out of service: its routes go, its open
    /// connections drain.
    pub(super) fn remove_consumer(&self, name: &str) {
        let removed = lock(&self.plugins).remove(name);
        if let Some(p) = removed {
            let routes: Vec<&str> = p.manifest.routes.iter().map(RoutePattern::as_str).collect();
            tracing::info!(
                plugin = name,
                "removed plugin `{name}`; {} no longer served",
                routes.join(", ")
            );
            events::global().record(
                Kind::Removed,
                name,
                Some(p.version),
                &format!("the file is gone; {} no longer served", routes.join(", ")),
            );
            self.rebuild_routes();
            p.removed();
            lock(&self.retired).push(Arc::downgrade(&p));
        }
    }

    /// Publish a route table built afresh from the consumers in force.
    fn rebuild_routes(&self) {
        let plugins = lock(&self.plugins);
        let entries = plugins.values().flat_map(|p| {
            p.manifest
                .routes
                .iter()
                .map(move |r| (r.clone(), p.clone()))
        });
        let (table, conflicts) = RouteTable::build(entries);
        for (route, plugin, existing) in conflicts {
            // check_routes prevents this; kept as a guard with a clear trace.
            tracing::error!(
                plugin = &*plugin.name,
                "route {route} conflicts with {existing}; ignored"
            );
        }
        self.routes.store(Arc::new(table));
    }
}
