//! Running plugins: the wasmtime engine, the generated bindings, the host
//! side of each imported interface, and shards (a store and instance owned by
//! one task).

pub mod bindings;
pub mod engine;
pub mod health;
mod imports;
pub mod log_budget;
pub mod shard;
pub mod state;
mod stdio;

pub use engine::WasmEngine;
pub use imports::{add_to_linker, linker, sendable_close_code, MAX_CLOSE_REASON};

/// The error a call fails with when it runs past its CPU budget.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the call ran past its CPU deadline")]
pub struct DeadlineExceeded;
