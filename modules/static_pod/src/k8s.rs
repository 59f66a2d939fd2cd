//! Kubernetes' own rules for names, labels, annotations and quantities (apimachinery's
//! `validation` package), so a manifest the API server or the kubelet would refuse fails here,
//! naming the option.

use kubeha_runtime::Failure;

/// A DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting and ending
/// alphanumeric (namespaces, container and volume names).
pub fn dns_label(option: &str, value: &str) -> Result<(), Failure> {
    if is_dns_label(value) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be a DNS-1123 label (at most 63 lowercase letters, digits and '-', \
         starting and ending with a letter or digit), got '{value}'"
    )))
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (pod names).
pub fn dns_subdomain(option: &str, value: &str) -> Result<(), Failure> {
    if is_dns_subdomain(value) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', \
         starting and ending with a letter or digit, at most 253 characters), got '{value}'"
    )))
}

fn is_dns_label(value: &str) -> bool {
    value.len() <= 63 && is_rfc1123_label(value)
}

fn is_rfc1123_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

fn is_dns_subdomain(value: &str) -> bool {
    value.len() <= 253 && value.split('.').all(is_rfc1123_label)
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63
/// characters of letters, digits, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn qualified_name(option: &str, key: &str) -> Result<(), Failure> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(is_dns_subdomain);
    if prefix_ok && !name.is_empty() && name.len() <= 63 && is_label_value(name) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' has the key '{key}', which is not a valid Kubernetes key \
         ([prefix/]name: the name at most 63 letters, digits, '-', '_' or '.', starting and ending \
         with a letter or digit; the prefix a DNS subdomain)"
    )))
}

/// A label value: empty, or at most 63 letters, digits, `-`, `_`, `.`, starting and ending
/// alphanumeric.
pub fn label_value(option: &str, key: &str, value: &str) -> Result<(), Failure> {
    if value.len() <= 63 && is_label_value(value) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}': the value of '{key}' must be empty or at most 63 letters, digits, \
         '-', '_' or '.', starting and ending with a letter or digit, got '{value}'"
    )))
}

fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.is_empty()
        || (bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b)))
}

/// A resource quantity such as `25m`, `32M`, `64Mi`, `0.5` or `1e3` (not negative).
pub fn quantity(option: &str, value: &str) -> Result<(), Failure> {
    const SUFFIXES: &[&str] = &[
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let number_len = value
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (number, suffix) = value.split_at(number_len);
    let number_ok = number.bytes().filter(|b| *b == b'.').count() <= 1
        && number.bytes().any(|b| b.is_ascii_digit());
    let exponent_ok = |s: &str| {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    let suffix_ok =
        SUFFIXES.contains(&suffix) || suffix.strip_prefix(['e', 'E']).is_some_and(exponent_ok);
    if number_ok && suffix_ok {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be a Kubernetes quantity such as 25m, 32M or 64Mi, got '{value}'"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["haproxy", "nginx-proxy", "a", "0x", "kube-system"] {
            assert!(dns_label("n", ok).is_ok(), "{ok}");
            assert!(dns_subdomain("n", ok).is_ok(), "{ok}");
        }
        assert!(dns_subdomain("n", "lb.kube-system.0").is_ok());
        for bad in ["", "Haproxy", "-a", "a-", "a_b", "a b", "a.", ".a", "a..b"] {
            assert!(dns_subdomain("n", bad).is_err(), "{bad}");
        }
        assert!(dns_label("n", "a.b").is_err());
        assert!(dns_label("n", &"a".repeat(64)).is_err());
        // Kubernetes limits a subdomain's length, not its labels'.
        assert!(dns_subdomain("n", &"a".repeat(64)).is_ok());
        assert!(dns_subdomain("n", &"a".repeat(254)).is_err());
        let err = dns_subdomain("name", "Nginx_Proxy").unwrap_err();
        assert!(err
            .msg
            .starts_with("option 'name' must be a DNS-1123 subdomain"));
        assert!(err.msg.ends_with("got 'Nginx_Proxy'"));
    }

    #[test]
    fn keys_and_values() {
        for ok in ["k8s-app", "addonmanager.kubernetes.io/mode", "a_b.c", "A"] {
            assert!(qualified_name("labels", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "-a",
            "Example.com/a",
            "a/b/c",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(qualified_name("labels", bad).is_err(), "{bad}");
        }
        assert!(label_value("labels", "k", "").is_ok());
        assert!(label_value("labels", "k", "Reconcile").is_ok());
        assert!(label_value("labels", "k", "a b").is_err());
        assert!(label_value("labels", "k", "-a").is_err());
    }

    #[test]
    fn quantities() {
        for ok in [
            "25m", "32M", "64Mi", "1", "0.5", "1.5Gi", "1e3", "2E-2", "100k",
        ] {
            assert!(quantity("q", ok).is_ok(), "{ok}");
        }
        for bad in ["", "m", "-1", "1.2.3", "10MB", "1 Gi", "e3", "1e", "25 m"] {
            assert!(quantity("q", bad).is_err(), "{bad}");
        }
    }
}
