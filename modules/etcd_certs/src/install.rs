//! `action: install` on every host: write the certificates `sign` issued for this host, and the
//! CA certificate.
//!
//! A certificate is written only if it is signed by `ca_cert`, is exactly what this host's
//! profile wants (CN, usage, SANs, key type), has not expired, and belongs to this host's key
//! or to the new key `request` left waiting (which is then moved into place just before the
//! certificate). Every check passes before anything is written.

use crate::files::Deferred;
use crate::inspect::{self, CaFile, CertFile, KeyFile, Status};
use crate::layout::Slot;
use crate::pki::{self, CertFacts};
use crate::{IssuedEntry, NodeParams, Settings};
use kubeha_runtime::file::Batch;
use kubeha_runtime::{Diff, Failure, Plan};
use serde_json::{json, Value};
use x509_cert::der::Encode;
use x509_cert::Certificate;

pub fn plan(
    settings: &Settings,
    node: &NodeParams,
    ca_pem: Option<&str>,
    issued: &[IssuedEntry],
) -> Result<Plan, Failure> {
    const NEED_CA: &str = "option 'ca_cert' is required with action 'install': the CA \
                           certificate, as action 'ca' or 'sign' returns it";
    let ca = match (&node.ca_cert, ca_pem) {
        (Some(ca), Some(_)) => ca.clone(),
        // A check-mode run before the CA exists has no CA certificate to pass yet.
        _ if issued.is_empty() => {
            let mut plan = Plan::new();
            plan.act(Deferred {
                what: "install the CA certificate and the certificates signed for this host".into(),
                missing: NEED_CA.into(),
            });
            return Ok(plan);
        }
        _ => return Err(Failure::new(NEED_CA)),
    };
    let trusted = &node.trusted;
    let (ca_cert_path, ca_key_path) = settings.ca_files();
    // On the CA host, foreign CA certificates must not replace the one the CA key signs with.
    if let KeyFile::Present(key) = KeyFile::read(&ca_key_path)? {
        if !trusted.iter().any(|cert| pki::can_sign_as(&key, cert)) {
            return Err(Failure::new(format!(
                "option 'ca_cert' does not belong to this host's CA key {}: refusing to replace \
                 {} with it",
                ca_key_path.display(),
                ca_cert_path.display()
            )));
        }
    }
    let clock = &settings.clock;
    let slots = settings
        .layout
        .slots(&settings.dir, &node.member.name, &node.profiles);

    let mut plan = Plan::new();
    let mut changed: Vec<&str> = Vec::new();
    let dirs =
        crate::files::parents(std::iter::once(&ca_cert_path).chain(slots.iter().map(|s| &s.cert)));

    // Attribute fixes in `writes`; new files and key promotions in one batch, so the whole
    // install costs one fsync per directory (each file still replaced atomically).
    let mut writes = Plan::new();
    let mut batch = Batch::new();
    // The CA file holds exactly the certificates of ca_cert; in another order it is left as it
    // is (etcd would be restarted for nothing).
    let existing_ca = CaFile::read(&ca_cert_path)?;
    if existing_ca.holds_exactly(trusted) {
        writes.merge(settings.fix_attributes(&ca_cert_path, false)?);
    } else {
        let before = match &existing_ca {
            CaFile::Present(certs) => {
                Some(certs.iter().map(|c| inspect::diff_text(Some(c))).collect())
            }
            CaFile::Unreadable(why) => Some(format!("(unreadable: {why})\n")),
            CaFile::Missing => None,
        };
        write_certs(
            settings,
            &mut writes,
            &mut batch,
            &ca_cert_path,
            before,
            trusted,
        )?;
        changed.push("ca");
    }

    let mut installed: Vec<(Slot, Certificate)> = Vec::new();
    for (i, entry) in issued.iter().enumerate() {
        if entry.node_name != node.member.name {
            continue;
        }
        let (slot, cert, promote) = check_issued(settings, node, &ca, i, entry)?;
        if installed.iter().any(|(s, _)| s.name == slot.name) {
            return Err(Failure::new(format!(
                "option 'issued' holds two certificates for {} of {}",
                slot.name, node.member.name
            )));
        }
        let existing = CertFile::read(&slot.cert)?;
        if same_certificate(&existing, &cert) && !promote {
            writes.merge(settings.fix_attributes(&slot.cert, false)?);
        } else {
            if promote {
                // Just before its certificate, so the running etcd never sees the new key
                // without it for longer than two renames.
                let what = format!("put the new key {} in place", slot.key.display());
                batch.rename(slot.pending_key(), slot.key.clone(), what);
            }
            let before = match &existing {
                CertFile::Present(old) => Some(inspect::diff_text(Some(old))),
                CertFile::Unreadable(why) => Some(format!("(unreadable: {why})\n")),
                CertFile::Missing => None,
            };
            write_certs(
                settings,
                &mut writes,
                &mut batch,
                &slot.cert,
                before,
                std::slice::from_ref(&cert),
            )?;
            changed.push(slot.name);
        }
        if let Some(reason) = clock.expiry_reason(CertFacts::of(&cert).not_after) {
            plan.warn(format!(
                "{} of {} {reason}: it will be renewed on the next run",
                slot.name, node.member.name
            ));
        }
        installed.push((slot, cert));
    }
    for slot in &slots {
        if !installed.iter().any(|(s, _)| s.name == slot.name) {
            writes.merge(settings.fix_attributes(&slot.cert, false)?);
        }
    }
    if !batch.is_empty() {
        writes.act(batch);
    }
    if !writes.actions.is_empty() {
        plan.merge(settings.plan_dirs(&dirs)?);
    }
    plan.merge(writes);

    // The report shows the host as it is once the plan is applied.
    let mut report = Vec::new();
    for slot in &slots {
        let entry = match installed.iter().find(|(s, _)| s.name == slot.name) {
            Some((_, cert)) => {
                let status = match clock.expiry_reason(CertFacts::of(cert).not_after) {
                    Some(_) => Status::Expiring,
                    None => Status::Valid,
                };
                inspect::report_entry(
                    slot,
                    &CertFile::Present(Box::new(cert.clone())),
                    status,
                    &[],
                    clock,
                )
            }
            None => {
                let wanted = node.wanted(slot.profile, Some(&ca), settings);
                inspect::Inspection::of(slot, &wanted, clock)?.report(clock)
            }
        };
        report.push(entry);
    }
    // etcd (3.2+) reads its certificate and key again for every new connection, but its trusted
    // CA file only when it starts (etcd-io/etcd#11555).
    let etcd_restart_needed = changed.contains(&"ca");
    plan.set("changed_certs", json!(changed));
    plan.set("etcd_restart_needed", etcd_restart_needed);
    plan.set("certificates", Value::Array(report));
    plan.set("ca", crate::ca::ca_summary(&ca, clock));
    if plan.actions.is_empty() {
        plan.msg = Some(if installed.is_empty() {
            "nothing to install for this host".into()
        } else {
            "the certificates are already in place".into()
        });
    }
    Ok(plan)
}

/// Checks one `issued` entry meant for this host: the slot it goes to, the certificate, and
/// whether its key is the pending one.
fn check_issued(
    settings: &Settings,
    node: &NodeParams,
    ca: &Certificate,
    i: usize,
    entry: &IssuedEntry,
) -> Result<(Slot, Certificate, bool), Failure> {
    let at = format!(
        "option 'issued[{i}]' ({} of {})",
        entry.name, entry.node_name
    );
    let fail = |why: String| Failure::new(format!("{at}: {why}"));
    let slot = settings
        .layout
        .slot_named(&settings.dir, &node.member.name, &entry.name)
        .ok_or_else(|| {
            fail(format!(
                "the {:?} layout has no certificate named '{}'",
                settings.layout, entry.name
            ))
        })?;
    if slot.profile.name() != entry.profile {
        return Err(fail(format!(
            "profile '{}' does not fit {} (which is {})",
            entry.profile,
            slot.name,
            slot.profile.name()
        )));
    }
    let cert = pki::certificate_from_pem(&entry.cert)
        .map_err(|e| fail(format!("not a PEM certificate: {e}")))?;
    let wanted = node.wanted(slot.profile, Some(ca), settings);
    let reasons = inspect::mismatches(&cert, &wanted);
    if !reasons.is_empty() {
        return Err(fail(format!(
            "not installed, it is not what this host wants: {}",
            reasons.join("; ")
        )));
    }
    let facts = CertFacts::of(&cert);
    if facts.not_after <= settings.clock.now {
        return Err(fail(format!(
            "not installed, it expired on {}",
            pki::rfc3339(facts.not_after)
        )));
    }
    let matches = |file: &KeyFile| file.key().is_some_and(|k| pki::key_matches(k, &cert));
    if matches(&KeyFile::read(&slot.key)?) {
        return Ok((slot, cert, false));
    }
    if matches(&KeyFile::read(&slot.pending_key())?) {
        return Ok((slot, cert, true));
    }
    Err(fail(format!(
        "not installed, it is for a key this host does not have (neither {} nor {}): it answers \
         another request; run request and sign again",
        slot.key.display(),
        slot.pending_key().display()
    )))
}

fn same_certificate(existing: &CertFile, cert: &Certificate) -> bool {
    match existing {
        CertFile::Present(old) => old.to_der().ok() == cert.to_der().ok(),
        _ => false,
    }
}

/// Plans writing `certs` to `path` in `batch`, with a diff people can read; `before` is what the
/// diff shows of the file there now (`None`: absent).
fn write_certs(
    settings: &Settings,
    plan: &mut Plan,
    batch: &mut Batch,
    path: &std::path::Path,
    before: Option<String>,
    certs: &[Certificate],
) -> Result<(), Failure> {
    let pem = certs
        .iter()
        .map(pki::certificate_to_pem)
        .collect::<Result<String, _>>()?;
    let file_plan = batch.add(settings.file(path, pem, false))?;
    plan.diff(Diff {
        before_header: match before {
            None => "(absent)".into(),
            Some(_) => path.to_string_lossy().into_owned(),
        },
        before: before.unwrap_or_default(),
        after: certs.iter().map(|c| inspect::diff_text(Some(c))).collect(),
        after_header: path.to_string_lossy().into_owned(),
    });
    plan.actions.extend(file_plan.actions);
    Ok(())
}
