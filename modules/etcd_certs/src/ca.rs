//! `action: ca` on the CA host: ensure the CA key and certificate.
//!
//! A missing CA is created. An existing CA is kept whatever `key_algorithm` says (replacing it
//! would invalidate every certificate). A CA certificate due for renewal is signed again with
//! the same key and subject: every certificate it issued stays valid under the new one.
//!
//! A CA rotation adds a second CA beside it, the next CA (`next_ca: present`), which members
//! learn to trust before it signs anything; `next_ca: promote` then makes it the CA. The CA
//! file may hold both: the CA is the certificate the CA key signs as.

use crate::inspect::{self, CaFile, Clock, KeyFile};
use crate::pki::{self, CertFacts, PrivateKey, Usage};
use crate::Settings;
use kubeha_runtime::file::{self, Batch};
use kubeha_runtime::{Action, Diff, Failure, Plan};
use serde_json::{Map, Value};
use std::path::PathBuf;
use x509_cert::Certificate;

/// The CA's subject, as kubeadm names it.
pub const CA_COMMON_NAME: &str = "etcd-ca";
/// How far back certificates start, so that hosts with slightly late clocks accept them
/// (kubeadm's `CertificateBackdate`).
pub const BACKDATE_SECONDS: u64 = 5 * 60;

/// What `action: ca` does with the next CA of a CA rotation (option `next_ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextCa {
    /// Leave it as it is; say whether there is one (a rotation in progress).
    Keep,
    /// Make it when there is none.
    Present,
    /// Make it the CA: its key replaces the CA key.
    Promote,
}

impl NextCa {
    pub const NAMES: &'static [&'static str] = &["keep", "present", "promote"];

    pub fn parse(name: &str) -> Option<NextCa> {
        match name {
            "keep" => Some(NextCa::Keep),
            "present" => Some(NextCa::Present),
            "promote" => Some(NextCa::Promote),
            _ => None,
        }
    }
}

/// One of the CA host's two CAs: the current one, which signs, and the next one of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Current,
    Next,
}

impl Which {
    fn files(self, settings: &Settings) -> (PathBuf, PathBuf) {
        match self {
            Which::Current => settings.ca_files(),
            Which::Next => settings.layout.next_ca_files(&settings.dir),
        }
    }

    /// The name of a result field about this CA (`ca_cert`, `next_ca_cert`, ...).
    fn field(self, name: &str) -> String {
        match self {
            Which::Current => name.to_string(),
            Which::Next => format!("next_{name}"),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Which::Current => "CA",
            Which::Next => "next CA",
        }
    }
}

pub fn plan(settings: &Settings, next_ca: NextCa) -> Result<Plan, Failure> {
    let mut plan = plan_one(settings, Which::Current, false)?;
    let leftover = promotion_leftover(settings)?;
    if leftover {
        plan.warn(format!(
            "{} holds the CA's own certificate and has no key beside it (a promotion of the next \
             CA stopped halfway): it is not a next CA",
            Which::Next.files(settings).0.display()
        ));
    }
    match next_ca {
        NextCa::Keep => {
            let next = match leftover {
                true => None,
                false => load_which(settings, Which::Next)?,
            };
            let pem = next
                .map(|(cert, _)| pki::certificate_to_pem(&cert))
                .transpose()?;
            plan.set("next_ca_cert", pem.map_or(Value::Null, Value::String));
            Ok(plan)
        }
        NextCa::Present => {
            let next = plan_one(settings, Which::Next, leftover)?;
            plan.msg = next.msg.clone().or(plan.msg);
            plan.merge(next);
            Ok(plan)
        }
        NextCa::Promote => promote(settings, plan, leftover),
    }
}

/// `next_ca: promote`: the next CA's key replaces the CA key and its certificate file goes (the
/// CA file already holds its certificate); a leftover of a promotion that stopped halfway is
/// removed.
fn promote(settings: &Settings, mut plan: Plan, leftover: bool) -> Result<Plan, Failure> {
    let (next_cert_path, next_key_path) = Which::Next.files(settings);
    let next = match leftover {
        true => {
            plan.merge(file::plan_absent(&next_cert_path)?);
            None
        }
        false => load_which(settings, Which::Next)?,
    };
    plan.set("next_ca_cert", Value::Null);
    let Some((next_cert, _)) = next else {
        if plan.actions.is_empty() {
            plan.msg = Some("there is no next CA to promote: the CA is in place".into());
        }
        return Ok(plan);
    };
    let (cert_path, key_path) = settings.ca_files();
    // Only a CA every member already trusts may sign: the CA file here must hold it (the first
    // step of a rotation installs current + next everywhere).
    if !CaFile::read(&cert_path)?.holds(&next_cert) {
        return Err(Failure::new(format!(
            "refusing to promote the next CA: {} does not hold its certificate yet; install the \
             current and the next CA certificates on every host first (action install, ca_cert \
             holding both), so that every member trusts it before it signs",
            cert_path.display()
        )));
    }
    let before = plan
        .fields
        .get("ca")
        .and_then(|ca| ca.get("serial"))
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string();
    plan.diff(Diff {
        before: format!("CA serial: {before}\n"),
        after: format!("CA serial: {}\n", CertFacts::of(&next_cert).serial),
        before_header: key_path.to_string_lossy().into_owned(),
        after_header: key_path.to_string_lossy().into_owned(),
    });
    // The key first: a crash before the certificate's removal leaves a leftover (see above).
    let mut batch = Batch::new();
    batch.rename(
        next_key_path,
        key_path.clone(),
        format!(
            "make the next CA the CA (its key replaces {})",
            key_path.display()
        ),
    );
    plan.act(batch);
    plan.merge(file::plan_absent(&next_cert_path)?);
    plan.set("ca_cert", pki::certificate_to_pem(&next_cert)?);
    plan.set("ca", ca_summary(&next_cert, &settings.clock));
    Ok(plan)
}

/// True when the next CA's certificate file holds the CA's own certificate and no key is beside
/// it: a promotion that stopped between moving the key and removing the certificate.
fn promotion_leftover(settings: &Settings) -> Result<bool, Failure> {
    let (next_cert_path, next_key_path) = Which::Next.files(settings);
    if next_key_path.exists() {
        return Ok(false);
    }
    let CaFile::Present(certs) = CaFile::read(&next_cert_path)? else {
        return Ok(false);
    };
    Ok(load_which(settings, Which::Current)?.is_some_and(|(current, _)| certs.contains(&current)))
}

/// Ensures one CA's key and certificate: made when missing, renewed (same key) when expiring.
/// `ignore_cert`: the certificate file is a leftover, to be replaced.
fn plan_one(settings: &Settings, which: Which, ignore_cert: bool) -> Result<Plan, Failure> {
    let (cert_path, key_path) = which.files(settings);
    let file = match ignore_cert {
        true => CaFile::Missing,
        false => CaFile::read(&cert_path)?,
    };
    let key = KeyFile::read(&key_path)?;
    let mut plan = Plan::new();
    plan.set(
        &which.field("ca_cert_path"),
        cert_path.to_string_lossy().into_owned(),
    );
    plan.set(
        &which.field("ca_key_path"),
        key_path.to_string_lossy().into_owned(),
    );
    let dirs = crate::files::parents([&cert_path, &key_path]);

    let key = match key {
        KeyFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the {} key {} is unreadable ({why}); restore it from a backup",
                which.what(),
                key_path.display()
            )))
        }
        KeyFile::Missing => None,
        KeyFile::Present(key) => Some(key),
    };
    let bundle = match file {
        CaFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the {} certificate {} is unreadable ({why}); restore it, or remove it to sign \
                 a new one with the existing key",
                which.what(),
                cert_path.display()
            )))
        }
        CaFile::Missing => Vec::new(),
        CaFile::Present(certs) => certs,
    };

    match (bundle.is_empty(), key) {
        (true, None) => {
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
                which,
                cert_path,
                key_path,
                key: None,
                bundle,
                index: None,
                why: format!("create the etcd {}", which.what()),
            });
            plan.set(&which.field("ca_cert"), Value::Null);
        }
        (false, None) => {
            return Err(Failure::new(format!(
                "the {what} certificate {} exists but its key {} does not: restore the key (from a \
                 backup or the old CA host), or remove the certificate to start a new {what}, which \
                 re-issues every certificate",
                cert_path.display(),
                key_path.display(),
                what = which.what(),
            )))
        }
        (true, Some(key)) => {
            plan.warn(format!(
                "{} is missing: signing a new {} certificate with the existing key {}",
                cert_path.display(),
                which.what(),
                key_path.display()
            ));
            plan.merge(settings.plan_dirs(&dirs)?);
            plan.merge(settings.fix_attributes(&key_path, true)?);
            plan.act(MakeCa {
                settings: settings.clone(),
                which,
                cert_path,
                key_path,
                key: Some(key),
                bundle,
                index: None,
                why: format!("sign a {} certificate for the existing key", which.what()),
            });
            plan.set(&which.field("ca_cert"), Value::Null);
        }
        (false, Some(key)) => {
            let index = signed_as(&bundle, &key, &cert_path, &key_path)?;
            let cert = bundle[index].clone();
            if key.algorithm_name() != settings.key_algorithm.name() {
                plan.warn(format!(
                    "the {} key is {}, not {} (key_algorithm): an existing CA is never replaced; \
                     key_algorithm applies to new keys",
                    which.what(),
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
                    which,
                    cert_path,
                    key_path,
                    key: Some(key),
                    bundle,
                    index: Some(index),
                    why: format!(
                        "renew the {} certificate with the same key ({reason})",
                        which.what()
                    ),
                });
            }
            plan.set(&which.field("ca_cert"), pki::certificate_to_pem(&cert)?);
            plan.set(&which.field("ca"), ca_summary(&cert, &settings.clock));
            if plan.actions.is_empty() {
                plan.msg = Some(format!(
                    "the {} is in place ({} days left)",
                    which.what(),
                    settings.clock.days_left(facts.not_after)
                ));
            }
        }
    }
    Ok(plan)
}

/// Why `sign` cannot find the CA it signs with.
pub fn missing_message(settings: &Settings, which: Which) -> String {
    missing_file(which, "certificate", &which.files(settings).0)
}

fn missing_file(which: Which, what: &str, path: &std::path::Path) -> String {
    let action = match which {
        Which::Current => "action 'ca'",
        Which::Next => "action 'ca' with next_ca: present",
    };
    format!(
        "the {} {what} {} is missing on this host: run {action} here first (sign runs on the CA \
         host, with the same layout and cert_dir)",
        which.what(),
        path.display()
    )
}

/// One of the CA host's CAs, checked; `None` when neither its certificate nor its key exists.
pub fn load_which(
    settings: &Settings,
    which: Which,
) -> Result<Option<(Certificate, PrivateKey)>, Failure> {
    let (cert_path, key_path) = which.files(settings);
    let missing =
        |what: &str, path: &std::path::Path| Failure::new(missing_file(which, what, path));
    let bundle = match CaFile::read(&cert_path)? {
        CaFile::Present(certs) => certs,
        CaFile::Missing if !key_path.exists() => return Ok(None),
        CaFile::Missing => return Err(missing("certificate", &cert_path)),
        CaFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the {} certificate {} is unreadable ({why})",
                which.what(),
                cert_path.display()
            )))
        }
    };
    let key = match KeyFile::read(&key_path)? {
        KeyFile::Present(key) => key,
        KeyFile::Missing => return Err(missing("key", &key_path)),
        KeyFile::Unreadable(why) => {
            return Err(Failure::new(format!(
                "the {} key {} is unreadable ({why})",
                which.what(),
                key_path.display()
            )))
        }
    };
    let index = signed_as(&bundle, &key, &cert_path, &key_path)?;
    Ok(Some((bundle[index].clone(), key)))
}

/// The certificate of `bundle` that `key` signs as (a CA file holds more than one during a
/// rotation), checked to be a CA.
fn signed_as(
    bundle: &[Certificate],
    key: &PrivateKey,
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
) -> Result<usize, Failure> {
    let index = bundle
        .iter()
        .position(|cert| pki::can_sign_as(key, cert))
        .ok_or_else(|| {
            Failure::new(format!(
                "the CA key {} does not belong to the CA certificate {}; refusing to touch either",
                key_path.display(),
                cert_path.display()
            ))
        })?;
    if !CertFacts::of(&bundle[index]).is_ca {
        return Err(Failure::new(format!(
            "{} is not a CA certificate (basicConstraints CA:TRUE is missing)",
            cert_path.display()
        )));
    }
    Ok(index)
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
    which: Which,
    cert_path: PathBuf,
    key_path: PathBuf,
    key: Option<PrivateKey>,
    /// The CA file's certificates: the new one replaces the one at `index`, or comes first.
    bundle: Vec<Certificate>,
    index: Option<usize>,
    why: String,
}

impl Action for MakeCa {
    fn describe(&self) -> String {
        self.why.clone()
    }

    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure> {
        let fail = |e: pki::Error| Failure::new(format!("making the {}: {e}", self.which.what()));
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
        let mut bundle = self.bundle.clone();
        match self.index {
            Some(i) => bundle[i] = cert.clone(),
            None => bundle.insert(0, cert.clone()),
        }
        let text = bundle
            .iter()
            .map(pki::certificate_to_pem)
            .collect::<Result<String, _>>()
            .map_err(fail)?;
        // A new key and its certificate in one batch: the key's rename comes first, so a crash
        // in between leaves a key without a certificate, which the next run signs one for.
        files.push(self.settings.file(&self.cert_path, text.as_bytes(), false));
        Batch::write_now(files, result)?;
        result.insert(self.which.field("ca_cert"), pem.into());
        result.insert(self.which.field("ca"), ca_summary(&cert, clock));
        Ok(())
    }
}
