//! Value checks shared by modules. Each error names the option and says what was expected.

use crate::Failure;
use std::net::IpAddr;

/// A TCP/UDP port, 1–65535.
pub fn port(option: &str, value: i64) -> Result<u16, Failure> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            Failure::new(format!(
                "option '{option}' must be a port (1-65535), got {value}"
            ))
        })
}

/// An integer from `min` to `max`.
pub fn range(option: &str, value: i64, min: i64, max: i64) -> Result<i64, Failure> {
    if (min..=max).contains(&value) {
        return Ok(value);
    }
    Err(Failure::new(format!(
        "option '{option}' must be between {min} and {max}, got {value}"
    )))
}

/// An IP address literal (v4 or v6, no brackets, no prefix).
pub fn ip(option: &str, value: &str) -> Result<IpAddr, Failure> {
    value.parse::<IpAddr>().map_err(|_| {
        Failure::new(format!(
            "option '{option}' must be an IP address, got '{value}'"
        ))
    })
}

/// An IP address or a DNS host name (RFC 1123 labels).
pub fn host(option: &str, value: &str) -> Result<(), Failure> {
    if value.parse::<IpAddr>().is_ok() || is_dns_name(value) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be an IP address or a DNS name, got '{value}'"
    )))
}

fn is_dns_name(value: &str) -> bool {
    let name = value.strip_suffix('.').unwrap_or(value);
    !name.is_empty()
        && name.len() <= 253
        // All-numeric dotted names are malformed IPs, not host names.
        && !name.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit()))
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A duration as haproxy and nginx write them: digits and an optional unit.
pub fn duration(option: &str, value: &str, units: &[&str]) -> Result<(), Failure> {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let unit = &value[digits..];
    if digits > 0 && (unit.is_empty() || units.contains(&unit)) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be a duration like 30s ({}), got '{value}'",
        units.join(", ")
    )))
}

/// A name used as a token in a config file: letters, digits and `_ . : -`.
pub fn identifier(option: &str, value: &str) -> Result<(), Failure> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
    {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be a non-empty name of letters, digits and _ . : -, got '{value}'"
    )))
}

/// A value written as one token of a config line: printable ASCII, no whitespace, quotes,
/// backslashes or `#` (which would start a comment). The message never repeats a secret.
pub fn token(option: &str, value: &str, secret: bool) -> Result<(), Failure> {
    let bad = value
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\' | '#'));
    match (value.is_empty(), bad) {
        (false, None) => Ok(()),
        (true, _) => Err(Failure::new(format!("option '{option}' must not be empty"))),
        (false, Some(c)) => Err(Failure::new(if secret {
            format!("option '{option}' contains a character that cannot be written to the config (whitespace, quotes, backslash, '#' or non-ASCII)")
        } else {
            format!("option '{option}' contains {c:?}, which cannot be written to the config (whitespace, quotes, backslash, '#' or non-ASCII)")
        })),
    }
}

/// An absolute URI path without whitespace (`/healthz`).
pub fn uri_path(option: &str, value: &str) -> Result<(), Failure> {
    if value.starts_with('/') && value.chars().all(|c| c.is_ascii_graphic()) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be a path starting with '/', got '{value}'"
    )))
}

/// `address:port` as config files want it: IPv6 in brackets.
pub fn socket_text(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(port("p", 6443).unwrap(), 6443);
        assert!(port("p", 0).is_err());
        let err = port("frontend_port", 70000).unwrap_err();
        assert_eq!(
            err.msg,
            "option 'frontend_port' must be a port (1-65535), got 70000"
        );
    }

    #[test]
    fn hosts() {
        assert!(host("a", "10.0.0.1").is_ok());
        assert!(host("a", "fd00::1").is_ok());
        assert!(host("a", "cp1.example.org").is_ok());
        assert!(host("a", "10.0.0.300").is_err());
        assert!(host("a", "bad host").is_err());
        assert!(host("a", "-x").is_err());
    }

    #[test]
    fn durations() {
        assert!(duration("t", "30s", &["ms", "s", "m"]).is_ok());
        assert!(duration("t", "100", &["s"]).is_ok());
        assert!(duration("t", "5 m", &["m"]).is_err());
        assert!(duration("t", "s", &["s"]).is_err());
        assert!(duration("t", "5y", &["s"]).is_err());
    }

    #[test]
    fn tokens_never_echo_secrets() {
        assert!(token("u", "admin", false).is_ok());
        let err = token("stats_password", "pass word", true).unwrap_err();
        assert!(!err.msg.contains("pass word"));
        assert!(token("u", "a#b", false).unwrap_err().msg.contains("'#'"));
    }

    #[test]
    fn socket_text_brackets_v6() {
        assert_eq!(socket_text("::1", 6443), "[::1]:6443");
        assert_eq!(socket_text("127.0.0.1", 6443), "127.0.0.1:6443");
        assert_eq!(socket_text("*", 8081), "*:8081");
    }
}
