//! The VRRP scan: listen on one interface for a bounded time, report every virtual router heard
//! (by its adverts, see [`crate::vrrp`]), and tell whether one of them collides with ours.
//!
//! Only a MASTER sends adverts, so a scan sees one router per running cluster (two during a
//! failover). Listening needs a raw socket (CAP_NET_RAW). Multicast adverts reach it once the
//! interface has joined the VRRP group, which the socket does for as long as it is open;
//! unicast adverts addressed to this host reach it anyway. Nothing is ever sent.
//!
//! Why socket2: nix 0.29's `socket` takes only its fixed list of protocols (112 is not one)
//! and `unsafe` is denied, so the raw socket, the group membership and the device binding come
//! from socket2's safe API (a thin layer over the same system calls).

use crate::vrrp::{self, Advert};
use kubeha_runtime::net::{self, HostAddr};
use kubeha_runtime::Failure;
use serde::{Deserialize, Serialize};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Longest scan accepted: a check, not a daemon.
pub const MAX_SECONDS: f64 = 60.0;
/// Ignored packets described in a warning (the rest are only counted).
const REASONS_KEPT: usize = 5;
/// Larger than any VRRP datagram (255 IPv6 addresses: 4 KiB).
const BUFFER: usize = 8192;

/// One virtual router as heard: its latest advert and how many arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
    #[serde(flatten)]
    pub advert: Advert,
    /// Adverts received from it during the scan.
    pub adverts: u64,
}

/// What a scan heard.
#[derive(Debug, Default)]
pub struct Heard {
    /// Keyed by (VRID, source, version), which sorts the report by VRID.
    routers: BTreeMap<(u8, IpAddr, u8), Router>,
    /// Packets that were not valid adverts: how many, and why (the first few).
    pub ignored: u64,
    pub reasons: Vec<String>,
}

impl Heard {
    pub fn add(&mut self, packet: Result<Advert, String>) {
        match packet {
            Ok(advert) => {
                let key = (advert.virtual_router_id, advert.source, advert.version);
                let router = self.routers.entry(key).or_insert(Router {
                    advert: advert.clone(),
                    adverts: 0,
                });
                router.advert = advert;
                router.adverts += 1;
            }
            Err(reason) => {
                self.ignored += 1;
                if self.reasons.len() < REASONS_KEPT && !self.reasons.contains(&reason) {
                    self.reasons.push(reason);
                }
            }
        }
    }

    fn merge(&mut self, other: Heard) {
        for (key, router) in other.routers {
            self.routers.insert(key, router);
        }
        self.ignored += other.ignored;
        for reason in other.reasons {
            if self.reasons.len() < REASONS_KEPT && !self.reasons.contains(&reason) {
                self.reasons.push(reason);
            }
        }
    }

    /// What a probe recorded ([`crate::record`]), as if heard now.
    pub fn from_routers(routers: Vec<Router>) -> Heard {
        let mut heard = Heard::default();
        for router in routers {
            let advert = &router.advert;
            let key = (advert.virtual_router_id, advert.source, advert.version);
            heard.routers.insert(key, router);
        }
        heard
    }

    /// The routers heard, by VRID, then source.
    pub fn routers(&self) -> Vec<Router> {
        self.routers.values().cloned().collect()
    }
}

/// Where to listen, and for how long.
#[derive(Debug, Clone)]
pub struct Listen {
    pub interface: String,
    pub duration: Duration,
    /// Also listen for IPv6 adverts, which may be addressed to the group or to any of these
    /// (this interface's IPv6 addresses); `None` when the interface has no IPv6 address.
    pub ipv6_destinations: Option<Vec<Ipv6Addr>>,
}

/// Where to listen for the VRRP adverts of `vips`: `interface`, or the one interface whose
/// subnet holds one of them (else why not, as "no one interface here is in the subnet of ...").
pub fn segment(
    interface: Option<&str>,
    vips: &[IpAddr],
    addrs: &[HostAddr],
    duration: Duration,
) -> Result<Listen, String> {
    let interface = match interface {
        Some(name) => name.to_owned(),
        None => vips
            .iter()
            .find_map(|v| match net::home_of(addrs, *v) {
                net::Home::Interface(a) => Some(a.interface.clone()),
                net::Home::Nowhere | net::Home::Ambiguous(_) => None,
            })
            .ok_or_else(|| format!("no one interface here is in the subnet of {}", list(vips)))?,
    };
    let ipv6: Vec<Ipv6Addr> = addrs
        .iter()
        .filter(|a| a.interface == interface)
        .filter_map(|a| match a.addr {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        })
        .collect();
    Ok(Listen {
        interface,
        duration,
        ipv6_destinations: (!ipv6.is_empty()).then_some(ipv6),
    })
}

/// Listens for `listen.duration` and returns what was heard. IPv4 and IPv6 are heard on
/// sockets of their own, at the same time.
pub fn listen(listen: &Listen) -> Result<Heard, Failure> {
    let index = nix::net::if_::if_nametoindex(listen.interface.as_str()).map_err(|_| {
        Failure::new(format!(
            "option 'vrrp_scan.interface': no interface named '{}' on this host",
            listen.interface
        ))
    })?;
    let deadline = Instant::now() + listen.duration;
    let v4 = open(Domain::IPV4, &listen.interface)?;
    v4.join_multicast_v4_n(&vrrp::GROUP_V4, &InterfaceIndexOrAddress::Index(index))
        .map_err(|e| socket_error("joining 224.0.0.18", &listen.interface, &e))?;
    let v6 = match &listen.ipv6_destinations {
        Some(destinations) => {
            let socket = open(Domain::IPV6, &listen.interface)?;
            socket
                .join_multicast_v6(&vrrp::GROUP_V6, index)
                .map_err(|e| socket_error("joining ff02::12", &listen.interface, &e))?;
            let mut destinations = destinations.clone();
            destinations.push(vrrp::GROUP_V6);
            Some((socket, destinations))
        }
        None => None,
    };
    std::thread::scope(|scope| {
        let ipv6 = match &v6 {
            Some((socket, destinations)) => Some(
                std::thread::Builder::new()
                    .name("vrrp-ipv6".into())
                    .spawn_scoped(scope, move || {
                        receive(socket, deadline, |s, buf| receive_v6(s, buf, destinations))
                    })
                    .map_err(|e| Failure::new(format!("starting the IPv6 listener: {e}")))?,
            ),
            None => None,
        };
        let mut heard = receive(&v4, deadline, |s, buf| {
            let n = (&*s).read(buf)?;
            Ok(vrrp::parse_ipv4(&buf[..n]))
        })?;
        if let Some(worker) = ipv6 {
            let other = worker
                .join()
                .map_err(|_| Failure::new("the IPv6 listener stopped unexpectedly"))??;
            heard.merge(other);
        }
        Ok(heard)
    })
}

/// A raw VRRP socket that only hears `interface`.
fn open(domain: Domain, interface: &str) -> Result<Socket, Failure> {
    let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(vrrp::PROTOCOL)));
    let socket = socket.map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => Failure::new(format!(
            "vrrp_scan listens with a raw socket, which needs root (CAP_NET_RAW): run the task \
             with become: true ({e})"
        )),
        _ => socket_error("opening a raw VRRP socket", interface, &e),
    })?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(|e| socket_error("binding the VRRP socket", interface, &e))?;
    Ok(socket)
}

fn socket_error(doing: &str, interface: &str, e: &std::io::Error) -> Failure {
    Failure::new(format!("vrrp_scan: {doing} on {interface}: {e}"))
}

/// One IPv6 packet: the raw socket gives the message only, the sender comes from a peek.
fn receive_v6(
    socket: &Socket,
    buf: &mut [u8],
    destinations: &[Ipv6Addr],
) -> std::io::Result<Result<Advert, String>> {
    let sender = socket.peek_sender()?;
    let n = (&*socket).read(buf)?;
    Ok(match sender.as_socket_ipv6() {
        Some(from) => vrrp::parse_ipv6(&buf[..n], *from.ip(), destinations),
        None => Err("an IPv6 packet without an IPv6 sender".into()),
    })
}

/// Takes packets off `socket` with `next` until `deadline`.
fn receive(
    socket: &Socket,
    deadline: Instant,
    mut next: impl FnMut(&Socket, &mut [u8]) -> std::io::Result<Result<Advert, String>>,
) -> Result<Heard, Failure> {
    let mut heard = Heard::default();
    let mut buf = vec![0u8; BUFFER];
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Ok(heard);
        };
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| Failure::new(format!("vrrp_scan: setting a receive timeout: {e}")))?;
        match next(socket, &mut buf) {
            Ok(packet) => heard.add(packet),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::new(format!("vrrp_scan: receiving: {e}"))),
        }
    }
}

/// Our virtual router, as the collision check knows it.
#[derive(Debug, Clone)]
pub struct Ours {
    pub virtual_router_id: u8,
    /// The addresses our load-balancer hosts send adverts from.
    pub sources: Vec<IpAddr>,
    /// Our virtual addresses (of both families: each family is checked on its own).
    pub vips: Vec<IpAddr>,
}

/// Every router heard on our VRID that is not ours: its source is not one of our hosts, or it
/// advertises other VIPs than ours. A router of the other address family is a separate
/// virtual router (RFC 5798 gives each family its own virtual MAC), so it collides only when
/// we have VIPs of its family.
pub fn collisions(routers: &[Router], ours: &Ours) -> Vec<String> {
    routers
        .iter()
        .map(|r| &r.advert)
        .filter(|a| a.virtual_router_id == ours.virtual_router_id)
        .filter_map(|a| {
            let family = |ip: &&IpAddr| ip.is_ipv4() == a.source.is_ipv4();
            let our_vips = sorted(ours.vips.iter().filter(family).copied());
            if our_vips.is_empty() {
                return None;
            }
            let theirs = list(&a.addresses);
            if !ours.sources.contains(&a.source) {
                let hosts = if ours.sources.is_empty() {
                    "none given".to_owned()
                } else {
                    list(&ours.sources)
                };
                Some(format!(
                    "{} advertises VIPs {theirs} and is not one of our hosts ({hosts})",
                    a.source
                ))
            } else if sorted(a.addresses.iter().copied()) != our_vips {
                Some(format!(
                    "{} (one of our hosts) advertises VIPs {theirs}, not ours ({})",
                    a.source,
                    list(&our_vips)
                ))
            } else {
                None
            }
        })
        .collect()
}

fn sorted(addrs: impl Iterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = addrs.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// "10.0.0.100, 10.0.0.101", or "none".
pub fn list(addrs: &[IpAddr]) -> String {
    if addrs.is_empty() {
        return "none".into();
    }
    addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::tests::{datagram, message};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn advert(vrid: u8, source: &str, vips: &[&str]) -> Advert {
        Advert {
            virtual_router_id: vrid,
            version: 2,
            source: ip(source),
            priority: 100,
            advert_int: 1.0,
            addresses: vips.iter().map(|v| ip(v)).collect(),
        }
    }

    #[test]
    fn adverts_are_grouped_by_router_and_sorted_by_vrid() {
        let mut heard = Heard::default();
        heard.add(Ok(advert(52, "10.0.0.9", &["10.0.0.200"])));
        heard.add(Ok(advert(51, "10.0.0.2", &["10.0.0.100"])));
        let mut later = advert(52, "10.0.0.9", &["10.0.0.200"]);
        later.priority = 0; // the master is stopping
        heard.add(Ok(later));
        for _ in 0..10 {
            heard.add(Err("from 10.0.0.7: bad VRRP checksum (VRID 3)".into()));
        }
        for n in 0..10 {
            heard.add(Err(format!("reason {n}")));
        }
        let routers = heard.routers();
        assert_eq!(routers.len(), 2);
        assert_eq!(
            (routers[0].advert.virtual_router_id, routers[0].adverts),
            (51, 1)
        );
        assert_eq!((routers[1].advert.priority, routers[1].adverts), (0, 2));
        assert_eq!(heard.ignored, 20);
        assert_eq!(heard.reasons.len(), REASONS_KEPT);
        assert_eq!(heard.reasons[1], "reason 0");
        let json = serde_json::to_value(&routers[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"virtual_router_id": 51, "version": 2, "source": "10.0.0.2",
                "priority": 100, "advert_int": 1.0, "addresses": ["10.0.0.100"], "adverts": 1})
        );
    }

    #[test]
    fn a_packet_off_the_wire_lands_in_the_report() {
        let m = message(2, 51, 100, 1, &[ip("10.0.0.100")], None);
        let mut heard = Heard::default();
        heard.add(vrrp::parse_ipv4(&datagram(
            [10, 0, 0, 1],
            [224, 0, 0, 18],
            &m,
        )));
        assert_eq!(heard.routers()[0].advert.source, ip("10.0.0.1"));
    }

    fn router(a: Advert) -> Router {
        Router {
            advert: a,
            adverts: 3,
        }
    }

    #[test]
    fn collisions_name_the_foreign_source_and_its_vips() {
        let ours = Ours {
            virtual_router_id: 51,
            sources: vec![ip("10.0.0.11"), ip("10.0.0.12")],
            vips: vec![ip("10.0.0.100"), ip("fd00::100")],
        };
        let heard = [
            router(advert(51, "10.0.0.11", &["10.0.0.100"])), // ours
            router(advert(52, "10.0.0.31", &["10.0.0.150"])), // another VRID
            router(advert(51, "10.0.0.21", &["10.0.0.200", "10.0.0.201"])),
            router(advert(51, "10.0.0.12", &["10.0.0.100", "10.0.0.9"])),
        ];
        assert_eq!(
            collisions(&heard, &ours),
            [
                "10.0.0.21 advertises VIPs 10.0.0.200, 10.0.0.201 and is not one of our hosts \
                 (10.0.0.11, 10.0.0.12)",
                "10.0.0.12 (one of our hosts) advertises VIPs 10.0.0.100, 10.0.0.9, not ours \
                 (10.0.0.100)",
            ]
        );
        let mut no_hosts = ours.clone();
        no_hosts.sources.clear();
        assert_eq!(
            collisions(&heard[..1], &no_hosts),
            ["10.0.0.11 advertises VIPs 10.0.0.100 and is not one of our hosts (none given)"]
        );
        // The same VIPs in another order are the same router.
        let reordered = Ours {
            vips: vec![ip("10.0.0.9"), ip("10.0.0.100")],
            ..ours.clone()
        };
        assert!(collisions(&heard[3..], &reordered).is_empty());
        // An IPv6 router on VRID 51 does not collide with an IPv4-only instance.
        let mut v6 = advert(51, "fe80::21", &["fd00::200"]);
        v6.version = 3;
        let v4_only = Ours {
            vips: vec![ip("10.0.0.100")],
            ..ours.clone()
        };
        assert!(collisions(&[router(v6.clone())], &v4_only).is_empty());
        assert_eq!(collisions(&[router(v6)], &ours).len(), 1);
    }
}
