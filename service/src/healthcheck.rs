//! `startupwebapp healthcheck`: a container health check with no curl in the
//! image. One HTTP/1.1 GET to `/healthz`; healthy only on a 200.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The address to probe for a bind address: a wildcard bind is probed on loopback.
pub fn probe_address(bind: SocketAddr) -> SocketAddr {
    let mut addr = bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// Returns Ok(()) when `GET /healthz` answers 200 within `timeout`.
pub async fn check(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    tokio::time::timeout(timeout, probe(addr))
        .await
        .map_err(|_| format!("no answer from {addr} within {timeout:?}"))?
}

async fn probe(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: startupwebapp-healthcheck\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send request: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .await
        .map_err(|e| format!("cannot read response: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "unhealthy: {}",
            line.lines().next().unwrap_or("empty response")
        ))
    }
}
