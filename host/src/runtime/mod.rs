//! Running plugins: the wasmtime engine and its linker, the generated
//! bindings, the host side of each imported interface, shards (a store and
//! instance behind a lock, served by its task, or by the caller when the
//! shard is idle), each connection's outbound queue and the registry of
//! every connection.

/// Call an export of a shard's [`spec::Instance`] the way its store runs:
/// awaited on a fiber (shared shards) or directly (per-connection
/// instances). `None` when the plugin does not export the interface.
/// `call!(inst, handler.call_on_message(conn, &message))`.
macro_rules! call {
    ($inst:expr, $iface:ident . $method:ident ( $($arg:expr),* $(,)? )) => {{
        let inst: &mut $crate::runtime::spec::Instance = $inst;
        match &inst.exports {
            $crate::runtime::bindings::PluginExports::Async(e) => match e.$iface() {
                Some(h) => Some(h.$method(&mut inst.store, $($arg),*).await),
                None => None,
            },
            $crate::runtime::bindings::PluginExports::Sync(e) => e.$iface().map(|h| {
                h.$method(&mut inst.store, $($arg),*)
            }),
        }
    }};
}

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
pub(crate) mod serve;
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
