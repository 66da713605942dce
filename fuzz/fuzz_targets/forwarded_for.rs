//! `X-Forwarded-For` behind trusted proxies (`http::client_ip`): the address
//! rate limits are keyed on, so a client must not be able to choose it.
//!
//! The input is `peer\ntrusted networks, comma-separated\nX-Forwarded-For
//! line\n…[\0control]` (see `split_input`); the control bytes add
//! generated addresses, networks and lines (a peer when the first line is
//! not one).
//!
//! Properties, for any peer, trusted networks and header lines:
//! - no peer gives no address; an untrusted peer is the answer whatever the
//!   header says;
//! - behind a trusted peer the answer is the peer or an address written in
//!   the header;
//! - when an untrusted hop can be reached from the right (before any
//!   malformed entry), the answer is the nearest such hop, never a trusted
//!   proxy; otherwise it is a trusted address (the furthest reachable hop or
//!   the peer);
//! - a client cannot change an untrusted answer by adding lines or entries
//!   on the left, nor does one more trusted proxy on the right change it;
//! - the rate-limit key of any answer is its IPv4 address or its IPv6 /64.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use poem::http::HeaderValue;
use startupwebapp::http::client_ip::{client_ip, rate_key};
use startupwebapp_fuzz::split_input;

#[derive(Arbitrary, Debug)]
enum Entry {
    V4 {
        ip: Ipv4Addr,
        port: Option<u16>,
    },
    V6 {
        ip: Ipv6Addr,
        bracketed: bool,
        port: Option<u16>,
    },
    /// `::ffff:a.b.c.d`, as dual-stack proxies may write IPv4 clients.
    Mapped(Ipv4Addr),
    /// An address written elsewhere in the input, so trusted networks and
    /// repeated hops actually occur.
    Reuse(u8),
    Raw(String),
    Empty,
}

#[derive(Arbitrary, Debug)]
enum Line {
    Entries {
        entries: Vec<Entry>,
        compact: bool,
    },
    /// Any bytes a header line may hold (the service reads non-UTF-8 lines
    /// as U+FFFD, as `client_ip::from_request` does).
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Control {
    peer: Option<IpAddr>,
    trust_peer: bool,
    /// (index into the addresses of the input, prefix length).
    trusted: Vec<(u8, u8)>,
    extra_trusted: Vec<(IpAddr, u8)>,
    lines: Vec<Line>,
    forged_line: String,
}

/// Every address the control spells out: the peer and the literal entries.
fn pool(input: &Control, peer: Option<IpAddr>) -> Vec<IpAddr> {
    let mut pool: Vec<IpAddr> = peer.into_iter().collect();
    for line in &input.lines {
        if let Line::Entries { entries, .. } = line {
            for entry in entries {
                match entry {
                    Entry::V4 { ip, .. } => pool.push(IpAddr::V4(*ip)),
                    Entry::V6 { ip, .. } => pool.push(IpAddr::V6(*ip)),
                    Entry::Mapped(ip) => pool.push(IpAddr::V6(ip.to_ipv6_mapped())),
                    Entry::Reuse(_) | Entry::Raw(_) | Entry::Empty => {}
                }
            }
        }
    }
    pool
}

fn render(entry: &Entry, pool: &[IpAddr]) -> String {
    match entry {
        Entry::V4 { ip, port: None } => ip.to_string(),
        Entry::V4 { ip, port: Some(p) } => format!("{ip}:{p}"),
        Entry::V6 {
            ip,
            bracketed: false,
            ..
        } => ip.to_string(),
        Entry::V6 {
            ip,
            bracketed: true,
            port: None,
        } => format!("[{ip}]"),
        Entry::V6 {
            ip,
            bracketed: true,
            port: Some(p),
        } => format!("[{ip}]:{p}"),
        Entry::Mapped(ip) => format!("::ffff:{ip}"),
        Entry::Reuse(i) if !pool.is_empty() => pool[usize::from(*i) % pool.len()].to_string(),
        Entry::Reuse(_) | Entry::Empty => String::new(),
        Entry::Raw(text) => text.clone(),
    }
}

fn render_line(line: &Line, pool: &[IpAddr]) -> Option<String> {
    match line {
        Line::Entries { entries, compact } => {
            let parts: Vec<String> = entries.iter().map(|e| render(e, pool)).collect();
            Some(parts.join(if *compact { "," } else { ", " }))
        }
        // Bytes no header may carry never reach the service.
        Line::Bytes(bytes) => HeaderValue::from_bytes(bytes)
            .ok()
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned()),
    }
}

/// The documented entry grammar: an address, optionally with a port, IPv6
/// optionally bracketed; IPv4-mapped IPv6 counts as IPv4.
fn documented_parse(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

fn tokens<'a>(lines: &'a [String]) -> Vec<&'a str> {
    lines
        .iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn as_refs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

fuzz_target!(|data: &[u8]| {
    let (text, control) = split_input(data);
    let Ok(input) = Control::arbitrary_take_rest(control) else {
        return;
    };
    let mut text_lines = text.split('\n');
    let peer = match text_lines.next().map(|l| l.trim().parse::<IpAddr>()) {
        Some(Ok(ip)) => Some(ip),
        _ => input.peer,
    };
    let mut trusted: Vec<IpNet> = text_lines
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|net| net.trim().parse().ok())
        .collect();
    let mut lines: Vec<String> = text_lines.map(str::to_owned).collect();

    let pool = pool(&input, peer);
    if input.trust_peer
        && let Some(peer) = peer
    {
        trusted.push(IpNet::from(peer.to_canonical()));
    }
    for (index, prefix) in &input.trusted {
        if let Some(ip) = pool.get(usize::from(*index) % pool.len().max(1)) {
            let ip = ip.to_canonical();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            trusted.extend(IpNet::new(ip, prefix % (max + 1)).ok());
        }
    }
    for (ip, prefix) in &input.extra_trusted {
        trusted.extend(IpNet::new(*ip, *prefix).ok());
    }
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(&ip));

    lines.extend(input.lines.iter().filter_map(|l| render_line(l, &pool)));
    let answer = client_ip(peer, &as_refs(&lines), &trusted);

    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        assert_eq!(answer, None, "an answer without a peer");
        return;
    };
    let answer = answer.unwrap_or_else(|| panic!("no answer for peer {peer}"));
    rate_key_is_the_address_or_its_64(answer);
    if !is_trusted(peer) {
        assert_eq!(answer, peer, "an untrusted peer's header was believed");
        return;
    }

    let entries = tokens(&lines);
    let written: Vec<IpAddr> = entries.iter().filter_map(|t| documented_parse(t)).collect();
    assert!(
        answer == peer || written.contains(&answer),
        "{answer} is neither the peer nor in {lines:?}"
    );
    // The hops a trusted peer vouches for: from the right up to the first
    // malformed entry.
    let reachable: Vec<IpAddr> = entries
        .iter()
        .rev()
        .map_while(|t| documented_parse(t))
        .collect();
    match reachable.iter().find(|ip| !is_trusted(**ip)) {
        Some(nearest) => assert_eq!(answer, *nearest, "not the nearest untrusted hop"),
        None => {
            assert!(
                is_trusted(answer),
                "{answer} is untrusted, yet every reachable hop is trusted"
            );
            assert_eq!(answer, reachable.last().copied().unwrap_or(peer));
        }
    }

    if !is_trusted(answer) {
        let mut forged = vec![input.forged_line.clone()];
        forged.extend(lines.iter().cloned());
        assert_eq!(
            client_ip(Some(peer), &as_refs(&forged), &trusted),
            Some(answer),
            "a line added on the left changed the answer"
        );
        let mut one_more_proxy = lines.clone();
        one_more_proxy.push(peer.to_string());
        assert_eq!(
            client_ip(Some(peer), &as_refs(&one_more_proxy), &trusted),
            Some(answer),
            "one more trusted hop on the right changed the answer"
        );
    }
});

fn rate_key_is_the_address_or_its_64(ip: IpAddr) {
    let key = rate_key(ip);
    match ip.to_canonical() {
        IpAddr::V4(v4) => assert_eq!(key.parse::<Ipv4Addr>().ok(), Some(v4), "{key}"),
        IpAddr::V6(v6) => {
            let network = key
                .strip_suffix("/64")
                .and_then(|n| n.parse::<Ipv6Addr>().ok())
                .unwrap_or_else(|| panic!("IPv6 key {key:?} is not a /64"));
            assert_eq!(
                u128::from(network),
                u128::from(v6) & (u128::MAX << 64),
                "{key}"
            );
        }
    }
}
