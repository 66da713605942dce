//! The real client address behind the load balancer, for rate limiting.
//!
//! `X-Forwarded-For` is only evidence when a proxy we trust wrote it: each
//! proxy appends the address of the peer it received the request from, so
//! the list is read from the right, skipping our own proxies, and the first
//! address that is not one of them is the client. Anything to its left was
//! written by the client (or its proxies) and can be forged.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// The client's address.
///
/// - No socket peer (a Unix socket, an in-process test): `None`, since there
///   is nobody whose header could be trusted.
/// - The peer is not a trusted proxy: the peer, and `X-Forwarded-For` is
///   ignored (anyone can send the header).
/// - The peer is a trusted proxy: the entries of every `X-Forwarded-For`
///   line (in order, lines joined as if comma-separated) are walked from the
///   right; the first address that is not a trusted proxy is the client. When
///   every hop is trusted (a request from inside our network), the left-most.
/// - A malformed entry stops the walk and the last good address is used: the
///   trusted hop nearest to it, or the peer when the right-most entry is
///   malformed. That hop is the one that handed us the garbage, so it is the
///   closest address we can vouch for; choosing it (rather than `None`, which
///   would skip limiting) means a client cannot escape its limit by forging
///   junk. Empty entries (`a,,b`, trailing commas) are skipped, not malformed.
///
/// Entries may carry a port (`1.2.3.4:5678`, `[::1]:80`) or brackets
/// (`[::1]`). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as dual-stack
/// sockets report IPv4 peers) are treated as the IPv4 address.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let entries = forwarded_for
        .iter()
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    // Collected so the walk can go right to left across several lines.
    let entries: Vec<&str> = entries.collect();
    let mut last_good = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            break;
        };
        if !is_trusted(ip, trusted) {
            return Some(ip);
        }
        last_good = ip;
    }
    Some(last_good)
}

/// [`client_ip`] for a poem request: its socket peer and `X-Forwarded-For` lines.
pub fn from_request(req: &poem::Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(SocketAddr::ip);
    // Non-UTF-8 header lines cannot hold addresses; they count as garbage.
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().unwrap_or("\u{fffd}"))
        .collect();
    client_ip(peer, &lines, trusted)
}

/// The rate-limit key for an address: IPv4 as-is; IPv6 masked to its /64,
/// since one subscriber usually holds a whole /64 and could otherwise rotate
/// through addresses to dodge the limit.
pub fn rate_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let masked = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(masked))
        }
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// One `X-Forwarded-For` entry: an address, optionally bracketed and/or with
/// a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(socket) = entry.parse::<SocketAddr>() {
        socket.ip()
    } else {
        entry
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6)?
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| n.parse().expect("test network"))
            .collect()
    }

    fn trusted() -> Vec<IpNet> {
        nets(&["10.0.0.0/16", "fd00::/8"])
    }

    #[test]
    fn client_ip_without_header_is_the_peer() {
        let t = trusted();
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &[], &t),
            Some(ip("203.0.113.9"))
        );
        // A trusted peer with no header: the request came from the proxy itself.
        assert_eq!(
            client_ip(Some(ip("10.0.1.2")), &[], &t),
            Some(ip("10.0.1.2"))
        );
    }

    #[test]
    fn client_ip_without_peer_is_unknown() {
        assert_eq!(client_ip(None, &["203.0.113.9"], &trusted()), None);
    }

    #[test]
    fn client_ip_ignores_the_header_from_an_untrusted_peer() {
        // A client talking to us directly and claiming to be someone else.
        let got = client_ip(Some(ip("198.51.100.7")), &["1.2.3.4"], &trusted());
        assert_eq!(got, Some(ip("198.51.100.7")));
        // Even when it claims to be one of our proxies.
        let got = client_ip(Some(ip("198.51.100.7")), &["10.0.0.5"], &trusted());
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn client_ip_walks_a_trusted_chain_from_the_right() {
        let t = trusted();
        // client -> proxy 10.0.3.3 -> load balancer 10.0.0.1 (peer).
        let got = client_ip(Some(ip("10.0.0.1")), &["203.0.113.9, 10.0.3.3"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
        // A forged left part is ignored: the right-most untrusted entry wins.
        let got = client_ip(
            Some(ip("10.0.0.1")),
            &["6.6.6.6, 7.7.7.7, 203.0.113.9, 10.0.3.3"],
            &t,
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
        // A forged entry pretending to be a proxy, to the left of the client.
        let got = client_ip(Some(ip("10.0.0.1")), &["10.0.9.9, 203.0.113.9"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn client_ip_when_every_hop_is_trusted_is_the_left_most() {
        let got = client_ip(Some(ip("10.0.0.1")), &["10.0.5.5, 10.0.3.3"], &trusted());
        assert_eq!(got, Some(ip("10.0.5.5")));
    }

    #[test]
    fn client_ip_reads_every_header_line_in_order() {
        let t = trusted();
        // Lines join as one comma-separated list: the right-most line is nearest.
        let got = client_ip(
            Some(ip("10.0.0.1")),
            &["6.6.6.6", "203.0.113.9", "10.0.3.3"],
            &t,
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = client_ip(Some(ip("10.0.0.1")), &["6.6.6.6, 203.0.113.9", ""], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn client_ip_handles_ipv6_and_ports() {
        let t = trusted();
        let got = client_ip(Some(ip("fd00::1")), &["2001:db8::7, [fd00::2]:443"], &t);
        assert_eq!(got, Some(ip("2001:db8::7")));
        let got = client_ip(Some(ip("10.0.0.1")), &["203.0.113.9:5678"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = client_ip(Some(ip("10.0.0.1")), &["[2001:db8::7]:80"], &t);
        assert_eq!(got, Some(ip("2001:db8::7")));
        let got = client_ip(Some(ip("10.0.0.1")), &["[2001:db8::7]"], &t);
        assert_eq!(got, Some(ip("2001:db8::7")));
        // An IPv4 peer seen through a dual-stack socket is still trusted.
        let got = client_ip(Some(ip("::ffff:10.0.0.1")), &["203.0.113.9"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = client_ip(Some(ip("10.0.0.1")), &["::ffff:203.0.113.9"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn client_ip_stops_at_garbage_and_keeps_the_last_good_hop() {
        let t = trusted();
        // Garbage left of the client is never reached.
        let got = client_ip(Some(ip("10.0.0.1")), &["garbage, 203.0.113.9"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
        // Garbage right next to the peer: the peer.
        let got = client_ip(Some(ip("10.0.0.1")), &["203.0.113.9, unknown"], &t);
        assert_eq!(got, Some(ip("10.0.0.1")));
        // Garbage behind a trusted hop: that hop, not anything further left.
        let got = client_ip(
            Some(ip("10.0.0.1")),
            &["203.0.113.9, 1.2.3.4.5, 10.0.3.3"],
            &t,
        );
        assert_eq!(got, Some(ip("10.0.3.3")));
        for junk in [
            "1.2.3",
            "::g",
            "[1.2.3.4]",
            "fe80::1%eth0",
            "1.2.3.4:port",
            "\u{fffd}",
        ] {
            assert_eq!(
                client_ip(Some(ip("10.0.0.1")), &[junk], &t),
                Some(ip("10.0.0.1")),
                "{junk}"
            );
        }
        // Empty entries are formatting, not garbage.
        let got = client_ip(Some(ip("10.0.0.1")), &["203.0.113.9,, 10.0.3.3,"], &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn client_ip_with_no_trusted_proxies_is_always_the_peer() {
        let got = client_ip(Some(ip("10.0.0.1")), &["203.0.113.9"], &[]);
        assert_eq!(got, Some(ip("10.0.0.1")));
    }

    #[test]
    fn client_ip_from_a_request_without_a_socket_is_unknown() {
        let req = poem::Request::builder()
            .header("x-forwarded-for", "203.0.113.9")
            .finish();
        assert_eq!(from_request(&req, &trusted()), None);
    }

    #[test]
    fn client_ip_rate_key_masks_ipv6_to_64() {
        assert_eq!(rate_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(rate_key(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(
            rate_key(ip("2001:db8:1:2:ffff::1")),
            rate_key(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            rate_key(ip("2001:db8:1:2::1")),
            rate_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(rate_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
    }
}
