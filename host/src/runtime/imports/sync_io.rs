//! WASI's blocking I/O for stores called synchronously (per-connection
//! instances). wasmtime-wasi's sync bindings run their async operations with
//! `Handle::block_on`, which panics on a tokio worker thread, where every
//! call runs. These run them with [`now_or_block`] instead: a stream that is
//! ready (the log streams always are) costs one poll; an operation that
//! really waits hands the worker's other tasks to another thread
//! (`block_in_place`) and waits at most until the call's deadline, after
//! which the call traps as over budget. A plugin that sleeps or waits can
//! hold a thread no longer than a runaway loop can.
//!
//! Plugins granted `[wasi]` folders or outbound TCP reach wasmtime-wasi code
//! that blocks on its own; those are not pooled but compiled for the shared
//! engine and called asynchronously (see `plugins::loader`).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tokio::runtime::RuntimeFlavor;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io as async_io;
use wasmtime_wasi::p2::bindings::sockets::{network, udp_create_socket as async_udp};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, DynPollable, SocketError, SocketResult, StreamError,
    StreamResult, UdpSocket,
};
use wasmtime_wasi::sockets::{WasiSocketsCtxView, WasiSocketsView};

use async_io::streams::{HostInputStream as AsyncIn, HostOutputStream as AsyncOut};

use crate::runtime::state::HostState;

/// Run `f` to completion on this thread: at once if it is ready, else
/// blocking in place (the worker's other tasks move to another thread)
/// until `deadline`, the end of the call's budget. Past it, or where no
/// thread can block (a current-thread runtime), the call traps.
fn now_or_block<F: Future>(deadline: Instant, f: F) -> wasmtime::Result<F::Output> {
    let mut f = pin!(f);
    if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return Ok(v);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let bounded = async move { tokio::time::timeout(left, f).await };
    let waited = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(bounded))
        }
        Ok(_) => {
            return Err(wasmtime::Error::msg(
                "a per-connection plugin waited on WASI I/O that was not ready, which a \
                 current-thread runtime cannot wait for",
            ))
        }
        Err(_) => wasmtime_wasi::runtime::in_tokio(bounded),
    };
    waited.map_err(|_| wasmtime::Error::new(crate::runtime::DeadlineExceeded))
}

/// [`now_or_block`] for an operation that answers with its own error
/// type, into which `trap` turns a failure to wait.
fn wait<T, E>(
    deadline: Instant,
    f: impl Future<Output = Result<T, E>>,
    trap: impl FnOnce(wasmtime::Error) -> E,
) -> Result<T, E> {
    now_or_block(deadline, f).map_err(trap)?
}

/// Replace, in a linker that has wasmtime-wasi's sync bindings, the
/// operations that would call `Handle::block_on` without a grant:
/// `wasi:io` (streams, poll) and `create-udp-socket`.
pub(super) fn shadow(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    poll::add_to_linker::<HostState, Io>(linker, |s| Blocking(&mut s.table, s.budget.deadline()))?;
    streams::add_to_linker::<HostState, Io>(linker, |s| {
        Blocking(&mut s.table, s.budget.deadline())
    })?;
    udp_create_socket::add_to_linker::<HostState, Udp>(linker, |s| {
        let deadline = s.budget.deadline();
        Blocking(s.sockets(), deadline)
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A view whose blocking operations run with [`now_or_block`].
/// The second field is the end of the call's budget.
pub(super) struct Blocking<V>(V, Instant);

/// `wasi:io` through [`Blocking`].
struct Io;

impl HasData for Io {
    type Data<'a> = Blocking<&'a mut ResourceTable>;
}

/// `create-udp-socket` through [`Blocking`].
struct Udp;

impl HasData for Udp {
    type Data<'a> = Blocking<WasiSocketsCtxView<'a>>;
}

impl udp_create_socket::Host for Blocking<WasiSocketsCtxView<'_>> {
    fn create_udp_socket(
        &mut self,
        family: udp_create_socket::IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        wait(
            self.1,
            async_udp::Host::create_udp_socket(&mut self.0, family),
            SocketError::trap,
        )
    }
}

// What `create-udp-socket` needs beside it: `wasi:sockets/network` as is.
impl network::Host for Blocking<WasiSocketsCtxView<'_>> {
    fn convert_error_code(&mut self, e: SocketError) -> wasmtime::Result<network::ErrorCode> {
        network::Host::convert_error_code(&mut self.0, e)
    }
    fn network_error_code(
        &mut self,
        e: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<network::ErrorCode>> {
        network::Host::network_error_code(&mut self.0, e)
    }
}

impl network::HostNetwork for Blocking<WasiSocketsCtxView<'_>> {
    fn drop(&mut self, n: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.0, n)
    }
}

impl poll::Host for Blocking<&mut ResourceTable> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        wait(self.1, async_io::poll::Host::poll(self.0, pollables), |e| e)
    }
}

impl poll::HostPollable for Blocking<&mut ResourceTable> {
    fn ready(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<bool> {
        wait(
            self.1,
            async_io::poll::HostPollable::ready(self.0, p),
            |e| e,
        )
    }
    fn block(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        wait(
            self.1,
            async_io::poll::HostPollable::block(self.0, p),
            |e| e,
        )
    }
    fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_io::poll::HostPollable::drop(self.0, p)
    }
}

impl streams::Host for Blocking<&mut ResourceTable> {
    fn convert_stream_error(
        &mut self,
        err: wasmtime_wasi::p2::StreamError,
    ) -> wasmtime::Result<streams::StreamError> {
        Ok(
            match async_io::streams::Host::convert_stream_error(self.0, err)? {
                async_io::streams::StreamError::LastOperationFailed(e) => {
                    streams::StreamError::LastOperationFailed(e)
                }
                async_io::streams::StreamError::Closed => streams::StreamError::Closed,
            },
        )
    }
}

impl streams::HostOutputStream for Blocking<&mut ResourceTable> {
    fn drop(&mut self, s: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        wait(self.1, AsyncOut::drop(self.0, s), |e| e)
    }
    fn check_write(&mut self, s: Resource<DynOutputStream>) -> StreamResult<u64> {
        AsyncOut::check_write(self.0, s)
    }
    fn write(&mut self, s: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOut::write(self.0, s, bytes)
    }
    fn blocking_write_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        wait(
            self.1,
            AsyncOut::blocking_write_and_flush(self.0, s, bytes),
            StreamError::Trap,
        )
    }
    fn blocking_write_zeroes_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        wait(
            self.1,
            AsyncOut::blocking_write_zeroes_and_flush(self.0, s, len),
            StreamError::Trap,
        )
    }
    fn subscribe(
        &mut self,
        s: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOut::subscribe(self.0, s)
    }
    fn write_zeroes(&mut self, s: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AsyncOut::write_zeroes(self.0, s, len)
    }
    fn flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        AsyncOut::flush(self.0, s)
    }
    fn blocking_flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        wait(
            self.1,
            AsyncOut::blocking_flush(self.0, s),
            StreamError::Trap,
        )
    }
    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOut::splice(self.0, dst, src, len)
    }
    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        wait(
            self.1,
            AsyncOut::blocking_splice(self.0, dst, src, len),
            StreamError::Trap,
        )
    }
}

impl streams::HostInputStream for Blocking<&mut ResourceTable> {
    fn drop(&mut self, s: Resource<DynInputStream>) -> wasmtime::Result<()> {
        wait(self.1, AsyncIn::drop(self.0, s), |e| e)
    }
    fn read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncIn::read(self.0, s, len)
    }
    fn blocking_read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        wait(
            self.1,
            AsyncIn::blocking_read(self.0, s, len),
            StreamError::Trap,
        )
    }
    fn skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncIn::skip(self.0, s, len)
    }
    fn blocking_skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        wait(
            self.1,
            AsyncIn::blocking_skip(self.0, s, len),
            StreamError::Trap,
        )
    }
    fn subscribe(
        &mut self,
        s: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncIn::subscribe(self.0, s)
    }
}
