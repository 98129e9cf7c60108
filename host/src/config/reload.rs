//! What a plugin's manifest says about its live connections when a new
//! version replaces it, when its file is removed, and what the host keeps
//! for each of them (`on_reload`, `drain_timeout_ms`,
//! `attachment_max_bytes`, `timers_max`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{check_range, ConfigError};

/// What happens to the open connections of the version in force when a new
/// version is loaded (manifest key `on_reload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnReload {
    /// Hand every connection to the new version: through its
    /// `adopt-handler` when it exports one, as they are otherwise (a
    /// stateless plugin such as echo).
    Adopt,
    /// Leave them on the old version until they close, or until
    /// `drain_timeout_ms`, when they are closed with 1012.
    Drain,
    /// Close them at once with 1012 (service restart).
    Close,
}

impl OnReload {
    /// The mode's name, as the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnReload::Adopt => "adopt",
            OnReload::Drain => "drain",
            OnReload::Close => "close",
        }
    }
}

/// Attachments are capped at this unless the manifest says otherwise.
pub const DEFAULT_ATTACHMENT_MAX_BYTES: usize = 64 << 10;

/// Timers an instance may hold unless the manifest says otherwise.
pub const DEFAULT_TIMERS_MAX: usize = 1024;

/// The most timers a manifest may allow one instance.
const MAX_TIMERS_MAX: u64 = 1_000_000;

/// The largest attachment cap a manifest may ask for.
const MAX_ATTACHMENT_MAX_BYTES: u64 = 16 << 20;

/// The longest drain a manifest may ask for: a day.
const MAX_DRAIN_MS: u64 = 86_400_000;

/// A plugin's reload settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadPolicy {
    /// The mode the manifest asks for; `None` lets the plugin decide:
    /// adopt when it exports `adopt-handler`, drain otherwise.
    pub on_reload: Option<OnReload>,
    /// How long drained connections may stay on the old version; `None`
    /// lets them stay until they close.
    pub drain_timeout: Option<Duration>,
    /// The largest attachment a connection may have, in bytes.
    pub attachment_max_bytes: usize,
    /// Timers one instance may hold at once (they move with its
    /// connections).
    pub timers_max: usize,
}

impl Default for ReloadPolicy {
    fn default() -> Self {
        ReloadPolicy {
            on_reload: None,
            drain_timeout: None,
            attachment_max_bytes: DEFAULT_ATTACHMENT_MAX_BYTES,
            timers_max: DEFAULT_TIMERS_MAX,
        }
    }
}

impl ReloadPolicy {
    /// The policy of a manifest's keys, each checked.
    pub(super) fn from_keys(
        path: &Path,
        on_reload: Option<OnReload>,
        drain_timeout_ms: Option<u64>,
        attachment_max_bytes: Option<u64>,
        timers_max: Option<u64>,
    ) -> Result<ReloadPolicy, ConfigError> {
        if let Some(max) = timers_max {
            check_range(path, "timers_max", max, 0, MAX_TIMERS_MAX)?;
        }
        if let Some(ms) = drain_timeout_ms {
            check_range(path, "drain_timeout_ms", ms, 1, MAX_DRAIN_MS)?;
        }
        if let Some(max) = attachment_max_bytes {
            check_range(
                path,
                "attachment_max_bytes",
                max,
                0,
                MAX_ATTACHMENT_MAX_BYTES,
            )?;
        }
        Ok(ReloadPolicy {
            on_reload,
            drain_timeout: drain_timeout_ms.map(Duration::from_millis),
            attachment_max_bytes: attachment_max_bytes
                .map_or(DEFAULT_ATTACHMENT_MAX_BYTES, |m| m as usize),
            timers_max: timers_max.map_or(DEFAULT_TIMERS_MAX, |m| m as usize),
        })
    }

    /// The mode in force for a version that does (`adopts`) or does not
    /// export `adopt-handler`.
    pub fn mode(&self, adopts: bool) -> OnReload {
        self.on_reload.unwrap_or(if adopts {
            OnReload::Adopt
        } else {
            OnReload::Drain
        })
    }
}
