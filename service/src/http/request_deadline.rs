//! Cuts off slow clients (slowloris): a connection must deliver its request
//! within a time limit, counted from connecting and, on a kept-alive
//! connection, from the first byte of each further request, until the
//! service starts writing the answer. hyper's own header-read timeout needs a
//! timer that poem's server does not install, and poem's idle timeout is
//! reset by every byte, so a client trickling one byte a second would hold a
//! connection (and a task) forever without this.
//!
//! It works at the socket level, under HTTP parsing: reads fail with
//! `TimedOut` once the deadline passes, and hyper closes the connection. A
//! kept-alive connection with no request under way has no deadline (the load
//! balancer in front owns idle connections).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Wraps every accepted connection in a [`DeadlineIo`].
pub struct DeadlineAcceptor<A> {
    inner: A,
    limit: Duration,
}

impl<A> DeadlineAcceptor<A> {
    pub fn new(inner: A, limit: Duration) -> Self {
        DeadlineAcceptor { inner, limit }
    }
}

impl<A: Acceptor> Acceptor for DeadlineAcceptor<A> {
    type Io = DeadlineIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((DeadlineIo::new(io, self.limit), local, remote, scheme))
    }
}

/// A connection whose reads fail once a request has taken too long to arrive.
pub struct DeadlineIo<T> {
    inner: T,
    limit: Duration,
    /// Armed while a request is being received; cleared by the first
    /// response byte written.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> DeadlineIo<T> {
    fn new(inner: T, limit: Duration) -> Self {
        DeadlineIo {
            inner,
            limit,
            // The first request must arrive within the limit of connecting.
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Polling the timer also registers this task to be woken when it
        // fires, so a client that stops sending is cut off too.
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not send its request in time",
            )));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        // The first byte of a new request on a kept-alive connection.
        if matches!(result, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && this.deadline.is_none()
        {
            this.deadline = Some(Box::pin(tokio::time::sleep(this.limit)));
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.deadline = None;
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.deadline = None;
        }
        result
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

    #[tokio::test]
    async fn a_trickling_request_times_out_and_an_answer_clears_the_deadline() {
        let limit = Duration::from_millis(300);
        let (client, server) = tokio::io::duplex(1024);
        let mut server = DeadlineIo::new(server, limit);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let mut buf = [0u8; 16];

        client_write.write_all(b"G").await.expect("write");
        assert_eq!(server.read(&mut buf).await.expect("first byte"), 1);
        // An answer clears the deadline: the connection may then idle.
        server.write_all(b"ok").await.expect("answer");
        client_read
            .read_exact(&mut [0u8; 2])
            .await
            .expect("read answer");
        tokio::time::sleep(limit * 2).await;

        // A new request's first byte arms it again; trickling does not reset it.
        let started = tokio::time::Instant::now();
        let err = loop {
            client_write.write_all(b"x").await.expect("write");
            match server.read(&mut buf).await {
                Ok(n) => assert_eq!(n, 1),
                Err(e) => break e,
            }
            assert!(started.elapsed() < limit * 3, "never cut off");
            tokio::time::sleep(limit / 6).await;
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limit);
    }
}
