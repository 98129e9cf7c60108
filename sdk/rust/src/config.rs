//! The plugin's own settings: the `[config]` table of its manifest.

use crate::bindings::wasmsock::plugin::config as wit_config;

/// The value for `key`, if set.
pub fn get(key: &str) -> Option<String> {
    wit_config::get(key)
}

/// Every key and value, sorted by key.
pub fn all() -> Vec<(String, String)> {
    wit_config::get_all()
}
