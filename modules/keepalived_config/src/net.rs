//! Addresses: VIPs as users write them, this host's interface addresses, which interface a VIP
//! belongs on, and the default VRRP router id.

use kubeha_runtime::net::{self, Home, HostAddr};
use kubeha_runtime::Failure;
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::IpAddr;

/// A virtual IP with its prefix length, as written in `virtual_ipaddress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vip {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Vip {
    /// `"192.168.2.88/24"` or `"192.168.2.88"` (a host address: /32, or /128 for IPv6, which is
    /// what keepalived and `ip address add` assume without a prefix).
    pub fn parse(option: &str, text: &str) -> Result<Vip, Failure> {
        let bad = |why: &str| {
            Failure::new(format!(
                "option '{option}' must be an IP address with an optional prefix length \
                 such as 192.168.2.88/24 or fd00::88/64; got '{text}' ({why})"
            ))
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let address: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = max_prefix(address);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad(&format!("the prefix length must be 0-{max}")))?,
        };
        if address.is_unspecified() || address.is_multicast() {
            return Err(bad("a VIP must be a unicast address"));
        }
        if matches!(address, IpAddr::V4(v4) if v4.is_broadcast()) {
            return Err(bad("a VIP must be a unicast address"));
        }
        Ok(Vip { address, prefix })
    }

    pub fn is_ipv6(&self) -> bool {
        self.address.is_ipv6()
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

fn max_prefix(address: IpAddr) -> u8 {
    if address.is_ipv4() {
        32
    } else {
        128
    }
}

/// The interface `vip` belongs on, by the runtime's one rule (`kubeha_runtime::net::home_of`:
/// the subnet that holds it, longest prefix first; a tie between interfaces is an error here,
/// since keepalived needs one).
pub fn interface_for(vip: IpAddr, instance: &str, local: &[HostAddr]) -> Result<String, Failure> {
    match net::home_of(local, vip) {
        Home::Interface(a) => Ok(a.interface.clone()),
        Home::Nowhere => {
            let family: Vec<String> = local
                .iter()
                .filter(|a| a.addr.is_ipv4() == vip.is_ipv4())
                .map(|a| format!("{} {}/{}", a.interface, a.addr, a.prefix))
                .collect();
            Err(Failure::new(format!(
                "no interface of this host has an address in the same subnet as the VIP {vip} \
                 (instance {instance}); this host has: {}. Set 'interface' to the interface the \
                 VIP belongs on, or check the VIP",
                if family.is_empty() {
                    "no addresses of that family".to_owned()
                } else {
                    family.join(", ")
                }
            )))
        }
        Home::Ambiguous(names) => Err(Failure::new(format!(
            "the VIP {vip} (instance {instance}) is in the subnets of several interfaces ({}); \
             set 'interface' to choose one",
            names.join(", ")
        ))),
    }
}

/// The default `virtual_router_id`: `SHA-256("<cluster_name>/<VIP address>")`, its first two
/// bytes read as a big-endian number, modulo 255, plus one. Deterministic (every host of a
/// cluster computes the same id) and different for different clusters or VIPs with
/// probability 254/255, which the VIP alone already guarantees on one segment in practice.
pub fn derived_router_id(cluster_name: &str, vip: IpAddr) -> u8 {
    let digest = Sha256::digest(format!("{cluster_name}/{vip}").as_bytes());
    let n = u16::from_be_bytes([digest[0], digest[1]]);
    // n % 255 is at most 254, so this never overflows.
    (n % 255) as u8 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(interface: &str, cidr: &str) -> HostAddr {
        let (address, prefix) = cidr.split_once('/').unwrap();
        HostAddr {
            interface: interface.into(),
            addr: address.parse().unwrap(),
            prefix: prefix.parse().unwrap(),
            up: true,
        }
    }

    #[test]
    fn vips_parse_with_and_without_prefix() {
        let v = Vip::parse("vips", "192.168.2.88/24").unwrap();
        assert_eq!(v.to_string(), "192.168.2.88/24");
        assert_eq!(
            Vip::parse("vips", "10.0.0.1").unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!(
            Vip::parse("vips", "fd00::88").unwrap().to_string(),
            "fd00::88/128"
        );
        assert_eq!(
            Vip::parse("vips", "FD00:0::88/64").unwrap().to_string(),
            "fd00::88/64"
        );
        for bad in [
            "192.168.2.300/24",
            "10.0.0.1/33",
            "fd00::1/129",
            "10.0.0.1/x",
            "",
            "0.0.0.0/0",
            "224.0.0.18",
        ] {
            let err = Vip::parse("vips[0]", bad).unwrap_err();
            assert!(
                err.msg
                    .starts_with("option 'vips[0]' must be an IP address"),
                "{bad}: {}",
                err.msg
            );
        }
    }

    #[test]
    fn detection_from_a_fake_host() {
        let host = [
            local("lo", "127.0.0.1/8"),
            local("eth0", "192.168.2.11/24"),
            local("eth0", "fd00:2::11/64"),
            local("eth1", "10.10.0.11/16"),
        ];
        assert_eq!(
            interface_for("192.168.2.88".parse().unwrap(), "VI_1", &host).unwrap(),
            "eth0"
        );
        assert_eq!(
            interface_for("10.10.200.1".parse().unwrap(), "VI_1", &host).unwrap(),
            "eth1"
        );
        assert_eq!(
            interface_for("fd00:2::88".parse().unwrap(), "VI_1", &host).unwrap(),
            "eth0"
        );
        let err = interface_for("172.16.0.5".parse().unwrap(), "VI_1", &host).unwrap_err();
        assert!(
            err.msg
                .contains("same subnet as the VIP 172.16.0.5 (instance VI_1)"),
            "{}",
            err.msg
        );
        assert!(
            err.msg.contains("eth0 192.168.2.11/24, eth1 10.10.0.11/16"),
            "{}",
            err.msg
        );
        let twice = [local("eth0", "10.0.0.1/24"), local("br0", "10.0.0.2/24")];
        let err = interface_for("10.0.0.9".parse().unwrap(), "VI_1", &twice).unwrap_err();
        assert!(
            err.msg.contains("several interfaces (br0, eth0)"),
            "{}",
            err.msg
        );
    }

    #[test]
    fn real_host_loopback_holds_127_vips() {
        let host = net::host_addresses().unwrap();
        assert!(
            host.iter().any(|a| a.interface == "lo" && a.prefix == 8),
            "{host:?}"
        );
        assert_eq!(
            interface_for("127.0.0.88".parse().unwrap(), "VI_1", &host).unwrap(),
            "lo"
        );
    }

    #[test]
    fn router_ids_are_stable_and_in_range() {
        // Pinned: changing the formula would move every deployed cluster to a new VRID.
        assert_eq!(
            derived_router_id("cluster.local", "192.168.2.88".parse().unwrap()),
            33
        );
        assert_ne!(
            derived_router_id("cluster.local", "192.168.2.88".parse().unwrap()),
            derived_router_id("prod", "192.168.2.88".parse().unwrap())
        );
        for i in 0..2000u32 {
            let id = derived_router_id(&format!("c{i}"), "10.0.0.1".parse().unwrap());
            assert!((1..=255).contains(&id));
        }
    }
}
