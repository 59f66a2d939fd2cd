//! Reading what is on the host and judging it: is this certificate still what the profile, the
//! member and the CA want, and for how long?

use crate::layout::{Member, Profile, Slot};
use crate::pki::{self, CertFacts, PrivateKey, San};
use kubeha_runtime::Failure;
use serde_json::{json, Map, Value};
use std::path::Path;
use x509_cert::der::Encode;
use x509_cert::Certificate;

const DAY: u64 = 86_400;

/// The clock and the renewal window, fixed once per run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: u64,
    pub renew_before_days: u64,
}

impl Clock {
    pub fn days_left(&self, not_after: u64) -> i64 {
        (not_after as i64 - self.now as i64).div_euclid(DAY as i64)
    }

    /// Expired, or due for renewal: the reason, or `None` when it has time left.
    pub fn expiry_reason(&self, not_after: u64) -> Option<String> {
        if not_after <= self.now {
            return Some(format!("expired on {}", pki::rfc3339(not_after)));
        }
        let left = self.days_left(not_after);
        (not_after < self.now + self.renew_before_days * DAY).then(|| {
            format!(
                "expires in {left} days, within renew_before_days ({})",
                self.renew_before_days
            )
        })
    }
}

/// A file that may be absent. Anything but "not found" is an error worth stopping for.
pub fn read_optional(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::io("reading", path, e)),
    }
}

/// A key file: absent, unreadable (with why) or a key.
#[derive(Debug)]
pub enum KeyFile {
    Missing,
    Unreadable(String),
    Present(PrivateKey),
}

impl KeyFile {
    pub fn read(path: &Path) -> Result<KeyFile, Failure> {
        Ok(match read_optional(path)? {
            None => KeyFile::Missing,
            Some(text) => match PrivateKey::from_pem(&text) {
                Ok(key) => KeyFile::Present(key),
                Err(e) => KeyFile::Unreadable(e.0),
            },
        })
    }

    pub fn key(&self) -> Option<&PrivateKey> {
        match self {
            KeyFile::Present(key) => Some(key),
            _ => None,
        }
    }
}

/// A certificate file: absent, unreadable (with why) or a certificate.
#[derive(Debug, Clone)]
pub enum CertFile {
    Missing,
    Unreadable(String),
    Present(Box<Certificate>),
}

impl CertFile {
    pub fn read(path: &Path) -> Result<CertFile, Failure> {
        Ok(match read_optional(path)? {
            None => CertFile::Missing,
            Some(text) => match pki::certificate_from_pem(&text) {
                Ok(cert) => CertFile::Present(Box::new(cert)),
                Err(e) => CertFile::Unreadable(e.0),
            },
        })
    }
}

/// A CA file: absent, unreadable (with why), or one or more CA certificates. Hosts trust every
/// certificate in it; during a CA rotation it holds the current CA and the next one.
#[derive(Debug, Clone)]
pub enum CaFile {
    Missing,
    Unreadable(String),
    Present(Vec<Certificate>),
}

impl CaFile {
    pub fn read(path: &Path) -> Result<CaFile, Failure> {
        Ok(match read_optional(path)? {
            None => CaFile::Missing,
            Some(text) => match pki::certificates_from_pem(&text) {
                Ok(certs) => CaFile::Present(certs),
                Err(e) => CaFile::Unreadable(e.0),
            },
        })
    }

    /// The certificates it holds (none when absent or unreadable).
    pub fn certs(&self) -> &[Certificate] {
        match self {
            CaFile::Present(certs) => certs,
            _ => &[],
        }
    }

    /// True when it holds exactly `certs`, in any order.
    pub fn holds_exactly(&self, certs: &[Certificate]) -> bool {
        let der = |list: &[Certificate]| {
            let mut der: Vec<Option<Vec<u8>>> = list.iter().map(|c| c.to_der().ok()).collect();
            der.sort();
            der
        };
        matches!(self, CaFile::Present(_)) && der(self.certs()) == der(certs)
    }

    /// Whether it holds `cert`.
    pub fn holds(&self, cert: &Certificate) -> bool {
        let der = cert.to_der().ok();
        self.certs().iter().any(|c| c.to_der().ok() == der)
    }
}

/// How a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Valid,
    /// Valid, but within the renewal window.
    Expiring,
    Expired,
    /// Not what it should be: wrong CA, key, name, usage, SANs or key type.
    Mismatch,
    Missing,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
            Status::Mismatch => "mismatch",
            Status::Missing => "missing",
        }
    }
}

/// What a certificate should be.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub profile: Profile,
    pub member: &'a Member,
    /// The current CA; `None` when there is none to check against.
    pub ca: Option<&'a Certificate>,
    /// The key algorithm new keys get; a certificate on another kind of key is re-issued.
    pub key_algorithm: &'a str,
}

/// Every way `cert` falls short of `wanted` (besides expiry), as sentences.
pub fn mismatches(cert: &Certificate, wanted: &Wanted<'_>) -> Vec<String> {
    let facts = CertFacts::of(cert);
    let mut reasons = Vec::new();
    match wanted.ca {
        None => reasons.push("there is no CA certificate to check it against".into()),
        Some(ca) => {
            if let Err(e) = pki::issued_by(cert, ca) {
                reasons.push(format!("not issued by the current CA ({e})"));
            }
        }
    }
    if facts.is_ca {
        reasons.push("it is a CA certificate".into());
    }
    let cn = wanted.profile.common_name(&wanted.member.name);
    if facts.common_name.as_deref() != Some(cn.as_str()) {
        reasons.push(format!("subject is '{}', wanted 'CN={cn}'", facts.subject));
    }
    let eku = wanted.profile.ext_key_usage();
    let same_eku = facts.ext_key_usage.len() == eku.len()
        && eku.iter().all(|oid| facts.ext_key_usage.contains(oid));
    if !same_eku {
        reasons.push(format!(
            "extended key usage is {}, wanted {}",
            usage_names(&facts.ext_key_usage),
            usage_names(eku)
        ));
    }
    let want = wanted.member.sans_for(wanted.profile);
    let missing: Vec<String> = want
        .iter()
        .filter(|s| !facts.sans.contains(s))
        .map(ToString::to_string)
        .collect();
    let unexpected: Vec<String> = facts
        .sans
        .iter()
        .filter(|s| !want.contains(s))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {}", missing.join(", ")));
        }
        if !unexpected.is_empty() {
            parts.push(format!("not wanted {}", unexpected.join(", ")));
        }
        reasons.push(format!("SANs differ: {}", parts.join("; ")));
    }
    if facts.key_algorithm != wanted.key_algorithm {
        reasons.push(format!(
            "key is {}, key_algorithm is {}",
            facts.key_algorithm, wanted.key_algorithm
        ));
    }
    reasons
}

fn usage_names(oids: &[x509_cert::der::oid::ObjectIdentifier]) -> String {
    if oids.is_empty() {
        return "none".into();
    }
    oids.iter()
        .map(|oid| match *oid {
            pki::ID_KP_SERVER_AUTH => "serverAuth".to_owned(),
            pki::ID_KP_CLIENT_AUTH => "clientAuth".to_owned(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// The state of one slot: certificate, key, pending key, and the verdict.
#[derive(Debug)]
pub struct Inspection {
    pub slot: Slot,
    pub cert: CertFile,
    pub key: KeyFile,
    pub pending: KeyFile,
    pub status: Status,
    pub reasons: Vec<String>,
}

impl Inspection {
    /// Reads the slot's files and judges them.
    pub fn of(slot: &Slot, wanted: &Wanted<'_>, clock: &Clock) -> Result<Inspection, Failure> {
        let cert = CertFile::read(&slot.cert)?;
        let key = KeyFile::read(&slot.key)?;
        let pending = KeyFile::read(&slot.pending_key())?;
        let (status, reasons) = judge(&cert, &key, wanted, clock);
        Ok(Inspection {
            slot: slot.clone(),
            cert,
            key,
            pending,
            status,
            reasons,
        })
    }

    /// True when the certificate must be (re)issued.
    pub fn needs_issue(&self) -> bool {
        self.status != Status::Valid
    }

    /// The key is missing, unreadable or of another kind than `key_algorithm`: only a new key
    /// helps.
    pub fn needs_new_key(&self, key_algorithm: &str) -> bool {
        match self.key.key() {
            Some(key) => key.algorithm_name() != key_algorithm,
            None => true,
        }
    }

    /// The entry of the expiry report.
    pub fn report(&self, clock: &Clock) -> Value {
        report_entry(&self.slot, &self.cert, self.status, &self.reasons, clock)
    }
}

/// The verdict on a certificate and its key.
pub fn judge(
    cert: &CertFile,
    key: &KeyFile,
    wanted: &Wanted<'_>,
    clock: &Clock,
) -> (Status, Vec<String>) {
    let cert = match cert {
        CertFile::Missing => return (Status::Missing, vec!["no certificate".into()]),
        CertFile::Unreadable(why) => {
            return (
                Status::Mismatch,
                vec![format!("the certificate is unreadable ({why})")],
            )
        }
        CertFile::Present(cert) => cert,
    };
    let mut reasons = mismatches(cert, wanted);
    match key {
        KeyFile::Missing => reasons.push("its key is missing".into()),
        KeyFile::Unreadable(why) => reasons.push(format!("its key is unreadable ({why})")),
        KeyFile::Present(key) if !pki::key_matches(key, cert) => {
            reasons.push("the certificate does not match its key".into())
        }
        KeyFile::Present(_) => {}
    }
    let facts = CertFacts::of(cert);
    let expiry = clock.expiry_reason(facts.not_after);
    let status = if facts.not_after <= clock.now {
        Status::Expired
    } else if !reasons.is_empty() {
        Status::Mismatch
    } else if expiry.is_some() {
        Status::Expiring
    } else {
        Status::Valid
    };
    reasons.extend(expiry);
    (status, reasons)
}

/// One entry of the expiry report (`kubeadm certs check-expiration`, as data).
pub fn report_entry(
    slot: &Slot,
    cert: &CertFile,
    status: Status,
    reasons: &[String],
    clock: &Clock,
) -> Value {
    let mut entry = Map::new();
    entry.insert("name".into(), slot.name.into());
    entry.insert("profile".into(), slot.profile.name().into());
    entry.insert("path".into(), slot.cert.to_string_lossy().into());
    entry.insert("key_path".into(), slot.key.to_string_lossy().into());
    entry.insert("status".into(), status.name().into());
    entry.insert("reasons".into(), json!(reasons));
    if let CertFile::Present(cert) = cert {
        entry.extend(cert_summary(cert, clock));
    }
    Value::Object(entry)
}

/// Subject, issuer, SANs, serial, validity, days left and key type of a certificate.
pub fn cert_summary(cert: &Certificate, clock: &Clock) -> Map<String, Value> {
    let facts = CertFacts::of(cert);
    let mut out = Map::new();
    out.insert("subject".into(), facts.subject.into());
    out.insert("issuer".into(), facts.issuer.into());
    out.insert("sans".into(), json!(san_texts(&facts.sans)));
    out.insert("serial".into(), facts.serial.into());
    out.insert("not_before".into(), pki::rfc3339(facts.not_before).into());
    out.insert("not_after".into(), pki::rfc3339(facts.not_after).into());
    out.insert("days_left".into(), clock.days_left(facts.not_after).into());
    out.insert("key_algorithm".into(), facts.key_algorithm.into());
    out
}

pub fn san_texts(sans: &[San]) -> Vec<String> {
    sans.iter().map(ToString::to_string).collect()
}

/// A certificate as `--diff` shows it: what a person checks, not base64.
pub fn diff_text(cert: Option<&Certificate>) -> String {
    let Some(cert) = cert else {
        return String::new();
    };
    let facts = CertFacts::of(cert);
    format!(
        "subject: {}\nissuer: {}\nserial: {}\nnot before: {}\nnot after: {}\nSANs: {}\nkey: {}\n",
        facts.subject,
        facts.issuer,
        facts.serial,
        pki::rfc3339(facts.not_before),
        pki::rfc3339(facts.not_after),
        san_texts(&facts.sans).join(", "),
        facts.key_algorithm
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_and_expiry_reasons() {
        let clock = Clock {
            now: 1_000 * DAY,
            renew_before_days: 30,
        };
        assert_eq!(clock.days_left(1_365 * DAY), 365);
        assert_eq!(clock.expiry_reason(1_365 * DAY), None);
        assert_eq!(
            clock.expiry_reason(1_010 * DAY + 5),
            Some("expires in 10 days, within renew_before_days (30)".into())
        );
        assert_eq!(clock.days_left(999 * DAY), -1);
        assert!(clock
            .expiry_reason(999 * DAY)
            .unwrap()
            .starts_with("expired on "));
    }
}
