//! `action: request` on every host, and the read-only `action: report`.
//!
//! `request` judges each certificate this host needs and asks for exactly those that must be
//! (re)issued, each with its reason. A certificate keeps its key unless the key is missing,
//! unreadable, of another `key_algorithm`, or `rotate_keys` is set; a new key is written next
//! to the old one as `<key>.next` and only `install` puts it in place, together with its
//! certificate. `changed` means "something must be issued": the CSRs are then in `requests`.

use crate::files::RemovePendingKey;
use crate::inspect::{self, CertFile, Inspection, KeyFile, Status};
use crate::layout::Slot;
use crate::pki::{self, PrivateKey, San};
use crate::{NodeParams, RequestEntry, Settings};
use kubeha_runtime::file::Batch;
use kubeha_runtime::{Action, Diff, Failure, Plan};
use serde_json::{json, Map, Value};
use x509_cert::Certificate;

/// Where the key of a request comes from.
#[derive(Debug)]
enum KeySource {
    /// The key in place, which the current certificate uses.
    Current(PrivateKey),
    /// A new key made by an earlier `request` that no `install` has put in place yet.
    Pending(PrivateKey),
    /// A key made now, written as `<key>.next`.
    New,
}

#[derive(Debug)]
struct Item {
    slot: Slot,
    key: KeySource,
    common_name: String,
    sans: Vec<San>,
    entry: RequestEntry,
}

pub fn plan(settings: &Settings, node: &NodeParams) -> Result<Plan, Failure> {
    let ca = current_ca(settings, node)?;
    let slots = settings
        .layout
        .slots(&settings.dir, &node.member.name, &node.profiles);
    let algorithm = settings.key_algorithm.name();
    let mut plan = Plan::new();
    plan.merge(settings.plan_dirs(&crate::files::parents(slots.iter().map(|s| &s.key)))?);

    let mut report = Vec::new();
    let mut items = Vec::new();
    for slot in slots {
        let wanted = node.wanted(slot.profile, ca.as_ref(), settings);
        let inspection = Inspection::of(&slot, &wanted, &settings.clock)?;
        report.push(inspection.report(&settings.clock));
        let mut reasons = inspection.reasons.clone();
        if settings.force {
            reasons.insert(0, "forced (force: true)".into());
        }
        if !settings.force && !inspection.needs_issue() {
            plan.merge(settings.fix_attributes(&slot.key, true)?);
            if !matches!(inspection.pending, KeyFile::Missing) {
                plan.act(RemovePendingKey {
                    path: slot.pending_key(),
                });
            }
            continue;
        }
        let needs_new_key = inspection.needs_new_key(algorithm) || settings.rotate_keys;
        let pending_key = match inspection.pending {
            KeyFile::Present(key) if key.algorithm_name() == algorithm => Some(key),
            _ => None,
        };
        let key = match (inspection.key, needs_new_key, pending_key) {
            (KeyFile::Present(key), false, _) => {
                plan.merge(settings.fix_attributes(&slot.key, true)?);
                KeySource::Current(key)
            }
            (_, _, Some(pending)) => {
                plan.merge(settings.fix_attributes(&slot.pending_key(), true)?);
                KeySource::Pending(pending)
            }
            _ => KeySource::New,
        };
        let key_algorithm = match &key {
            KeySource::Current(key) => key.algorithm_name(),
            _ => algorithm.to_owned(),
        };
        let sans = node.member.sans_for(slot.profile).to_vec();
        let common_name = slot.profile.common_name(&node.member.name);
        plan.diff(Diff {
            before: match &inspection.cert {
                CertFile::Present(cert) => inspect::diff_text(Some(cert)),
                _ => String::new(),
            },
            after: format!(
                "request: CN={common_name}\nSANs: {}\nkey: {}\nreason: {}\n",
                inspect::san_texts(&sans).join(", "),
                match &key {
                    KeySource::Current(_) => format!("{key_algorithm}, unchanged"),
                    KeySource::Pending(_) => format!("{key_algorithm}, new (made earlier)"),
                    KeySource::New => format!("{key_algorithm}, new"),
                },
                reasons.join("; ")
            ),
            before_header: slot.cert.to_string_lossy().into_owned(),
            after_header: format!("{} (to be issued)", slot.cert.display()),
        });
        let entry = RequestEntry {
            node_name: node.member.name.clone(),
            name: slot.name.to_owned(),
            profile: slot.profile.name().to_owned(),
            reason: Some(reasons.join("; ")),
            sans: inspect::san_texts(&sans),
            key_algorithm: Some(key_algorithm),
            csr: None,
        };
        items.push(Item {
            slot,
            key,
            common_name,
            sans,
            entry,
        });
    }

    plan.set("certificates", Value::Array(report));
    plan.set(
        "requests",
        json!(items.iter().map(|i| &i.entry).collect::<Vec<_>>()),
    );
    if items.is_empty() {
        if plan.actions.is_empty() {
            plan.msg = Some("no certificate needs issuing".into());
        }
    } else {
        plan.act(MakeRequests {
            settings: settings.clone(),
            items,
        });
    }
    Ok(plan)
}

/// The expiry report of this host's certificates; changes nothing.
pub fn report(settings: &Settings, node: &NodeParams) -> Result<Plan, Failure> {
    let ca = current_ca(settings, node)?;
    let clock = &settings.clock;
    let mut plan = Plan::new();
    let mut report = Vec::new();
    let mut to_issue = Vec::new();
    let mut summary = Vec::new();
    for slot in settings
        .layout
        .slots(&settings.dir, &node.member.name, &node.profiles)
    {
        let wanted = node.wanted(slot.profile, ca.as_ref(), settings);
        let inspection = Inspection::of(&slot, &wanted, clock)?;
        report.push(inspection.report(clock));
        if inspection.needs_issue() {
            to_issue.push(slot.name);
        }
        summary.push(match (&inspection.cert, inspection.status) {
            (CertFile::Present(cert), status) if status != Status::Missing => format!(
                "{} {} ({} days left)",
                slot.name,
                status.name(),
                clock.days_left(pki::CertFacts::of(cert).not_after)
            ),
            (_, status) => format!("{} {}", slot.name, status.name()),
        });
    }
    if let Some(ca) = &ca {
        plan.set("ca", crate::ca::ca_summary(ca, clock));
    }
    plan.set("certificates", Value::Array(report));
    plan.set("to_issue", json!(to_issue));
    plan.msg = Some(summary.join("; "));
    Ok(plan)
}

/// The CA certificates are checked against: the task's `ca_cert`, else this host's CA file.
fn current_ca(settings: &Settings, node: &NodeParams) -> Result<Option<Certificate>, Failure> {
    if let Some(ca) = &node.ca_cert {
        return Ok(Some(ca.clone()));
    }
    let (cert_path, _) = settings.ca_files();
    Ok(match CertFile::read(&cert_path)? {
        CertFile::Present(cert) => Some(*cert),
        _ => None,
    })
}

/// Makes the new keys and every CSR; puts the CSRs in the result's `requests`.
#[derive(Debug)]
struct MakeRequests {
    settings: Settings,
    items: Vec<Item>,
}

impl Action for MakeRequests {
    fn describe(&self) -> String {
        let what: Vec<String> = self
            .items
            .iter()
            .map(|i| {
                format!(
                    "{} ({})",
                    i.slot.name,
                    i.entry.reason.as_deref().unwrap_or_default()
                )
            })
            .collect();
        format!("request {}", what.join(", "))
    }

    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure> {
        let fail = |item: &Item, e: pki::Error| {
            Failure::new(format!("making the request for {}: {e}", item.slot.name))
        };
        // Every new key first, written in one batch (one directory fsync, not one per key).
        let mut keys = Vec::with_capacity(self.items.len());
        let mut files = Vec::new();
        for item in &self.items {
            keys.push(match &item.key {
                KeySource::Current(key) | KeySource::Pending(key) => Key::Kept(key),
                KeySource::New => {
                    let key = PrivateKey::generate(self.settings.key_algorithm)
                        .map_err(|e| fail(item, e))?;
                    let pem = key.to_pem().map_err(|e| fail(item, e))?;
                    let pending = item.slot.pending_key();
                    files.push(self.settings.file(&pending, pem.as_bytes(), true));
                    Key::Made(key)
                }
            });
        }
        Batch::write_now(files, result)?;

        let mut entries = Vec::with_capacity(self.items.len());
        for (item, key) in self.items.iter().zip(&keys) {
            let csr = pki::make_request(key.get(), &item.common_name, &item.sans);
            let mut entry = item.entry.clone();
            entry.csr = Some(csr.map_err(|e| fail(item, e))?);
            entries.push(entry);
        }
        result.insert("requests".into(), json!(entries));
        Ok(())
    }
}

/// A request's key while the requests are made: read at plan time, or made now.
enum Key<'a> {
    Kept(&'a PrivateKey),
    Made(PrivateKey),
}

impl Key<'_> {
    fn get(&self) -> &PrivateKey {
        match self {
            Key::Kept(key) => key,
            Key::Made(key) => key,
        }
    }
}
