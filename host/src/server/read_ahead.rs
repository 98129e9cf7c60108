//! A socket reader that reads in large chunks only while data streams in.
//!
//! tungstenite keeps a read buffer of `read_buffer_bytes` for the life of
//! each connection and never asks the socket for more than that at once. A
//! small buffer keeps an idle connection cheap (1 KiB rather than 128 KiB),
//! but alone it would cost one `recv` per KiB of a large message.
//! [`ReadAhead`] sits between tungstenite and the socket: a read that fills
//! tungstenite's request completely says more is waiting, so from then on it
//! reads [`CHUNK`] bytes at a time into a buffer of its own and hands them
//! out; the moment the socket has nothing more, that buffer is freed. An
//! idle connection holds no read-ahead memory; a streaming one makes one
//! syscall per 64 KiB.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes asked of the socket at once while data is streaming in.
pub const CHUNK: usize = 64 << 10;

/// A stream whose reads grow to [`CHUNK`] while data arrives faster than
/// the caller's buffer takes it, and shrink back to nothing when it stops.
#[derive(Debug)]
pub struct ReadAhead<S> {
    /// The socket.
    inner: S,
    /// Read from the socket, not yet handed out. Empty, with no capacity,
    /// while the connection is quiet.
    ahead: BytesMut,
    /// The last read filled the caller's buffer: read ahead next time.
    streaming: bool,
}

impl<S> ReadAhead<S> {
    /// Wrap a stream; nothing is allocated until data streams in.
    pub fn new(inner: S) -> ReadAhead<S> {
        ReadAhead {
            inner,
            ahead: BytesMut::new(),
            streaming: false,
        }
    }

    /// The wrapped stream.
    #[cfg(test)]
    fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Capacity held for reading ahead (0 while quiet).
    #[cfg(test)]
    fn ahead_capacity(&self) -> usize {
        self.ahead.capacity()
    }

    /// Copy as much of what was read ahead as fits into `out`.
    fn hand_out(&mut self, out: &mut ReadBuf<'_>) {
        let n = self.ahead.len().min(out.remaining());
        out.put_slice(&self.ahead[..n]);
        self.ahead.advance(n);
    }

    /// The socket has nothing more for now: give the chunk back.
    fn quiet(&mut self) {
        self.streaming = false;
        self.ahead = BytesMut::new();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            this.hand_out(out);
            return Poll::Ready(Ok(()));
        }
        let want = out.remaining();
        if !this.streaming || want >= CHUNK {
            let before = out.filled().len();
            match Pin::new(&mut this.inner).poll_read(cx, out) {
                Poll::Pending => {
                    this.quiet();
                    Poll::Pending
                }
                Poll::Ready(Ok(())) => {
                    this.streaming = want > 0 && out.filled().len() - before == want;
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            }
        } else {
            this.ahead.clear();
            this.ahead.reserve(CHUNK);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.ahead) {
                Poll::Pending => {
                    this.quiet();
                    Poll::Pending
                }
                Poll::Ready(Ok(0)) => {
                    this.quiet();
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Ok(_)) => {
                    this.hand_out(out);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stream that counts the reads that returned data.
    struct Counting<S> {
        inner: S,
        reads: usize,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let r = Pin::new(&mut this.inner).poll_read(cx, out);
            if r.is_ready() {
                this.reads += 1;
            }
            r
        }
    }

    /// Reads in `step`-byte requests until `total` bytes arrived.
    async fn read_all<S: AsyncRead + Unpin>(
        r: &mut ReadAhead<S>,
        total: usize,
        step: usize,
    ) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; step];
        while got.len() < total {
            let n = r.read(&mut buf).await.expect("read");
            assert!(n > 0, "early end after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[tokio::test]
    async fn large_message_read_ahead_then_released() {
        let (mut w, r) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).await.expect("write");
        let mut r = ReadAhead::new(Counting { inner: r, reads: 0 });
        let got = read_all(&mut r, data.len(), 1024).await;
        assert_eq!(got, data, "bytes arrive whole and in order");
        // 1 KiB at a time would be 293 reads; 64 KiB chunks make it 6.
        let reads = r.get_ref().reads;
        assert!(reads <= 8, "{reads} reads of the socket for 300,000 bytes");
        // The writer is still open and silent: the next read waits, and the
        // chunk goes back.
        let mut one = [0u8; 1];
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), r.read(&mut one)).await;
        assert!(waited.is_err(), "nothing was sent, so the read waits");
        assert_eq!(r.ahead_capacity(), 0, "a quiet connection holds no chunk");
    }

    #[tokio::test]
    async fn small_reads_never_read_ahead() {
        let (mut w, r) = tokio::io::duplex(1 << 16);
        let mut r = ReadAhead::new(Counting { inner: r, reads: 0 });
        for i in 0..50u8 {
            w.write_all(&[i; 100]).await.expect("write");
            let got = read_all(&mut r, 100, 1024).await;
            assert_eq!(got, vec![i; 100]);
            assert_eq!(r.ahead_capacity(), 0);
        }
        assert_eq!(r.get_ref().reads, 50, "one read per message");
    }

    #[tokio::test]
    async fn end_of_stream_is_reported() {
        let (mut w, r) = tokio::io::duplex(1 << 16);
        w.write_all(&[7u8; 5000]).await.expect("write");
        drop(w);
        let mut r = ReadAhead::new(r);
        let got = read_all(&mut r, 5000, 1024).await;
        assert_eq!(got, vec![7u8; 5000]);
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&mut buf).await.expect("read"), 0, "end of stream");
    }
}
