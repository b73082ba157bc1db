//! Who the client is, for rate limits: the peer address of the connection, or — only when
//! that peer is a configured proxy — the nearest address in `X-Forwarded-For` that is not a
//! proxy. IPv6 clients are keyed by their /64, which one host usually holds whole.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// The client a request counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey(pub String);

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client's address: `peer` unless it is a trusted proxy, then the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (entries left of it are the client's
/// own claims and may be forged).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = *hop;
        if !trusted(*hop, proxies) {
            break;
        }
    }
    client
}

/// The key for limits: the address, an IPv6 one cut to its /64.
pub fn client_key(address: IpAddr) -> ClientKey {
    match address {
        IpAddr::V4(v4) => ClientKey(v4.to_string()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ClientKey(v4.to_string()),
            None => {
                let s = v6.segments();
                ClientKey(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
            }
        },
    }
}

/// The client of a request. A router served without connection info (in-process tests)
/// puts every request under one key, which limits all of them together.
pub fn client_of(extensions: &Extensions, headers: &HeaderMap, proxies: &[IpNet]) -> ClientKey {
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => client_key(client_address(peer.ip(), headers, proxies)),
        None => ClientKey("unknown".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().expect("header"));
        h
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies =
            super::super::settings::parse_networks("10.0.0.0/8, 192.168.1.7").expect("networks");
        let peer: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(
            client_address(peer, &xff("1.2.3.4"), &proxies),
            peer,
            "untrusted peer"
        );
        let proxy: IpAddr = "10.1.2.3".parse().expect("ip");
        assert_eq!(
            client_address(proxy, &xff("6.6.6.6, 1.2.3.4"), &proxies).to_string(),
            "1.2.3.4",
            "the right-most entry the proxy added, not the client's forged one"
        );
        assert_eq!(
            client_address(proxy, &xff("1.2.3.4, 192.168.1.7"), &proxies).to_string(),
            "1.2.3.4",
            "through two proxies"
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &proxies), proxy);
        assert_eq!(
            client_key("2001:db8:1:2:3:4:5:6".parse().expect("ip")).0,
            "2001:db8:1:2::/64"
        );
        assert!(super::super::settings::parse_networks("10.0.0.0/33").is_err());
    }
}
