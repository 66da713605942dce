//! An in-process SMTP server on 127.0.0.1 that keeps every message it
//! accepts, so tests can assert on the mail the service really sends over the
//! wire (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT).
//! It does not advertise STARTTLS or AUTH: point the service at it with
//! `SmtpSecurity::None` and no credentials ([`crate::config_with_smtp`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// One message accepted by the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address, without angle brackets.
    pub envelope_from: String,
    /// The `RCPT TO` addresses, without angle brackets.
    pub envelope_to: Vec<String>,
    /// The DATA section after dot-unstuffing, CRLF line ends, without the
    /// terminating `.` line.
    pub raw: String,
}

impl ReceivedMail {
    fn split(&self) -> (&str, &str) {
        if let Some(i) = self.raw.find("\r\n\r\n") {
            (&self.raw[..i], &self.raw[i + 4..])
        } else if let Some(i) = self.raw.find("\n\n") {
            (&self.raw[..i], &self.raw[i + 2..])
        } else {
            (&self.raw, "")
        }
    }

    /// All header fields, unfolded, in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in self.split().0.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = out.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                out.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        out
    }

    /// The first header field called `name` (case-insensitive), unfolded but
    /// not decoded (see [`ReceivedMail::subject`] for encoded words).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The Subject with RFC 2047 encoded words (`=?utf-8?b?…?=`) decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|s| decode_encoded_words(&s))
    }

    /// The body with its `Content-Transfer-Encoding` (quoted-printable or
    /// base64) undone, as UTF-8, line ends normalised to `\n`. Single-part
    /// messages only: the service sends plain text.
    pub fn body(&self) -> String {
        let raw = self.split().1;
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(raw),
            "base64" => decode_base64(raw).unwrap_or_else(|| raw.as_bytes().to_vec()),
            _ => raw.as_bytes().to_vec(),
        };
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }

    /// Every http(s) URL in the body, in order (trailing punctuation dropped).
    pub fn links(&self) -> Vec<String> {
        let body = self.body();
        let mut links = Vec::new();
        let mut rest = body.as_str();
        loop {
            let next = [rest.find("http://"), rest.find("https://")]
                .into_iter()
                .flatten()
                .min();
            let Some(start) = next else { break };
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
                .unwrap_or(tail.len());
            let link = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            links.push(link.to_owned());
            rest = &tail[end..];
        }
        links
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
    fail_data: AtomicBool,
    rejected: AtomicUsize,
}

impl Shared {
    fn messages(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        // A panicking test thread must not hide the mail from the others.
        self.messages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running sink. Stops when dropped.
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on(0).await
    }

    /// Listens on `port` (0: any free port), e.g. one the service was already
    /// configured with while nothing listened there.
    pub async fn start_on(port: u16) -> SmtpSink {
        let socket = TcpSocket::new_v4().expect("create a TCP socket");
        socket.set_reuseaddr(true).expect("set SO_REUSEADDR");
        socket
            .bind(([127, 0, 0, 1], port).into())
            .unwrap_or_else(|e| panic!("SMTP sink cannot bind 127.0.0.1:{port}: {e}"));
        let listener = socket.listen(64).expect("listen");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        SmtpSink {
            port,
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// A sink that answers every DATA with `451` (a transient failure).
    pub async fn start_failing() -> SmtpSink {
        let sink = SmtpSink::start().await;
        sink.set_fail_data(true);
        sink
    }

    /// Switches the transient-failure mode on or off while running.
    pub fn set_fail_data(&self, fail: bool) {
        self.shared.fail_data.store(fail, Ordering::SeqCst);
    }

    /// How many DATA commands were refused with 451 so far.
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages().clone()
    }

    /// Waits until at least `n` messages arrived and returns all of them;
    /// panics when `timeout` passes first.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before checking, so an arrival in between is not missed.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let messages = self.messages();
                if messages.len() >= n {
                    return messages;
                }
                panic!(
                    "SMTP sink on port {}: expected {n} message(s) within {timeout:?}, got {}: {:#?}",
                    self.port,
                    messages.len(),
                    messages
                        .iter()
                        .map(|m| m.subject().unwrap_or_default())
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Closes the listener and every open connection.
    pub async fn stop(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping the JoinSet (when this task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream, shared.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One SMTP session. Errors just end the session, as a real server would.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = session(stream, &shared).await;
}

async fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    write
        .write_all(b"220 smtp-sink.test ESMTP ready\r\n")
        .await?;
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => {
                from = None;
                to.clear();
                b"250-smtp-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
            }
            "HELO" => {
                from = None;
                to.clear();
                b"250 smtp-sink.test\r\n"
            }
            "MAIL" => match path_after(command, "FROM:") {
                Some(address) => {
                    from = Some(address);
                    to.clear();
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (&from, path_after(command, "TO:")) {
                (None, _) => b"503 5.5.1 MAIL first\r\n",
                (Some(_), Some(address)) => {
                    to.push(address);
                    b"250 2.1.5 OK\r\n"
                }
                (Some(_), None) => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
            },
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    b"503 5.5.1 MAIL and RCPT first\r\n"
                } else if shared.fail_data.load(Ordering::SeqCst) {
                    shared.rejected.fetch_add(1, Ordering::SeqCst);
                    from = None;
                    to.clear();
                    b"451 4.3.0 Temporary failure, try again later\r\n"
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let raw = read_data(&mut read).await?;
                    let mail = ReceivedMail {
                        envelope_from: from.take().unwrap_or_default(),
                        envelope_to: std::mem::take(&mut to),
                        raw,
                    };
                    shared.messages().push(mail);
                    shared.arrived.notify_waiters();
                    b"250 2.0.0 OK queued\r\n"
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "VRFY" => b"252 2.5.2 Cannot VRFY user\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads DATA lines up to the lone `.`, undoing dot-stuffing.
async fn read_data<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<String> {
    let mut data: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        if content == b"." {
            break;
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        data.extend_from_slice(content);
        data.extend_from_slice(b"\r\n");
    }
    // The CRLF before the terminating dot belongs to the protocol.
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// `<address>` after `keyword` (e.g. `FROM:`), case-insensitive; parameters
/// such as `BODY=8BITMIME` after it are ignored.
fn path_after(command: &str, keyword: &str) -> Option<String> {
    let upper = command.to_ascii_uppercase();
    let at = upper.find(keyword)? + keyword.len();
    let rest = command[at..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_owned())
}

fn decode_quoted_printable(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            // Soft line break.
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn decode_base64(raw: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in raw.bytes() {
        if c.is_ascii_whitespace() || c == b'=' {
            continue;
        }
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes RFC 2047 encoded words; whitespace between adjacent encoded words
/// is dropped, as the RFC requires.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((decoded, len)) = encoded_word(rest) {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&decoded);
            rest = &rest[len..];
            last_was_word = true;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            pending_space.push(c);
        } else {
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(c);
            last_was_word = false;
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&pending_space);
    out
}

/// `=?charset?B|Q?text?=` at the start of `s`: the decoded text and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => decode_base64(text)?,
        "Q" | "q" => decode_quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    let consumed = s.len() - rest.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(raw: &str) -> ReceivedMail {
        ReceivedMail {
            envelope_from: String::new(),
            envelope_to: Vec::new(),
            raw: raw.to_owned(),
        }
    }

    #[test]
    fn decodes_subjects_and_bodies() {
        let m = mail(
            "Subject: =?utf-8?b?Q2Fmw6k=?=\r\n =?utf-8?q?_na=C3=AFve?= end\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n\
             Caf=C3=A9 https://example.com/a?b=3D1.\r\nsoft=\r\nbreak",
        );
        assert_eq!(m.subject().as_deref(), Some("Café naïve end"));
        assert_eq!(m.body(), "Café https://example.com/a?b=1.\nsoftbreak");
        assert_eq!(m.links(), vec!["https://example.com/a?b=1"]);
        let b = mail("Content-Transfer-Encoding: base64\r\n\r\nQ2Fmw6kgaHR0cDovL3gu\r\neS96\r\n");
        assert_eq!(b.body(), "Café http://x.y/z");
        assert_eq!(b.links(), vec!["http://x.y/z"]);
    }

    #[test]
    fn paths_ignore_parameters() {
        assert_eq!(
            path_after("MAIL FROM:<a@b.c> BODY=8BITMIME", "FROM:").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(
            path_after("rcpt to: <x@y.z>", "TO:").as_deref(),
            Some("x@y.z")
        );
    }
}
