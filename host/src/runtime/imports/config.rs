//! `wasmsock:plugin/config`: the plugin's own manifest values, read-only.

use crate::runtime::bindings::wasmsock::plugin::config::Host;
use crate::runtime::state::HostState;

impl Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
