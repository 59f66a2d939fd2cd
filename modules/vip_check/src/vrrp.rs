//! The VRRP advertisement, as a wire format: version 2 (RFC 3768, IPv4 only) and version 3
//! (RFC 5798, IPv4 and IPv6), as the scan receives them on a raw socket of IP protocol 112.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2: | Auth Type   |  Adver Int    |          Checksum             |
//! v3: |(rsvd)| Max Adver Int (centiseconds) |       Checksum        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            IP addresses: Count × 4 (IPv4) or × 16 (IPv6)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2 only:          Authentication Data (8 bytes, never read here)
//! ```
//!
//! The checksum is the Internet checksum of the message; version 3 adds the IP pseudo-header
//! (source, destination, protocol, length). A raw IPv4 socket hands over the IP header too
//! (source and destination come from it); a raw IPv6 socket hands over the message alone, so
//! the caller supplies the source and the destinations it may have been sent to.
//!
//! A version 2 message may carry a plain-text password in its authentication data: it is
//! never read, kept or returned.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const PROTOCOL: i32 = 112;
/// The IPv4 multicast group adverts are sent to (unicast adverts go to each peer).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group adverts are sent to.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

const ADVERTISEMENT: u8 = 1;
const HEADER: usize = 8;

/// One advertisement: who sent it, for which virtual router, with which addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advert {
    pub virtual_router_id: u8,
    /// VRRP version, 2 or 3.
    pub version: u8,
    /// The sending router's own address (the advert's IP source).
    pub source: IpAddr,
    /// 255 is the address owner; 0 a master giving up.
    pub priority: u8,
    /// Seconds between adverts (version 3 counts in hundredths).
    pub advert_int: f64,
    /// The virtual addresses, in the order sent.
    pub addresses: Vec<IpAddr>,
}

/// Parses an IPv4 datagram as a raw IPv4 socket returns it: the IP header, then VRRP.
pub fn parse_ipv4(datagram: &[u8]) -> Result<Advert, String> {
    if datagram.len() < 20 {
        return Err(format!(
            "a {}-byte datagram is shorter than an IPv4 header",
            datagram.len()
        ));
    }
    if datagram[0] >> 4 != 4 {
        return Err(format!("IP version {}, not 4", datagram[0] >> 4));
    }
    let source = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
    let destination = Ipv4Addr::new(datagram[16], datagram[17], datagram[18], datagram[19]);
    let from = |reason: String| format!("from {source}: {reason}");
    let header_len = usize::from(datagram[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if header_len < 20 || header_len > total_len || total_len > datagram.len() {
        return Err(from(format!(
            "bad IPv4 lengths (header {header_len}, total {total_len}, received {})",
            datagram.len()
        )));
    }
    if i32::from(datagram[9]) != PROTOCOL {
        return Err(from(format!("IP protocol {}, not VRRP", datagram[9])));
    }
    let message = &datagram[header_len..total_len];
    let (_, advert) = parse_message(message, IpAddr::V4(source)).map_err(from)?;
    // keepalived before 1.3.6 summed unicast adverts as if sent to the group: such routers
    // still talk to each other, so they count too.
    verified(advert, message, &[destination.into(), GROUP_V4.into()])
}

/// Parses a VRRP message as a raw IPv6 socket returns it (no IP header), sent by `source` to
/// one of `destinations` (the group and this host's addresses: the checksum covers it).
pub fn parse_ipv6(
    message: &[u8],
    source: Ipv6Addr,
    destinations: &[Ipv6Addr],
) -> Result<Advert, String> {
    let from = |reason: String| format!("from {source}: {reason}");
    let (version, advert) = parse_message(message, IpAddr::V6(source)).map_err(from)?;
    if version != 3 {
        return Err(from(format!(
            "VRRP version {version} over IPv6 (only version 3 runs over IPv6)"
        )));
    }
    let destinations: Vec<IpAddr> = destinations.iter().map(|d| IpAddr::V6(*d)).collect();
    verified(advert, message, &destinations)
}

/// `advert` (parsed from `message`) if its checksum holds: over the message alone in VRRPv2;
/// in VRRPv3 with the pseudo-header of its source and one of `destinations`, the addresses it
/// may have been sent to.
fn verified(advert: Advert, message: &[u8], destinations: &[IpAddr]) -> Result<Advert, String> {
    let valid = match advert.version {
        2 => checksum(&[message]) == 0,
        _ => destinations.iter().any(|dst| {
            let pseudo = pseudo_header(advert.source, *dst, message.len());
            checksum(&[&pseudo, message]) == 0
        }),
    };
    if !valid {
        return Err(format!(
            "from {}: bad VRRP checksum (VRID {})",
            advert.source, advert.virtual_router_id
        ));
    }
    Ok(advert)
}

/// The fields of a VRRP message; the checksum is the caller's (it depends on the IP header).
fn parse_message(message: &[u8], source: IpAddr) -> Result<(u8, Advert), String> {
    if message.len() < HEADER {
        return Err(format!(
            "a {}-byte message is shorter than a VRRP header",
            message.len()
        ));
    }
    let version = message[0] >> 4;
    let kind = message[0] & 0x0f;
    if !matches!(version, 2 | 3) {
        return Err(format!("VRRP version {version}, not 2 or 3"));
    }
    if kind != ADVERTISEMENT {
        return Err(format!("VRRP packet type {kind}, not an advertisement"));
    }
    let virtual_router_id = message[1];
    if virtual_router_id == 0 {
        return Err("VRID 0 (valid ones are 1-255)".into());
    }
    if version == 2 && source.is_ipv6() {
        return Err("VRRP version 2 over IPv6".into());
    }
    let count = usize::from(message[3]);
    let width = if source.is_ipv4() { 4 } else { 16 };
    let body = &message[HEADER..];
    if body.len() < count * width {
        return Err(format!(
            "VRID {virtual_router_id}: {count} addresses announced, {} bytes present",
            body.len()
        ));
    }
    let addresses = body
        .chunks_exact(width)
        .take(count)
        .map(|chunk| match <[u8; 16]>::try_from(chunk) {
            Ok(v6) => IpAddr::from(v6),
            Err(_) => IpAddr::from([chunk[0], chunk[1], chunk[2], chunk[3]]),
        })
        .collect();
    let advert_int = match version {
        2 => f64::from(message[5]),
        _ => f64::from(u16::from_be_bytes([message[4], message[5]]) & 0x0fff) / 100.0,
    };
    Ok((
        version,
        Advert {
            virtual_router_id,
            version,
            source,
            priority: message[2],
            advert_int,
            addresses,
        },
    ))
}

/// The pseudo-header a VRRPv3 checksum covers (RFC 5798 5.2.8), for IPv4 or IPv6.
fn pseudo_header(source: IpAddr, destination: IpAddr, len: usize) -> Vec<u8> {
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let tail: [u8; 4] = [0, PROTOCOL as u8, (len >> 8) as u8, len as u8];
            [&s.octets()[..], &d.octets(), &tail].concat()
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let length = (len as u32).to_be_bytes();
            [
                &s.octets()[..],
                &d.octets(),
                &length,
                &[0, 0, 0, PROTOCOL as u8],
            ]
            .concat()
        }
        // No packet is sent from one family to the other.
        _ => Vec::new(),
    }
}

/// The Internet checksum (RFC 1071) of the parts laid end to end; 0 when the parts hold a
/// correct checksum. Every part but the last has an even length here.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let word = match pair {
                [high, low] => u16::from_be_bytes([*high, *low]),
                [high] => u16::from_be_bytes([*high, 0]),
                _ => 0,
            };
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A VRRP message with a correct checksum (version 3 over IPv4 summed with `destination`).
    pub(crate) fn message(
        version: u8,
        vrid: u8,
        priority: u8,
        advert_int: u16,
        addresses: &[IpAddr],
        pseudo: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut m = vec![(version << 4) | 1, vrid, priority, addresses.len() as u8];
        if version == 2 {
            m.extend([1, advert_int as u8, 0, 0]); // auth type 1: a plain password
        } else {
            m.extend(advert_int.to_be_bytes());
            m.extend([0, 0]);
        }
        for a in addresses {
            match a {
                IpAddr::V4(v4) => m.extend(v4.octets()),
                IpAddr::V6(v6) => m.extend(v6.octets()),
            }
        }
        if version == 2 {
            m.extend(b"secret!!");
        }
        let sum = match &pseudo {
            Some(p) => {
                let len = p.len();
                let mut p = p.clone();
                // The pseudo-header's length field: the message's.
                if len == 12 {
                    p[10..12].copy_from_slice(&(m.len() as u16).to_be_bytes());
                } else {
                    p[32..36].copy_from_slice(&(m.len() as u32).to_be_bytes());
                }
                checksum(&[&p, &m])
            }
            None => checksum(&[&m]),
        };
        m[6..8].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// An IPv4 datagram carrying `message` from `source` to `destination`.
    pub(crate) fn datagram(source: [u8; 4], destination: [u8; 4], message: &[u8]) -> Vec<u8> {
        let total = (20 + message.len()) as u16;
        let mut d = vec![0x45, 0xc0];
        d.extend(total.to_be_bytes());
        d.extend([0, 0, 0, 0, 255, 112, 0, 0]);
        d.extend(source);
        d.extend(destination);
        d.extend(message);
        d
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn v4_pseudo(source: [u8; 4], destination: [u8; 4]) -> Option<Vec<u8>> {
        let (source, destination) = (Ipv4Addr::from(source), Ipv4Addr::from(destination));
        Some(pseudo_header(source.into(), destination.into(), 0))
    }

    #[test]
    fn version_2_multicast_advert() {
        let m = message(2, 51, 100, 1, &[ip("10.0.0.100"), ip("10.0.0.101")], None);
        let advert = parse_ipv4(&datagram([10, 0, 0, 1], [224, 0, 0, 18], &m)).unwrap();
        assert_eq!(
            advert,
            Advert {
                virtual_router_id: 51,
                version: 2,
                source: ip("10.0.0.1"),
                priority: 100,
                advert_int: 1.0,
                addresses: vec![ip("10.0.0.100"), ip("10.0.0.101")],
            }
        );
        // The password is in the packet, never in what is returned.
        assert!(!format!("{advert:?}").contains("secret"));
    }

    #[test]
    fn version_3_ipv4_unicast_and_old_keepalived_checksums() {
        let (src, dst) = ([10, 0, 0, 2], [10, 0, 0, 3]);
        let m = message(3, 7, 254, 20, &[ip("10.0.0.100")], v4_pseudo(src, dst));
        let advert = parse_ipv4(&datagram(src, dst, &m)).unwrap();
        assert_eq!(
            (
                advert.version,
                advert.virtual_router_id,
                advert.priority,
                advert.advert_int
            ),
            (3, 7, 254, 0.2)
        );
        assert_eq!(advert.addresses, [ip("10.0.0.100")]);
        // Summed as if sent to the group (keepalived < 1.3.6 with unicast peers).
        let old = message(
            3,
            7,
            254,
            100,
            &[ip("10.0.0.100")],
            v4_pseudo(src, [224, 0, 0, 18]),
        );
        assert_eq!(
            parse_ipv4(&datagram(src, dst, &old)).unwrap().advert_int,
            1.0
        );
        // Summed without the pseudo-header: wrong for version 3.
        let bad = message(3, 7, 254, 100, &[ip("10.0.0.100")], None);
        assert_eq!(
            parse_ipv4(&datagram(src, dst, &bad)).unwrap_err(),
            "from 10.0.0.2: bad VRRP checksum (VRID 7)"
        );
    }

    #[test]
    fn version_3_ipv6() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let pseudo = Some(pseudo_header(src.into(), GROUP_V6.into(), 0));
        let vips = [ip("fe80::100"), ip("fd00::100")];
        let m = message(3, 51, 150, 100, &vips, pseudo);
        let here: Ipv6Addr = "fe80::2".parse().unwrap();
        let advert = parse_ipv6(&m, src, &[here, GROUP_V6]).unwrap();
        assert_eq!(advert.source, IpAddr::V6(src));
        assert_eq!(advert.addresses, vips);
        assert_eq!(
            parse_ipv6(&m, src, &[here]).unwrap_err(),
            "from fe80::1: bad VRRP checksum (VRID 51)"
        );
        let v2 = message(2, 51, 150, 1, &[ip("10.0.0.1")], None);
        assert_eq!(
            parse_ipv6(&v2, src, &[GROUP_V6]).unwrap_err(),
            "from fe80::1: VRRP version 2 over IPv6"
        );
    }

    #[test]
    fn malformed_and_truncated_packets_say_why() {
        let good = message(2, 51, 100, 1, &[ip("10.0.0.100")], None);
        let good = datagram([10, 0, 0, 1], [224, 0, 0, 18], &good);
        assert!(parse_ipv4(&good).is_ok());
        let mut cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "a 0-byte datagram is shorter than an IPv4 header"),
            (good[..19].to_vec(), "shorter than an IPv4 header"),
            // Cut inside the addresses: the IP total length no longer fits.
            (
                good[..30].to_vec(),
                "bad IPv4 lengths (header 20, total 40, received 30)",
            ),
        ];
        let mut v6 = good.clone();
        v6[0] = 0x65;
        cases.push((v6, "IP version 6, not 4"));
        let mut tcp = good.clone();
        tcp[9] = 6;
        cases.push((tcp, "IP protocol 6, not VRRP"));
        let mut short_ihl = good.clone();
        short_ihl[0] = 0x44;
        cases.push((short_ihl, "bad IPv4 lengths (header 16"));
        let header_only = datagram([10, 0, 0, 1], [224, 0, 0, 18], &[0x21, 51, 100]);
        cases.push((
            header_only,
            "a 3-byte message is shorter than a VRRP header",
        ));
        for (version_type, reason) in [
            (0x11, "VRRP version 1, not 2 or 3"),
            (0x22, "VRRP packet type 2, not an advertisement"),
        ] {
            let mut m = message(2, 51, 100, 1, &[ip("10.0.0.100")], None);
            m[0] = version_type;
            cases.push((datagram([10, 0, 0, 1], [224, 0, 0, 18], &m), reason));
        }
        let vrid0 = message(2, 0, 100, 1, &[], None);
        cases.push((datagram([10, 0, 0, 1], [224, 0, 0, 18], &vrid0), "VRID 0"));
        // Claims three addresses, carries one (and a fitting IP length).
        let mut lying = message(3, 9, 100, 100, &[ip("10.0.0.100")], None);
        lying[3] = 3;
        cases.push((
            datagram([10, 0, 0, 1], [224, 0, 0, 18], &lying),
            "VRID 9: 3 addresses announced, 4 bytes present",
        ));
        let mut flipped = good.clone();
        flipped[30] ^= 1;
        cases.push((flipped, "bad VRRP checksum (VRID 51)"));
        for (packet, reason) in cases {
            let err = parse_ipv4(&packet).unwrap_err();
            assert!(err.contains(reason), "{reason}: {err}");
        }
        // Every prefix of a valid packet is rejected, never a panic.
        for cut in 0..good.len() {
            assert!(parse_ipv4(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn checksum_matches_rfc_1071_example() {
        // RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to ddf2, complement 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03], &[0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
        assert_eq!(checksum(&[&[0xff]]), 0x00ff);
    }
}
