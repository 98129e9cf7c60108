//! Running plugins: the wasmtime engine and its linker, the generated
//! bindings, the host side of each imported interface, shards (a store and
//! instance owned by one task), each connection's outbound queue and the
//! registry of every connection.

mod adopt;
pub(crate) mod bindings;
pub(crate) mod budget;
mod calls;
pub(crate) mod connections;
pub(crate) mod delivery;
pub(crate) mod engine;
pub(crate) mod health;
pub(crate) mod identity;
mod imports;
pub(crate) mod log_budget;
pub(crate) mod log_tags;
pub(crate) mod middleware;
pub(crate) mod outbox;
pub mod pool;
pub(crate) mod request;
pub(crate) mod shard;
pub(crate) mod spec;
pub(crate) mod state;
mod stdio;
pub(crate) mod timers;
pub(crate) mod version;

pub use engine::WasmEngine;
pub use pool::PoolPlan;

/// The error a call fails with when it runs past its CPU budget.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the call ran past its CPU deadline")]
pub struct DeadlineExceeded;
