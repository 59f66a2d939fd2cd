//! `action: ca` on the CA host: ensure the CA key and certificate.
//!
//! A missing CA is created. An existing CA is kept whatever `key_algorithm` says (replacing it
//! would invalidate every certificate). A CA certificate due for renewal is signed again with
//! the same key and subject: every certificate it issued stays valid under the new one.

use crate::inspect::{self, CertFile, Clock, KeyFile};
use crate::pki::{self, CertFacts, PrivateKey, Usage};
use crate::Settings;
use kubeha_runtime::file::Batch;
use kubeha_runtime::{Action, Diff, Failure, Plan};
use serde_json::{Map, Value};
use std::path::PathBuf;
use x509_cert::Certificate;

/// The CA's subject, as kubeadm names it.
pub const CA_COMMON_NAME: &str = "etcd-ca";
/// How far back certificates start, so that hosts with slightly late clocks accept them
/// (kubeadm's `CertificateBackdate`).
pub const BACKDATE_SECONDS: u64 = 5 * 60;

pub fn plan(settings: &Settings) -> Result<Plan, Failure> {
    let (cert_path, key_path) = settings.ca_files();
    let cert = CertFile::read(&cert_path)?;
    let key = KeyFile::read(&key_path)?;
    let mut plan = Plan::new();
    plan.set("ca_cert_path", cert_path.to_string_lossy().into_owned());
    plan.set("ca_key_path", key_path.to_string_lossy().into_owned());
    let dirs = crate::files::parents([&cert_path, &key_path]);

    let key = match key {
        KeyFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the CA key {} is unreadable ({why}); restore it from a backup",
                key_path.display()
            )))
        }
        KeyFile::Missing => None,
        KeyFile::Present(key) => Some(key),
    };
    let cert = match cert {
        CertFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the CA certificate {} is unreadable ({why}); restore it, or remove it to sign \
                 a new one with the existing key",
                cert_path.display()
            )))
        }
        CertFile::Missing => None,
        CertFile::Present(cert) => Some(*cert),
    };

    match (cert, key) {
        (None, None) => {
            plan.merge(settings.plan_dirs(&dirs)?);
            plan.diff(Diff {
                before: String::new(),
                after: format!(
                    "subject: CN={CA_COMMON_NAME}\nkey: {} (new)\nvalid for: {} days\n",
                    settings.key_algorithm.name(),
                    settings.ca_validity_days
                ),
                before_header: "(absent)".into(),
                after_header: cert_path.to_string_lossy().into_owned(),
            });
            plan.act(MakeCa {
                settings: settings.clone(),
                cert_path,
                key_path,
                key: None,
                why: "create the etcd CA".into(),
            });
            plan.set("ca_cert", Value::Null);
        }
        (Some(_), None) => {
            return Err(Failure::new(format!(
                "the CA certificate {} exists but its key {} does not: restore the key (from a \
                 backup or the old CA host), or remove the certificate to start a new CA, which \
                 re-issues every certificate",
                cert_path.display(),
                key_path.display()
            )))
        }
        (None, Some(key)) => {
            plan.warn(format!(
                "{} is missing: signing a new CA certificate with the existing key {}",
                cert_path.display(),
                key_path.display()
            ));
            plan.merge(settings.plan_dirs(&dirs)?);
            plan.merge(settings.fix_attributes(&key_path, true)?);
            plan.act(MakeCa {
                settings: settings.clone(),
                cert_path,
                key_path,
                key: Some(key),
                why: "sign a CA certificate for the existing CA key".into(),
            });
            plan.set("ca_cert", Value::Null);
        }
        (Some(cert), Some(key)) => {
            check_pair(&cert, &key, &cert_path, &key_path)?;
            if key.algorithm_name() != settings.key_algorithm.name() {
                plan.warn(format!(
                    "the CA key is {}, not {} (key_algorithm): an existing CA is never replaced; \
                     key_algorithm applies to new keys",
                    key.algorithm_name(),
                    settings.key_algorithm.name()
                ));
            }
            plan.merge(settings.plan_dirs(&dirs)?);
            plan.merge(settings.fix_attributes(&key_path, true)?);
            plan.merge(settings.fix_attributes(&cert_path, false)?);
            let facts = CertFacts::of(&cert);
            if let Some(reason) = settings.clock.expiry_reason(facts.not_after) {
                plan.diff(Diff {
                    before: inspect::diff_text(Some(&cert)),
                    after: format!(
                        "subject: {}\nkey: unchanged\nvalid for: {} days\n",
                        facts.subject, settings.ca_validity_days
                    ),
                    before_header: cert_path.to_string_lossy().into_owned(),
                    after_header: cert_path.to_string_lossy().into_owned(),
                });
                plan.act(MakeCa {
                    settings: settings.clone(),
                    cert_path,
                    key_path,
                    key: Some(key),
                    why: format!("renew the CA certificate with the same key ({reason})"),
                });
            }
            plan.set("ca_cert", pki::certificate_to_pem(&cert)?);
            plan.set("ca", ca_summary(&cert, &settings.clock));
            if plan.actions.is_empty() {
                plan.msg = Some(format!(
                    "the CA is in place ({} days left)",
                    settings.clock.days_left(facts.not_after)
                ));
            }
        }
    }
    Ok(plan)
}

/// Why `sign` cannot find the CA.
pub fn missing_message(settings: &Settings) -> String {
    let (cert_path, _) = settings.ca_files();
    format!(
        "the CA certificate {} is missing on this host: run action 'ca' here first (sign runs on \
         the CA host, with the same layout and cert_dir)",
        cert_path.display()
    )
}

/// The CA on this host, for `sign`: its certificate and key, checked; `None` when there is no
/// CA at all.
pub fn load(settings: &Settings) -> Result<Option<(Certificate, PrivateKey)>, Failure> {
    let (cert_path, key_path) = settings.ca_files();
    let missing = |what: &str, path: &std::path::Path| {
        Failure::new(format!(
            "the CA {what} {} is missing on this host: run action 'ca' here first (sign runs on \
             the CA host, with the same layout and cert_dir)",
            path.display()
        ))
    };
    let cert = match CertFile::read(&cert_path)? {
        CertFile::Present(cert) => *cert,
        CertFile::Missing if !key_path.exists() => return Ok(None),
        CertFile::Missing => return Err(missing("certificate", &cert_path)),
        CertFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the CA certificate {} is unreadable ({why})",
                cert_path.display()
            )))
        }
    };
    let key = match KeyFile::read(&key_path)? {
        KeyFile::Present(key) => key,
        KeyFile::Missing => return Err(missing("key", &key_path)),
        KeyFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the CA key {} is unreadable ({why})",
                key_path.display()
            )))
        }
    };
    check_pair(&cert, &key, &cert_path, &key_path)?;
    Ok(Some((cert, key)))
}

fn check_pair(
    cert: &Certificate,
    key: &PrivateKey,
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
) -> Result<(), Failure> {
    if !pki::can_sign_as(key, cert) {
        return Err(Failure::new(format!(
            "the CA key {} does not belong to the CA certificate {}; refusing to touch either",
            key_path.display(),
            cert_path.display()
        )));
    }
    if !CertFacts::of(cert).is_ca {
        return Err(Failure::new(format!(
            "{} is not a CA certificate (basicConstraints CA:TRUE is missing)",
            cert_path.display()
        )));
    }
    Ok(())
}

/// The CA entry of reports.
pub fn ca_summary(cert: &Certificate, clock: &Clock) -> Value {
    let mut entry = inspect::cert_summary(cert, clock);
    let facts = CertFacts::of(cert);
    let status = match clock.expiry_reason(facts.not_after) {
        None => "valid",
        Some(_) if facts.not_after <= clock.now => "expired",
        Some(_) => "expiring",
    };
    entry.insert("name".into(), "ca".into());
    entry.insert("status".into(), status.into());
    Value::Object(entry)
}

/// Makes the CA certificate, and the key when there is none.
#[derive(Debug)]
struct MakeCa {
    settings: Settings,
    cert_path: PathBuf,
    key_path: PathBuf,
    key: Option<PrivateKey>,
    why: String,
}

impl Action for MakeCa {
    fn describe(&self) -> String {
        self.why.clone()
    }

    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure> {
        let fail = |e: pki::Error| Failure::new(format!("making the CA: {e}"));
        let mut files = Vec::new();
        let new_key;
        let key = match &self.key {
            Some(key) => key,
            None => {
                new_key = PrivateKey::generate(self.settings.key_algorithm).map_err(fail)?;
                let pem = new_key.to_pem().map_err(fail)?;
                files.push(self.settings.file(&self.key_path, pem.as_bytes(), true));
                &new_key
            }
        };
        let clock = &self.settings.clock;
        let cert = pki::make_certificate(
            pki::common_name(CA_COMMON_NAME).map_err(fail)?,
            key.public_key_info().map_err(fail)?,
            clock.now.saturating_sub(BACKDATE_SECONDS),
            clock.now + self.settings.ca_validity_days * 86_400,
            Usage::Ca,
            key,
        )
        .map_err(fail)?;
        let pem = pki::certificate_to_pem(&cert).map_err(fail)?;
        // A new key and its certificate in one batch: the key's rename comes first, so a crash
        // in between leaves a key without a certificate, which the next run signs one for.
        files.push(self.settings.file(&self.cert_path, pem.as_bytes(), false));
        Batch::write_now(files, result)?;
        result.insert("ca_cert".into(), pem.into());
        result.insert("ca".into(), ca_summary(&cert, clock));
        Ok(())
    }
}
