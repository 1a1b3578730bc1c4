//! One read through a buffer on the stack, for heads read before a session starts.
//!
//! A handshake reads two heads: the client's request and the upstream's answer, a few
//! hundred bytes each. Reading them into 4 KiB heap buffers cost two allocations of a
//! size allocators serve more slowly than small ones (glibc's per-thread cache stops at
//! 1 KiB), and touched 8 KiB of cold memory. Reading into a buffer on the stack and
//! appending only what arrived makes the heap buffer as large as the head. The stack
//! buffer lives inside one `poll`, never across an `await`: the awaiting futures stay
//! small.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// The most one read takes.
pub const STACK_READ: usize = 4096;

/// Reads once, at most `limit` bytes (and at most [`STACK_READ`]), and hands what was
/// read to `append`. `Ok(0)` at end of stream, or when `limit` is 0.
pub async fn read_appending<S>(
    io: &mut S,
    limit: usize,
    mut append: impl FnMut(&[u8]),
) -> io::Result<usize>
where
    S: AsyncRead + Unpin + ?Sized,
{
    let room = limit.min(STACK_READ);
    if room == 0 {
        return Ok(0);
    }
    poll_fn(|cx| {
        let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
        let mut read_buf = ReadBuf::uninit(stack.get_mut(..room).unwrap_or_default());
        ready!(Pin::new(&mut *io).poll_read(cx, &mut read_buf))?;
        let got = read_buf.filled();
        append(got);
        Poll::Ready(Ok(got.len()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn appends_what_one_read_returns_and_never_more_than_the_limit() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client.write_all(&[7u8; 10_000]).await.unwrap();
        let mut got = Vec::new();
        let n = read_appending(&mut server, 100, |b| got.extend_from_slice(b))
            .await
            .unwrap();
        assert_eq!((n, got.len()), (100, 100));
        let n = read_appending(&mut server, usize::MAX, |b| got.extend_from_slice(b))
            .await
            .unwrap();
        assert_eq!((n, got.len()), (STACK_READ, 100 + STACK_READ));
        assert!(got.iter().all(|&b| b == 7));
        // The heap buffer is as large as what arrived, not a read size.
        assert!(got.capacity() < 2 * (100 + STACK_READ));
    }

    #[tokio::test]
    async fn end_of_stream_and_a_zero_limit_read_nothing() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut calls = 0;
        assert_eq!(
            read_appending(&mut server, 0, |_| calls += 1)
                .await
                .unwrap(),
            0
        );
        drop(client);
        assert_eq!(
            read_appending(&mut server, 10, |_| calls += 1)
                .await
                .unwrap(),
            0
        );
        assert_eq!(calls, 1);
    }
}
