//! `wasmsock check`: everything the loader would do to a file, reported to a
//! plugin author instead of a log, with the same messages.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::loader::{self, LoadError};
use crate::config::{Manifest, PluginDefaults};
use crate::runtime::shard::ShardSpec;
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
}

/// Load, link and instantiate the component at `path` once.
pub async fn check(path: &Path) -> Result<Report, LoadError> {
    let bytes = tokio::fs::read(path).await?;
    let engine = WasmEngine::new(None).map_err(|e| LoadError::Internal(format!("{e:#}")))?;
    let linker = crate::runtime::linker(engine.engine())
        .map_err(|e| LoadError::Internal(format!("{e:#}")))?;
    let (engine2, linker2) = (engine.clone(), linker.clone());
    let compiled =
        tokio::task::spawn_blocking(move || loader::compile(&engine2, &linker2, &bytes, None))
            .await
            .map_err(|e| LoadError::Internal(e.to_string()))??;
    let component = compiled.pre.instance_pre().component().clone();
    let imports = component
        .component_type()
        .imports(engine.engine())
        .map(|(name, _)| name.to_string())
        .collect();
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let defaults = Manifest::defaults("check", &PluginDefaults::default())
        .map_err(|e| LoadError::Internal(e.to_string()))?;
    let max_message_size = crate::config::Limits::default().max_message_size as usize;
    let spec = ShardSpec::new(
        engine,
        compiled.pre,
        Arc::from(name),
        &defaults,
        max_message_size,
    );
    spec.instantiate().await.map_err(LoadError::Instantiate)?;
    Ok(Report {
        size: compiled.size,
        compile_time: compiled.compile_time,
        imports,
    })
}
