//! Turning a `.wasm` file into a type-checked component, with errors a plugin
//! author can act on.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};

use crate::runtime::bindings::ConsumerPre;
use crate::runtime::state::HostState;
use crate::runtime::WasmEngine;

/// Why a file was refused as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(#[from] std::io::Error),
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// No `\0asm` magic.
    #[error("not a WebAssembly file (it does not start with the \\0asm magic)")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "a core WebAssembly module, not a component: build for the wasm32-wasip2 target, or wrap the module with \
         `wasm-tools component new`"
    )]
    CoreModule,
    /// Malformed or truncated, or uses features the host does not enable.
    #[error("not a valid component (a half-written file looks like this too): {0:#}")]
    Invalid(anyhow::Error),
    /// Imports the host does not provide, or lacks the `handler` export.
    #[error("does not implement the wasmsock:plugin/consumer world: {0:#}")]
    WrongWorld(anyhow::Error),
    /// The component failed while being instantiated.
    #[error("fails while instantiating: {0:#}")]
    Instantiate(anyhow::Error),
    /// The compile task itself failed.
    #[error("internal error while compiling: {0}")]
    Internal(String),
}

/// A compiled, type-checked plugin file.
pub struct Compiled {
    /// The component, ready to instantiate.
    pub pre: ConsumerPre<HostState>,
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Size of the file in bytes.
    pub size: usize,
    /// Time spent compiling (or fetching from the cache).
    pub compile_time: Duration,
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Check the header before handing bytes to the compiler, so the common
/// mistakes get their own message.
pub fn sniff(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    // Bytes 4..8: a core module has version 1 (01 00) and layer 0 (00 00);
    // a component has layer 1.
    if bytes.len() >= 8 && bytes[6..8] == [0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Compile `bytes` (reusing `known` when it has the same content) and check
/// it against the world. Blocking: call from a blocking thread.
pub fn compile(
    engine: &WasmEngine,
    linker: &Linker<HostState>,
    bytes: &[u8],
    known: Option<&Component>,
) -> Result<Compiled, LoadError> {
    let start = Instant::now();
    let component = match known {
        Some(c) => c.clone(),
        None => {
            sniff(bytes)?;
            Component::new(engine.engine(), bytes).map_err(|e| LoadError::Invalid(e.into()))?
        }
    };
    let compile_time = start.elapsed();
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::WrongWorld(e.into()))?;
    let pre = ConsumerPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(e.into()))?;
    Ok(Compiled {
        pre,
        hash: content_hash(bytes),
        size: bytes.len(),
        compile_time,
    })
}
