//! `wasmsock check`: everything the loader would do to a file, reported to a
//! plugin author instead of a log, with the same messages; it says whether
//! the file is a consumer or a middleware.

use std::path::Path;
use std::time::Duration;

use super::loader::{self, LoadError, LoadSpec, LoadedAny};
use crate::config::{Limits, Manifest, PluginDefaults};
use crate::runtime::connections::Connections;
use crate::runtime::WasmEngine;

/// What `check` found out about a plugin that passed.
#[derive(Debug)]
pub struct Report {
    /// File size in bytes.
    pub size: usize,
    /// Time to compile it (no cache is used).
    pub compile_time: Duration,
    /// Every interface it imports, WASI and wasmsock alike.
    pub imports: Vec<String>,
    /// The world it implements: `consumer`, or `middleware` for a
    /// component that exports `middleware-handler`.
    pub world: &'static str,
}

/// Load, link and instantiate the component at `path` once, as the server
/// would with default settings.
pub async fn check(path: &Path) -> Result<Report, LoadError> {
    let bytes = tokio::fs::read(path).await?;
    let engine = WasmEngine::new(None).map_err(|e| LoadError::Internal(format!("{e:#}")))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    // The defaults of a plugin whose name makes a route; a file named
    // otherwise is still worth checking.
    let manifest = Manifest::defaults("check", &PluginDefaults::default())
        .map_err(|e| LoadError::Internal(e.to_string()))?;
    let loaded = loader::load_any(
        &engine,
        bytes,
        LoadSpec {
            name,
            version: 0,
            manifest: &manifest,
            max_message_size: Limits::default().max_message_size,
            reuse: None,
            log: None,
            connections: Connections::new(),
        },
    )
    .await?;
    let (component, size, compile_time, world) = match &loaded {
        LoadedAny::Consumer(c) => (
            c.spec.pre.instance_pre().component(),
            c.size,
            c.compile_time,
            "consumer",
        ),
        LoadedAny::Middleware(m) => (
            m.spec.pre.instance_pre().component(),
            m.size,
            m.compile_time,
            "middleware",
        ),
    };
    let imports = component
        .component_type()
        .imports(engine.engine())
        .map(|(name, _)| name.to_string())
        .collect();
    Ok(Report {
        size,
        compile_time,
        imports,
        world,
    })
}
