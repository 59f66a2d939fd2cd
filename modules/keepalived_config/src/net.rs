//! Addresses: VIPs as users write them, this host's interface addresses, which interface a VIP
//! belongs on, and the default VRRP router id.

use kubeha_runtime::net::{self, Cidr, Home, HostAddr};
use kubeha_runtime::Failure;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// A VIP as `virtual_ipaddress` writes it, `address/prefix`: parsed as every module parses
/// addresses (`kubeha_runtime::net::parse_cidr`), a host address (/32, or /128 for IPv6, what
/// keepalived and `ip address add` assume) without a prefix, and a unicast address.
pub fn parse_vip(option: &str, text: &str) -> Result<Cidr, Failure> {
    let Cidr { addr, prefix } = net::parse_cidr(option, text)?;
    if addr.is_unspecified()
        || addr.is_multicast()
        || matches!(addr, IpAddr::V4(v4) if v4.is_broadcast())
    {
        return Err(Failure::new(format!(
            "option '{option}' must be a unicast address (a VIP), got '{text}'"
        )));
    }
    let host = if addr.is_ipv4() { 32 } else { 128 };
    Ok(Cidr {
        addr,
        prefix: Some(prefix.unwrap_or(host)),
    })
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

    #[test]
    fn vips_parse_with_and_without_prefix() {
        let text = |vip: &str| parse_vip("vips", vip).unwrap().to_string();
        assert_eq!(text("192.168.2.88/24"), "192.168.2.88/24");
        assert_eq!(text("10.0.0.1"), "10.0.0.1/32");
        assert_eq!(text("fd00::88"), "fd00::88/128");
        assert_eq!(text("FD00:0::88/64"), "fd00::88/64");
        for bad in [
            "192.168.2.300/24",
            "10.0.0.1/33",
            "fd00::1/129",
            "10.0.0.1/x",
            "",
        ] {
            let err = parse_vip("vips[0]", bad).unwrap_err();
            assert!(
                err.msg
                    .starts_with("option 'vips[0]' must be an IP address"),
                "{bad}: {}",
                err.msg
            );
        }
        for bad in ["0.0.0.0/0", "224.0.0.18", "255.255.255.255", "ff02::12"] {
            let err = parse_vip("vips[0]", bad).unwrap_err();
            assert!(err.msg.contains("must be a unicast address"), "{bad}");
        }
    }

    #[test]
    fn detection_from_a_fake_host() {
        let host = [
            HostAddr::fake("lo", "127.0.0.1/8"),
            HostAddr::fake("eth0", "192.168.2.11/24"),
            HostAddr::fake("eth0", "fd00:2::11/64"),
            HostAddr::fake("eth1", "10.10.0.11/16"),
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
        let twice = [
            HostAddr::fake("eth0", "10.0.0.1/24"),
            HostAddr::fake("br0", "10.0.0.2/24"),
        ];
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
