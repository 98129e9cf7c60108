//! WASI's waits for stores called asynchronously (shared shards, and
//! per-connection plugins granted I/O), bounded by the call's deadline.
//! Epoch ticks interrupt guest code only: a guest that waits in WASI (a
//! sleep, a read that never comes) would hold its shard, and every
//! connection the shard serves, for as long as it liked. Here such a wait
//! ends at the end of the call's budget, and the call fails as over budget,
//! exactly as a runaway loop does; a wait that is ready costs nothing more.

use std::future::Future;
use std::time::Instant;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io::{poll, streams};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, StreamError, StreamResult};

use crate::runtime::state::HostState;

/// `f`, unless the call's `deadline` comes first: then the call traps as
/// over budget.
async fn bounded<F: Future>(deadline: Instant, f: F) -> wasmtime::Result<F::Output> {
    tokio::time::timeout_at(deadline.into(), f)
        .await
        .map_err(|_| wasmtime::Error::new(crate::runtime::DeadlineExceeded))
}

/// [`bounded`] for a stream operation, whose errors carry the trap.
async fn bounded_stream<T>(
    deadline: Instant,
    f: impl Future<Output = StreamResult<T>>,
) -> StreamResult<T> {
    bounded(deadline, f).await.map_err(StreamError::Trap)?
}

/// Replace, in a linker that has wasmtime-wasi's async bindings, the
/// `wasi:io` operations that wait (poll, and the blocking stream calls)
/// with ones that stop at the call's deadline.
pub(super) fn shadow(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    poll::add_to_linker::<HostState, Io>(linker, |s| Bounded(&mut s.table, s.budget.deadline()))?;
    streams::add_to_linker::<HostState, Io>(linker, |s| {
        Bounded(&mut s.table, s.budget.deadline())
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The resource table, with the end of the call's budget.
pub(super) struct Bounded<'a>(&'a mut ResourceTable, Instant);

/// `wasi:io` through [`Bounded`].
struct Io;

impl HasData for Io {
    type Data<'a> = Bounded<'a>;
}

impl poll::Host for Bounded<'_> {
    async fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        bounded(self.1, poll::Host::poll(self.0, pollables)).await?
    }
}

impl poll::HostPollable for Bounded<'_> {
    async fn ready(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<bool> {
        bounded(self.1, poll::HostPollable::ready(self.0, p)).await?
    }
    async fn block(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        bounded(self.1, poll::HostPollable::block(self.0, p)).await?
    }
    fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(self.0, p)
    }
}

impl streams::Host for Bounded<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, err)
    }
}

impl streams::HostOutputStream for Bounded<'_> {
    async fn drop(&mut self, s: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        bounded(self.1, streams::HostOutputStream::drop(self.0, s)).await?
    }
    fn check_write(&mut self, s: Resource<DynOutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.0, s)
    }
    fn write(&mut self, s: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.0, s, bytes)
    }
    async fn blocking_write_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        let f = streams::HostOutputStream::blocking_write_and_flush(self.0, s, bytes);
        bounded_stream(self.1, f).await
    }
    async fn blocking_write_zeroes_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        let f = streams::HostOutputStream::blocking_write_zeroes_and_flush(self.0, s, len);
        bounded_stream(self.1, f).await
    }
    fn subscribe(
        &mut self,
        s: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.0, s)
    }
    fn write_zeroes(&mut self, s: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.0, s, len)
    }
    fn flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.0, s)
    }
    async fn blocking_flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        let f = streams::HostOutputStream::blocking_flush(self.0, s);
        bounded_stream(self.1, f).await
    }
    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.0, dst, src, len)
    }
    async fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let f = streams::HostOutputStream::blocking_splice(self.0, dst, src, len);
        bounded_stream(self.1, f).await
    }
}

impl streams::HostInputStream for Bounded<'_> {
    async fn drop(&mut self, s: Resource<DynInputStream>) -> wasmtime::Result<()> {
        bounded(self.1, streams::HostInputStream::drop(self.0, s)).await?
    }
    fn read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.0, s, len)
    }
    async fn blocking_read(
        &mut self,
        s: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        let f = streams::HostInputStream::blocking_read(self.0, s, len);
        bounded_stream(self.1, f).await
    }
    fn skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.0, s, len)
    }
    async fn blocking_skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        let f = streams::HostInputStream::blocking_skip(self.0, s, len);
        bounded_stream(self.1, f).await
    }
    fn subscribe(
        &mut self,
        s: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.0, s)
    }
}
