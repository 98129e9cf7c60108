//! Host implementations of the interfaces the `consumer` world imports, one
//! file per interface, and the function that adds them all to a linker.

mod async_io;
mod attachment;
mod channel;
mod config;
mod connection;
mod groups;
mod identity;
mod log;
pub(super) mod sync_io;
mod timers;

pub(super) use log::{truncate_log_line, MAX_LOG_LINE};

use wasmtime::component::{HasSelf, Linker};

use super::bindings::{wasmsock, Consumer};
use super::state::HostState;

/// A linker with everything a plugin may import; the engine wrapper owns
/// the ones a server uses. With `sync`, WASI's functions are all
/// synchronous, so instances need no async call (and no fiber); else its
/// blocking ones are async and yield to tokio. Either way a WASI wait ends
/// at the call's deadline (`sync_io`, `async_io`).
pub(super) fn linker(engine: &wasmtime::Engine, sync: bool) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    if sync {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        sync_io::shadow(&mut linker)?;
    } else {
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        async_io::shadow(&mut linker)?;
    }
    Consumer::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}

impl wasmsock::plugin::types::Host for HostState {}
