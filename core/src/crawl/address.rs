//! Which network addresses a crawl may reach: public unicast only, unless an admin allowed
//! one origin of the source to be on a private network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

/// Why an address may not be crawled, for the crawl's error report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    Private,
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation, benchmarking, reserved.
    NotRoutable,
}

impl AddressClass {
    pub fn is_public(self) -> bool {
        self == AddressClass::Public
    }

    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::NotRoutable => "non-routable",
        }
    }
}

/// The class of `ip`. IPv4 addresses embedded in IPv6 (mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918 and carrier-grade NAT (100.64.0.0/10).
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if a == 0
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || (a == 198 && (b == 18 || b == 19))
    {
        AddressClass::NotRoutable
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return classify_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() || ip.is_multicast() || (s[0] == 0x2001 && s[1] == 0x0db8) {
        AddressClass::NotRoutable
    } else if (s[0] & 0xfe00) == 0xfc00 {
        // Unique local fc00::/7.
        AddressClass::Private
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        // Link-local fe80::/10 and the deprecated site-local fec0::/10.
        AddressClass::LinkLocal
    } else if s[0..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible ::a.b.c.d (deprecated).
        classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ))
    } else {
        AddressClass::Public
    }
}

/// `scheme://host:port` of a URL, the port always written (80/443 when implicit).
pub fn origin_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!(
        "{}://{}:{port}",
        url.scheme(),
        host.to_ascii_lowercase()
    ))
}

/// Where a crawl may go. Every request, redirects included, is checked against it before it
/// is sent (scheme, IP literals) and again when its host name is resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// The one origin (`scheme://host:port`) an admin allowed on a private network.
    pub private_origin: Option<String>,
}

/// A request the policy refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only http and https URLs are crawled, not {0}:")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("URLs with a user name or password are not crawled")]
    Credentials,
    #[error("{host} is a {} address: refused (an admin can allow this source's own origin)", .class.describe())]
    Address { host: String, class: AddressClass },
    #[error("{host} resolves to {ip}, a {} address: refused (an admin can allow this source's own origin)", .class.describe())]
    Resolved {
        host: String,
        ip: IpAddr,
        class: AddressClass,
    },
    #[error("{host} does not resolve to any address")]
    NoAddress { host: String },
}

impl NetworkPolicy {
    /// True when `url` is at the admin-allowed origin.
    pub fn allows_private(&self, url: &Url) -> bool {
        self.private_origin.is_some() && origin_of(url) == self.private_origin
    }

    /// Checks what can be checked before resolving: scheme, credentials, IP literals.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let ip = match url.host() {
            None => return Err(Refusal::NoHost),
            Some(url::Host::Domain(_)) => return Ok(()),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        };
        let class = classify(ip);
        if class.is_public() || self.allows_private(url) {
            Ok(())
        } else {
            Err(Refusal::Address {
                host: url.host_str().unwrap_or_default().to_owned(),
                class,
            })
        }
    }
}

/// Checks the addresses a host name resolved to: all must be public unless `allow_private`.
/// One private address among public ones refuses the host, so a resolver cannot slip one in.
pub fn check_resolved(host: &str, ips: &[IpAddr], allow_private: bool) -> Result<(), Refusal> {
    if ips.is_empty() {
        return Err(Refusal::NoAddress {
            host: host.to_owned(),
        });
    }
    if allow_private {
        return Ok(());
    }
    match ips
        .iter()
        .map(|ip| (*ip, classify(*ip)))
        .find(|(_, c)| !c.is_public())
    {
        Some((ip, class)) => Err(Refusal::Resolved {
            host: host.to_owned(),
            ip,
            class,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().expect("ip"))
    }

    #[test]
    fn addresses_are_classified() {
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("127.8.9.10"), AddressClass::Loopback);
        assert_eq!(class("10.1.2.3"), AddressClass::Private);
        assert_eq!(class("172.16.0.1"), AddressClass::Private);
        assert_eq!(class("172.32.0.1"), AddressClass::Public);
        assert_eq!(class("192.168.1.1"), AddressClass::Private);
        assert_eq!(class("100.64.0.1"), AddressClass::Private);
        assert_eq!(class("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("0.0.0.0"), AddressClass::NotRoutable);
        assert_eq!(class("224.0.0.1"), AddressClass::NotRoutable);
        assert_eq!(class("255.255.255.255"), AddressClass::NotRoutable);
        assert_eq!(class("93.184.216.34"), AddressClass::Public);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("::"), AddressClass::NotRoutable);
        assert_eq!(class("fd00::1"), AddressClass::Private);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("::ffff:10.0.0.1"), AddressClass::Private);
        assert_eq!(class("64:ff9b::a9fe:a9fe"), AddressClass::LinkLocal);
        assert_eq!(class("2002:7f00:1::"), AddressClass::Loopback);
        assert_eq!(class("2606:4700::1111"), AddressClass::Public);
    }

    #[test]
    fn urls_are_checked_before_resolving() {
        let strict = NetworkPolicy::default();
        let url = |s: &str| Url::parse(s).expect("url");
        assert!(strict.check_url(&url("https://docs.example.com/a")).is_ok());
        assert!(matches!(
            strict.check_url(&url("ftp://example.com/")),
            Err(Refusal::Scheme(s)) if s == "ftp"
        ));
        assert!(matches!(
            strict.check_url(&url("file:///etc/passwd")),
            Err(Refusal::Scheme(_))
        ));
        assert_eq!(
            strict.check_url(&url("http://user:pw@example.com/")),
            Err(Refusal::Credentials)
        );
        assert!(matches!(
            strict.check_url(&url("http://127.0.0.1:8080/")),
            Err(Refusal::Address {
                class: AddressClass::Loopback,
                ..
            })
        ));
        assert!(matches!(
            strict.check_url(&url("http://[::ffff:169.254.169.254]/")),
            Err(Refusal::Address {
                class: AddressClass::LinkLocal,
                ..
            })
        ));
        // Decimal and hex spellings are normalised by the URL parser first.
        assert!(strict.check_url(&url("http://2130706433/")).is_err());
        assert!(strict.check_url(&url("http://0x7f.1/")).is_err());
    }

    #[test]
    fn the_admin_allowance_covers_one_origin_only() {
        let policy = NetworkPolicy {
            private_origin: Some("http://127.0.0.1:8080".into()),
        };
        let url = |s: &str| Url::parse(s).expect("url");
        assert!(policy.check_url(&url("http://127.0.0.1:8080/docs")).is_ok());
        assert!(policy.check_url(&url("http://127.0.0.1:8081/")).is_err());
        assert!(policy.check_url(&url("https://127.0.0.1:8080/")).is_err());
        assert!(policy.check_url(&url("http://10.0.0.1:8080/")).is_err());
        assert_eq!(
            origin_of(&url("https://Docs.Example.com/x")).as_deref(),
            Some("https://docs.example.com:443")
        );
    }

    #[test]
    fn resolved_addresses_must_all_be_public() {
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let private: IpAddr = "10.0.0.7".parse().expect("ip");
        assert!(check_resolved("a", &[public], false).is_ok());
        assert!(matches!(
            check_resolved("a", &[public, private], false),
            Err(Refusal::Resolved { ip, .. }) if ip == private
        ));
        assert!(check_resolved("a", &[private], true).is_ok());
        assert!(matches!(
            check_resolved("a", &[], true),
            Err(Refusal::NoAddress { .. })
        ));
    }
}
