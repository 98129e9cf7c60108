//! The `[pool]` table of the server file: how many per-connection instances
//! the pooling allocator keeps room for, and how large each may be.
//!
//! Per-connection plugins run on an engine of their own whose instances come
//! from one reservation made once (wasmtime's pooling allocator): no `mmap`
//! per instance, copy-on-write memory images, and a clear 503 when it is
//! full. Shared shards stay on the default engine, whose 4 GiB reservations
//! let compiled code skip bounds checks.

use std::path::Path;

use serde::Deserialize;

use super::{check_range, ConfigError};

/// The `[pool]` table as written; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolFile {
    /// `false` gives per-connection instances their own mappings, as before
    /// the pool (and no instance limit but the kernel's).
    pub enabled: Option<bool>,
    /// Per-connection instances at once, all plugins together.
    pub instances: Option<u64>,
    /// The largest linear memory of a pooled instance, in MiB.
    pub memory_mb: Option<u64>,
    /// Elements of the largest table of a pooled instance.
    pub table_elements: Option<u64>,
    /// Map each instance's initial memory copy-on-write from one image
    /// (`true`), or copy its data segments in (`false`).
    pub copy_on_write: Option<bool>,
}

/// The checked `[pool]` settings; what is not set is derived when the pool
/// is built (`runtime::pool`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// Whether per-connection plugins use the pooling allocator.
    pub enabled: bool,
    /// Instances at once; `None`: derived from `limits.max_connections`, the
    /// open-file limit and `vm.max_map_count`.
    pub instances: Option<u32>,
    /// Largest linear memory per instance, bytes; `None`: the
    /// `plugin_defaults.memory_limit_mb`.
    pub memory: Option<usize>,
    /// Largest table per instance, in elements.
    pub table_elements: u32,
    /// Copy-on-write memory images: a large image (an interpreter's
    /// initialised heap) is shared until written, at the price of two more
    /// memory mappings per instance.
    pub copy_on_write: bool,
}

/// Table elements when `[pool] table_elements` is not set: wasmtime's own
/// default, enough for CPython's and JavaScript engines' function tables.
pub const DEFAULT_TABLE_ELEMENTS: u32 = 20_000;

impl PoolFile {
    /// Check ranges and turn the file's values into settings.
    pub fn resolve(&self, path: &Path) -> Result<PoolSettings, ConfigError> {
        if let Some(n) = self.instances {
            check_range(path, "pool.instances", n, 1, 1_000_000)?;
        }
        if let Some(mb) = self.memory_mb {
            check_range(path, "pool.memory_mb", mb, 1, 4096)?;
        }
        if let Some(n) = self.table_elements {
            check_range(path, "pool.table_elements", n, 1, 10_000_000)?;
        }
        Ok(PoolSettings {
            enabled: self.enabled.unwrap_or(true),
            instances: self.instances.map(|n| n as u32),
            memory: self.memory_mb.map(|mb| (mb as usize) << 20),
            table_elements: self
                .table_elements
                .map_or(DEFAULT_TABLE_ELEMENTS, |n| n as u32),
            copy_on_write: self.copy_on_write.unwrap_or(true),
        })
    }
}

impl PoolSettings {
    /// The defaults: enabled, everything else derived.
    pub fn derived() -> PoolSettings {
        PoolSettings {
            enabled: true,
            instances: None,
            memory: None,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            copy_on_write: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PoolSettings, ConfigError> {
        let file: PoolFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t.toml".into(),
            message: e.to_string(),
        })?;
        file.resolve(Path::new("t.toml"))
    }

    #[test]
    fn unset_keys_are_derived() {
        assert_eq!(parse("").expect("empty"), PoolSettings::derived());
        let s = parse("instances = 12\nmemory_mb = 8\nenabled = false\ncopy_on_write = false")
            .expect("set");
        assert!(!s.copy_on_write);
        assert_eq!(s.instances, Some(12));
        assert_eq!(s.memory, Some(8 << 20));
        assert!(!s.enabled);
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        for (text, key) in [
            ("instances = 0", "pool.instances"),
            ("memory_mb = 5000", "pool.memory_mb"),
            ("table_elements = 0", "pool.table_elements"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(parse("slots = 3").is_err());
    }
}
