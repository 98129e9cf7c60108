//! Why a harness call failed.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::ConfigError;
use crate::plugins::loader::LoadError;

/// Why a harness call failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The file is not a plugin the server would load (same words as the
    /// server's log).
    #[error("{path}: refused: {source}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        source: LoadError,
    },
    /// The manifest given or found beside the file is invalid.
    #[error("{0}")]
    Manifest(#[from] ConfigError),
    /// The engine or linker could not be set up.
    #[error("setting up the runtime: {0}")]
    Runtime(String),
    /// No route of the plugin matches the path (the server answers 404).
    #[error("no route of the plugin matches {0} (the server would answer 404)")]
    NoRoute(String),
    /// The plugin's shard task has stopped.
    #[error("the plugin shard has stopped")]
    ShardGone,
    /// Nothing arrived in time.
    #[error("nothing received within {0:?}")]
    Timeout(Duration),
    /// The plugin closed the connection instead of sending a message.
    #[error("the plugin closed the connection: code {code}, reason {reason:?}")]
    ClosedByPlugin {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Something arrived that the call did not expect.
    #[error("expected {expected}, received {got}")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What came instead.
        got: String,
    },
    /// The connection was not accepted.
    #[error("the connection was not accepted: {0}")]
    NotAccepted(String),
    /// The connection was accepted, where a refusal was expected.
    #[error("the connection was accepted, not refused")]
    NotRejected,
}
