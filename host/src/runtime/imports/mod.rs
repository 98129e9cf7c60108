//! Host implementations of the interfaces the `consumer` world imports, one
//! file per interface, and the function that adds them all to a linker.

mod attachment;
mod channel;
mod config;
mod connection;
mod groups;
mod identity;
mod log;
mod timers;

pub(super) use log::{truncate_log_line, MAX_LOG_LINE};

use wasmtime::component::{HasSelf, Linker};

use super::bindings::{wasmsock, Consumer};
use super::state::HostState;

/// A linker with everything a plugin may import; the engine wrapper owns
/// the one a server uses.
pub(super) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Add WASI p2 (with nothing granted) and the wasmsock interfaces.
fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Consumer::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl wasmsock::plugin::types::Host for HostState {}
