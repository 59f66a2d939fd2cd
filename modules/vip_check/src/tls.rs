//! "Does a TLS server answer here?": send a TLS ClientHello and read the server's first message.
//!
//! Why a hello and not `GET /healthz` over HTTPS: a full TLS client (rustls with ring, the
//! smallest) adds ~0.9 MiB and takes this binary past the 2 MiB every task copies to every host.
//! A ServerHello already proves what the VIP check needs: the VIP routes to a live TLS server
//! (the apiserver behind the load balancer), not to a dead port, a stale listener, or something
//! that speaks plain HTTP. It also names the TLS version the server picked. The handshake is
//! abandoned right after the ServerHello (no key is ever derived), so the hello's random values
//! need no cryptographic quality.
//!
//! The ClientHello offers TLS 1.3 and 1.2 with the suites, groups and signature schemes Go's
//! `crypto/tls` (kube-apiserver), OpenSSL (haproxy, nginx) and BoringSSL accept, and an X25519
//! key share so a TLS 1.3 server answers with a ServerHello rather than a HelloRetryRequest
//! (either counts as an answer).

use crate::checks::{self, Deadline};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version the server chose: "TLSv1.3", "TLSv1.2", ...
    pub version: String,
}

const HANDSHAKE: u8 = 0x16;
const ALERT: u8 = 0x15;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const EXT_KEY_SHARE: u16 = 0x0033;
const X25519: u16 = 0x001d;

/// TLS 1.3 suites, then ECDHE suites for TLS 1.2 (AES-GCM and ChaCha20, ECDSA and RSA keys).
const CIPHER_SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
];
const GROUPS: &[u16] = &[X25519, 0x0017, 0x0018];
/// ECDSA P-256/384/521, RSA-PSS, RSA PKCS#1, Ed25519.
const SIGNATURE_SCHEMES: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0807,
];

/// Connects to `addr`, sends a ClientHello (with SNI `server_name` when it is a DNS name) and
/// waits, until `deadline` at most, for the server's hello.
pub fn hello(
    addr: SocketAddr,
    server_name: Option<&str>,
    deadline: Deadline,
) -> Result<ServerHello, String> {
    let mut stream = checks::tcp_connect(addr, deadline)?;
    let wait = deadline.remaining("TLS hello")?;
    stream
        .set_write_timeout(Some(wait))
        .map_err(|e| format!("TLS hello: {e}"))?;
    stream
        .write_all(&client_hello(server_name, &noise()))
        .map_err(|e| format!("sending the TLS hello: {}", checks::io_reason(&e, wait)))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match parse_server_answer(&answer) {
            Parsed::Done(result) => return result,
            Parsed::NeedMore if answer.len() > MAX_ANSWER => {
                return Err("the server's TLS answer is too long".into())
            }
            Parsed::NeedMore => {}
        }
        let wait = deadline.remaining("waiting for the TLS answer")?;
        stream
            .set_read_timeout(Some(wait))
            .map_err(|e| format!("TLS hello: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) if answer.is_empty() => {
                return Err("the server closed the connection without a TLS answer".into())
            }
            Ok(0) => return Err("the server closed the connection mid-answer".into()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no TLS answer: {}", checks::io_reason(&e, wait))),
        }
    }
}

/// A record is at most 2^14 bytes of plaintext plus its header; a ServerHello fits in one.
const MAX_ANSWER: usize = 16384 + 5;

/// 96 bytes that differ on every run: the hello's random, session id and key share. Std's
/// `RandomState` is seeded from the OS; enough for a handshake that is never finished.
fn noise() -> [u8; 96] {
    let seed = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; 96];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = seed.build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// Appends `body` with a big-endian length prefix of `width` bytes.
fn put_vec(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    let len = body.len().to_be_bytes();
    out.extend_from_slice(&len[len.len() - width..]);
    out.extend_from_slice(body);
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    put_vec(out, 2, body);
}

/// The ClientHello record. `noise`: 32 bytes random, 32 session id, 32 X25519 key share.
fn client_hello(server_name: Option<&str>, noise: &[u8; 96]) -> Vec<u8> {
    let mut extensions = Vec::new();
    // SNI carries DNS names only (RFC 6066): an IP literal is not sent.
    if let Some(name) = server_name.filter(|n| n.parse::<IpAddr>().is_err()) {
        let mut entry = vec![0u8]; // host_name
        put_vec(&mut entry, 2, name.as_bytes());
        let mut list = Vec::new();
        put_vec(&mut list, 2, &entry);
        extension(&mut extensions, EXT_SERVER_NAME, &list);
    }
    let mut groups = Vec::new();
    put_vec(&mut groups, 2, &u16s(GROUPS));
    extension(&mut extensions, EXT_SUPPORTED_GROUPS, &groups);
    extension(&mut extensions, EXT_EC_POINT_FORMATS, &[1, 0]); // uncompressed
    let mut schemes = Vec::new();
    put_vec(&mut schemes, 2, &u16s(SIGNATURE_SCHEMES));
    extension(&mut extensions, EXT_SIGNATURE_ALGORITHMS, &schemes);
    let mut versions = Vec::new();
    put_vec(&mut versions, 1, &u16s(&[0x0304, 0x0303]));
    extension(&mut extensions, EXT_SUPPORTED_VERSIONS, &versions);
    let mut share = X25519.to_be_bytes().to_vec();
    put_vec(&mut share, 2, &noise[64..96]);
    let mut shares = Vec::new();
    put_vec(&mut shares, 2, &share);
    extension(&mut extensions, EXT_KEY_SHARE, &shares);

    let mut body = vec![0x03, 0x03]; // legacy_version: TLS 1.2
    body.extend_from_slice(&noise[..32]);
    put_vec(&mut body, 1, &noise[32..64]); // session id (TLS 1.3 middlebox compatibility)
    put_vec(&mut body, 2, &u16s(CIPHER_SUITES));
    put_vec(&mut body, 1, &[0]); // compression: null only
    put_vec(&mut body, 2, &extensions);

    let mut handshake = vec![CLIENT_HELLO];
    put_vec(&mut handshake, 3, &body);
    let mut record = vec![HANDSHAKE, 0x03, 0x01];
    put_vec(&mut record, 2, &handshake);
    record
}

enum Parsed {
    NeedMore,
    Done(Result<ServerHello, String>),
}

/// Reads the server's first record once enough of it has arrived.
fn parse_server_answer(bytes: &[u8]) -> Parsed {
    if bytes.is_empty() {
        return Parsed::NeedMore;
    }
    // Plain-text answers are recognisable from their first bytes; name them.
    if bytes.starts_with(b"HTTP/") || bytes.starts_with(b"SSH-") || bytes[0].is_ascii_alphabetic() {
        let text: String = String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        return Parsed::Done(Err(format!("not TLS: the server answered '{text}'")));
    }
    if bytes.len() < 5 {
        return Parsed::NeedMore;
    }
    let (kind, major, len) = (
        bytes[0],
        bytes[1],
        usize::from(u16::from_be_bytes([bytes[3], bytes[4]])),
    );
    if major != 3 || !matches!(kind, HANDSHAKE | ALERT) {
        return Parsed::Done(Err(format!(
            "not TLS: the server answered bytes {:02x} {:02x} {:02x}",
            bytes[0], bytes[1], bytes[2]
        )));
    }
    let Some(fragment) = bytes.get(5..5 + len) else {
        return Parsed::NeedMore;
    };
    Parsed::Done(if kind == ALERT {
        let code = fragment.get(1).copied().unwrap_or(0);
        Err(format!(
            "the server refused the TLS hello (alert {code}: {})",
            alert_name(code)
        ))
    } else {
        server_hello(fragment)
    })
}

fn server_hello(handshake: &[u8]) -> Result<ServerHello, String> {
    let bad = || "malformed TLS ServerHello".to_owned();
    if handshake.first() != Some(&SERVER_HELLO) {
        return Err(format!(
            "the server's first TLS message is type {}, not a ServerHello",
            handshake.first().copied().unwrap_or(0)
        ));
    }
    let mut r = Reader(handshake.get(4..).ok_or_else(bad)?);
    let legacy = r.u16().ok_or_else(bad)?;
    r.take(32).ok_or_else(bad)?; // random
    let session_len = r.u8().ok_or_else(bad)?;
    r.take(usize::from(session_len)).ok_or_else(bad)?;
    r.take(3).ok_or_else(bad)?; // cipher suite, compression
    let mut version = legacy;
    if let Some(len) = r.u16() {
        let mut exts = Reader(r.take(usize::from(len)).ok_or_else(bad)?);
        while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
            let body = exts.take(usize::from(len)).ok_or_else(bad)?;
            if kind == EXT_SUPPORTED_VERSIONS {
                version = Reader(body).u16().ok_or_else(bad)?;
            }
        }
    }
    Ok(ServerHello {
        version: version_name(version),
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

fn version_name(version: u16) -> String {
    match version {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        0x0302 => "TLSv1.1".into(),
        0x0301 => "TLSv1.0".into(),
        other => format!("0x{other:04x}"),
    }
}

fn alert_name(code: u8) -> &'static str {
    match code {
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        109 => "missing_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "see RFC 8446 section 6",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_is_well_formed() {
        let hello = client_hello(Some("api.example"), &[7u8; 96]);
        assert_eq!(&hello[..3], &[HANDSHAKE, 3, 1]);
        let record_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(record_len, hello.len() - 5);
        assert_eq!(hello[5], CLIENT_HELLO);
        let body_len = usize::from_be_bytes([0, 0, 0, 0, 0, hello[6], hello[7], hello[8]]);
        assert_eq!(body_len, hello.len() - 9);
        assert!(hello.windows(11).any(|w| w == b"api.example"));
        // No SNI for an IP address.
        let by_ip = client_hello(Some("10.0.0.1"), &[7u8; 96]);
        assert!(!by_ip.windows(8).any(|w| w == b"10.0.0.1"));
        assert_eq!(by_ip.len(), client_hello(None, &[7u8; 96]).len());
    }

    #[test]
    fn noise_differs_between_runs() {
        assert_ne!(noise(), noise());
    }

    /// A HelloRetryRequest is a ServerHello with this fixed random (RFC 8446 section 4.1.3).
    const HELLO_RETRY_RANDOM: [u8; 32] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ];

    fn record(kind: u8, fragment: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 3, 3];
        put_vec(&mut out, 2, fragment);
        out
    }

    fn server_hello_bytes(random: [u8; 32], supported_version: Option<u16>) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&random);
        put_vec(&mut body, 1, &[1u8; 32]);
        body.extend_from_slice(&[0x13, 0x01, 0]);
        let mut exts = Vec::new();
        if let Some(v) = supported_version {
            extension(&mut exts, EXT_SUPPORTED_VERSIONS, &v.to_be_bytes());
        }
        extension(&mut exts, EXT_KEY_SHARE, &[0, 0x1d, 0, 1, 9]);
        put_vec(&mut body, 2, &exts);
        let mut hs = vec![SERVER_HELLO];
        put_vec(&mut hs, 3, &body);
        record(HANDSHAKE, &hs)
    }

    fn parsed(bytes: &[u8]) -> Option<Result<ServerHello, String>> {
        match parse_server_answer(bytes) {
            Parsed::NeedMore => None,
            Parsed::Done(r) => Some(r),
        }
    }

    #[test]
    fn server_answers() {
        let v13 = server_hello_bytes([5; 32], Some(0x0304));
        assert_eq!(parsed(&v13).unwrap().unwrap().version, "TLSv1.3");
        // Arriving in pieces: wait for the whole record.
        assert!(parsed(&v13[..3]).is_none());
        assert!(parsed(&v13[..20]).is_none());
        let v12 = server_hello_bytes([5; 32], None);
        assert_eq!(parsed(&v12).unwrap().unwrap().version, "TLSv1.2");
        // A HelloRetryRequest (TLS 1.3 asking for another key share) is an answer too.
        let retry = server_hello_bytes(HELLO_RETRY_RANDOM, Some(0x0304));
        assert_eq!(parsed(&retry).unwrap().unwrap().version, "TLSv1.3");
    }

    #[test]
    fn refusals_and_other_protocols_are_named() {
        assert_eq!(
            parsed(&record(ALERT, &[2, 70])).unwrap().unwrap_err(),
            "the server refused the TLS hello (alert 70: protocol_version)"
        );
        assert_eq!(
            parsed(b"HTTP/1.1 400 Bad Request\r\n")
                .unwrap()
                .unwrap_err(),
            "not TLS: the server answered 'HTTP/1.1 400 Bad Request'"
        );
        assert_eq!(
            parsed(&[0, 1, 2, 3, 4, 5]).unwrap().unwrap_err(),
            "not TLS: the server answered bytes 00 01 02"
        );
        assert!(parsed(&record(HANDSHAKE, &[11, 0, 0, 0]))
            .unwrap()
            .unwrap_err()
            .contains("type 11, not a ServerHello"));
        assert_eq!(
            parsed(&record(HANDSHAKE, &[2, 0, 0, 1, 3]))
                .unwrap()
                .unwrap_err(),
            "malformed TLS ServerHello"
        );
    }
}
