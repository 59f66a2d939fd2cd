//! The host's IP addresses, read with `getifaddrs(3)` (no `ip` command, no output parsing), and
//! the lookups modules need on them: which interface holds an address (is a VIP bound here?),
//! and which interface's subnet contains an address (where a VIP belongs).
//!
//! The lookups are plain functions over a slice, so modules test them with made-up lists.

use crate::Failure;
use serde::Serialize;
use std::net::IpAddr;

/// One address configured on an interface of this host (of its network namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostAddr {
    /// The device, e.g. `eth0`. An IPv4 label such as `eth0:vip` is reported as its device
    /// (Linux device names cannot contain `:`).
    pub interface: String,
    pub addr: IpAddr,
    /// Prefix length, from the netmask (32 or 128 when there is none).
    pub prefix: u8,
    /// Whether the interface is administratively up.
    pub up: bool,
}

impl HostAddr {
    /// Whether `ip` lies in this address's subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        same_prefix(self.addr, ip, self.prefix)
    }
}

impl std::fmt::Display for HostAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} on {}", self.addr, self.prefix, self.interface)
    }
}

/// Every IPv4 and IPv6 address on this host's interfaces, in the kernel's order.
pub fn host_addresses() -> Result<Vec<HostAddr>, Failure> {
    use nix::net::if_::InterfaceFlags;
    let entries = nix::ifaddrs::getifaddrs()
        .map_err(|e| Failure::new(format!("reading the host's addresses (getifaddrs): {e}")))?;
    let mut out = Vec::new();
    for entry in entries {
        let Some(addr) = entry.address.as_ref().and_then(ip_of) else {
            continue;
        };
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = entry
            .netmask
            .as_ref()
            .and_then(ip_of)
            .map(|mask| match mask {
                IpAddr::V4(m) => u32::from(m).count_ones() as u8,
                IpAddr::V6(m) => u128::from(m).count_ones() as u8,
            })
            .unwrap_or(full);
        let interface = match entry.interface_name.split_once(':') {
            Some((device, _label)) => device.to_owned(),
            None => entry.interface_name,
        };
        out.push(HostAddr {
            interface,
            addr,
            prefix,
            up: entry.flags.contains(InterfaceFlags::IFF_UP),
        });
    }
    Ok(out)
}

fn ip_of(storage: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    storage.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// The entry that holds exactly `ip` (e.g. the VIP is bound on this host), if any.
pub fn holding(addrs: &[HostAddr], ip: IpAddr) -> Option<&HostAddr> {
    addrs.iter().find(|a| a.addr == ip)
}

/// Where an address belongs on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home<'a> {
    /// The one interface whose subnet holds it (the address that says so).
    Interface(&'a HostAddr),
    /// No interface's subnet holds it.
    Nowhere,
    /// Several interfaces hold it with the same longest prefix (their names, sorted).
    Ambiguous(Vec<&'a str>),
}

/// The one rule for which interface an address (a VIP) belongs on, used by every module: the
/// interface whose subnet contains it, the longest prefix winning as routing picks. Host routes
/// (/32, /128) of other addresses and /0 entries never match. Two interfaces tied at the longest
/// prefix are ambiguous: nothing here can choose between them.
pub fn home_of(addrs: &[HostAddr], ip: IpAddr) -> Home<'_> {
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let candidates: Vec<&HostAddr> = addrs
        .iter()
        .filter(|a| a.contains(ip) && a.prefix > 0)
        .filter(|a| a.addr == ip || a.prefix < full)
        .collect();
    let Some(best) = candidates.iter().map(|a| a.prefix).max() else {
        return Home::Nowhere;
    };
    let best: Vec<&HostAddr> = candidates
        .into_iter()
        .filter(|a| a.prefix == best)
        .collect();
    let mut names: Vec<&str> = best.iter().map(|a| a.interface.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() == 1 {
        Home::Interface(best[0])
    } else {
        Home::Ambiguous(names)
    }
}

/// An address with an optional prefix length, as inventories write VIPs
/// (`192.168.2.88` or `192.168.2.88/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// Parses `addr` or `addr/prefix`; the error names `option` and what was expected.
pub fn parse_cidr(option: &str, text: &str) -> Result<Cidr, Failure> {
    let bad = |why: String| {
        Failure::new(format!(
            "option '{option}' must be an IP address with an optional prefix length such as \
             192.168.2.88/24 or fd00::88/64; got '{text}' ({why})"
        ))
    };
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text.trim(), None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address".into()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(bad(format!("the prefix length must be 0-{max}"))),
        },
    };
    Ok(Cidr { addr, prefix })
}

#[cfg(any(test, feature = "testing"))]
impl HostAddr {
    /// A made-up address of an interface that is up, for tests: `fake("eth0", "10.0.0.11/24")`.
    pub fn fake(interface: &str, cidr: &str) -> HostAddr {
        let Ok(Cidr {
            addr,
            prefix: Some(prefix),
        }) = parse_cidr("cidr", cidr)
        else {
            panic!("not an address with a prefix length: {cidr}")
        };
        let interface = interface.into();
        HostAddr {
            interface,
            addr,
            prefix,
            up: true,
        }
    }
}

fn same_prefix(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn fake_host() -> Vec<HostAddr> {
        vec![
            HostAddr::fake("lo", "127.0.0.1/8"),
            HostAddr::fake("eth0", "10.0.0.11/24"),
            HostAddr::fake("eth0", "10.0.0.100/32"),
            HostAddr::fake("eth1", "10.0.0.130/25"),
            HostAddr::fake("lo", "::1/128"),
            HostAddr::fake("eth0", "fd00::11/64"),
            HostAddr::fake("eth0", "fe80::1/64"),
        ]
    }

    #[test]
    fn holding_finds_exact_addresses_only() {
        let host = fake_host();
        assert_eq!(holding(&host, ip("10.0.0.100")).unwrap().interface, "eth0");
        assert_eq!(holding(&host, ip("::1")).unwrap().interface, "lo");
        assert!(holding(&host, ip("10.0.0.101")).is_none());
        // 127.0.0.2 is routed locally, but no interface holds it.
        assert!(holding(&host, ip("127.0.0.2")).is_none());
    }

    #[test]
    fn home_of_uses_the_longest_prefix_and_ignores_host_routes() {
        let host = fake_host();
        let home = |text: &str| match home_of(&host, ip(text)) {
            Home::Interface(a) => Some(a.clone()),
            Home::Nowhere => None,
            Home::Ambiguous(names) => panic!("ambiguous: {names:?}"),
        };
        assert_eq!(home("10.0.0.50").unwrap().addr, ip("10.0.0.11"));
        assert_eq!(home("10.0.0.200").unwrap().interface, "eth1");
        // The /32 VIP only matches itself.
        assert_eq!(home("10.0.0.100").unwrap().prefix, 32);
        assert_eq!(home("fd00::100").unwrap().interface, "eth0");
        assert!(home("192.0.2.1").is_none());
        assert!(home("fd01::1").is_none());
        let default = vec![HostAddr::fake("eth9", "0.0.0.0/0")];
        assert_eq!(home_of(&default, ip("192.0.2.1")), Home::Nowhere);
    }

    #[test]
    fn two_interfaces_tied_at_the_longest_prefix_are_ambiguous() {
        let host = vec![
            HostAddr::fake("eth0", "10.1.0.5/24"),
            HostAddr::fake("eth1", "10.1.0.6/24"),
            HostAddr::fake("eth2", "10.0.0.1/8"),
        ];
        assert_eq!(
            home_of(&host, ip("10.1.0.100")),
            Home::Ambiguous(vec!["eth0", "eth1"])
        );
        // A longer prefix elsewhere settles it, as routing would.
        let host = vec![
            HostAddr::fake("eth0", "10.1.0.5/24"),
            HostAddr::fake("eth1", "10.1.0.6/16"),
        ];
        match home_of(&host, ip("10.1.0.100")) {
            Home::Interface(a) => assert_eq!(a.interface, "eth0"),
            other => panic!("{other:?}"),
        }
        // Two addresses of one interface are one home.
        let host = vec![
            HostAddr::fake("eth0", "10.1.0.5/24"),
            HostAddr::fake("eth0", "10.1.0.6/24"),
        ];
        assert!(matches!(
            home_of(&host, ip("10.1.0.100")),
            Home::Interface(_)
        ));
    }

    #[test]
    fn contains_handles_edges() {
        assert!(HostAddr::fake("x", "10.0.0.1/0").contains(ip("192.0.2.1")));
        assert!(HostAddr::fake("x", "10.0.0.1/32").contains(ip("10.0.0.1")));
        assert!(!HostAddr::fake("x", "10.0.0.1/32").contains(ip("10.0.0.2")));
        assert!(!HostAddr::fake("x", "10.0.0.1/8").contains(ip("::1")));
        assert!(HostAddr::fake("x", "fd00::1/128").contains(ip("fd00::1")));
    }

    #[test]
    fn cidrs_parse_with_clear_errors() {
        assert_eq!(
            parse_cidr("vips", "10.0.0.100/24").unwrap(),
            Cidr {
                addr: ip("10.0.0.100"),
                prefix: Some(24)
            }
        );
        assert_eq!(parse_cidr("vips", "fd00::1").unwrap().prefix, None);
        assert_eq!(
            parse_cidr("vips", "fd00::1/64").unwrap().to_string(),
            "fd00::1/64"
        );
        let err = parse_cidr("vips[1]", "10.0.0.1/33").unwrap_err();
        assert_eq!(
            err.msg,
            "option 'vips[1]' must be an IP address with an optional prefix length such as \
             192.168.2.88/24 or fd00::88/64; got '10.0.0.1/33' (the prefix length must be 0-32)"
        );
        for bad in [
            "",
            "10.0.0",
            "10.0.0.1/",
            "10.0.0.1/x",
            "10.0.0.1/-1",
            "vip.example/24",
        ] {
            let err = parse_cidr("vips", bad).unwrap_err();
            assert!(
                err.msg.starts_with("option 'vips' must be an IP address"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn this_host_has_loopback() {
        let host = host_addresses().unwrap();
        let lo = holding(&host, ip("127.0.0.1")).expect("127.0.0.1 is configured");
        assert_eq!((lo.interface.as_str(), lo.prefix, lo.up), ("lo", 8, true));
    }
}
