//! `action: sign` on the CA host: turn checked CSRs into certificates.
//!
//! The CA trusts a CSR for one thing only: the public key it proves possession of. The subject
//! must be exactly the profile's CN; the only extension a CSR may ask for is subjectAltName, and
//! only names and addresses `members` lists for that member (client profiles get none). Every
//! other extension of the certificate (basic constraints, key usage, extended key usage, key
//! identifiers) comes from the profile the CA looks up by the request's declared name.

use crate::ca::{self, BACKDATE_SECONDS};
use crate::files::Deferred;
use crate::inspect::{san_texts, CaFile};
use crate::layout::{Layout, Member, Profile};
use crate::pki::{self, CertFacts, KeyAlgorithm, PrivateKey, San, Usage};
use crate::{IssuedEntry, MemberParams, RequestEntry, Settings};
use kubeha_runtime::{check, Action, Failure, Plan};
use serde_json::{json, Map, Value};
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

#[derive(Debug)]
struct Item {
    entry: RequestEntry,
    profile: Profile,
    common_name: String,
    sans: Vec<San>,
    /// `None` when the request was made in check mode (no key, no CSR).
    public_key: Option<SubjectPublicKeyInfoOwned>,
}

pub fn plan(
    settings: &Settings,
    issuer: ca::Which,
    requests: &[RequestEntry],
    members: &[MemberParams],
) -> Result<Plan, Failure> {
    let members = known_members(members)?;
    let ca = ca::load_which(settings, issuer)?;
    let planned_in_check_mode = !requests.is_empty() && requests.iter().all(|r| r.csr.is_none());
    let Some((ca_cert, ca_key)) = ca else {
        if !planned_in_check_mode {
            return Err(Failure::new(ca::missing_message(settings, issuer)));
        }
        // A check-mode run before the CA exists: say what would be signed.
        for (i, entry) in requests.iter().enumerate() {
            check_request(i, entry, &members)?;
        }
        let mut plan = Plan::new();
        plan.set("ca_cert", Value::Null);
        plan.set("issued", json!([]));
        plan.act(Deferred {
            what: format!("sign {} requests", requests.len()),
            missing: ca::missing_message(settings, issuer),
        });
        return Ok(plan);
    };
    if issuer == ca::Which::Next {
        // It signs only once members trust it: the first step of a rotation puts it in every
        // host's CA file, this one's too.
        let (cert_path, _) = settings.ca_files();
        if !CaFile::read(&cert_path)?.holds(&ca_cert) {
            return Err(Failure::new(format!(
                "refusing to sign with the next CA: {} does not hold its certificate yet; install \
                 the current and the next CA certificates on every host first (action install, \
                 ca_cert holding both), so that every member trusts what it signs",
                cert_path.display()
            )));
        }
    }
    let clock = &settings.clock;
    let ca_facts = CertFacts::of(&ca_cert);
    if ca_facts.not_after <= clock.now {
        return Err(Failure::new(format!(
            "the CA certificate expired on {}: renew it with action 'ca' first",
            pki::rfc3339(ca_facts.not_after)
        )));
    }

    let mut items: Vec<Item> = Vec::new();
    for (i, entry) in requests.iter().enumerate() {
        let item = check_request(i, entry, &members)?;
        if items
            .iter()
            .any(|o| o.entry.node_name == entry.node_name && o.entry.name == entry.name)
        {
            return Err(Failure::new(format!(
                "option 'requests' holds two requests for {} of {}",
                entry.name, entry.node_name
            )));
        }
        items.push(item);
    }

    let mut plan = Plan::new();
    let not_before = clock.now.saturating_sub(BACKDATE_SECONDS);
    let wanted_end = clock.now + settings.validity_days * 86_400;
    let not_after = wanted_end.min(ca_facts.not_after);
    if !items.is_empty() {
        if not_after < wanted_end {
            plan.warn(format!(
                "certificates end with the CA certificate on {} instead of after validity_days \
                 ({}); renew the CA (action 'ca' with a larger renew_before_days) to issue \
                 longer ones",
                pki::rfc3339(not_after),
                settings.validity_days
            ));
        }
        if settings.validity_days <= settings.clock.renew_before_days {
            plan.warn(format!(
                "validity_days ({}) is not more than renew_before_days ({}): these certificates \
                 are due for renewal as soon as they are issued",
                settings.validity_days, settings.clock.renew_before_days
            ));
        }
    }
    plan.set("ca_cert", pki::certificate_to_pem(&ca_cert)?);
    plan.set("issued", json!([]));
    if items.is_empty() {
        plan.msg = Some("no requests to sign".into());
    } else {
        plan.act(SignAll {
            ca_cert,
            ca_key,
            not_before,
            not_after,
            items,
        });
    }
    Ok(plan)
}

fn known_members(members: &[MemberParams]) -> Result<Vec<Member>, Failure> {
    let mut known: Vec<Member> = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let member = Member::new(
            &format!("members[{i}]."),
            &m.node_name,
            &m.node_ips,
            &m.extra_sans,
        )?;
        if known.iter().any(|k| k.name == member.name) {
            return Err(Failure::new(format!(
                "option 'members' lists {} twice",
                member.name
            )));
        }
        known.push(member);
    }
    Ok(known)
}

fn check_request(i: usize, entry: &RequestEntry, members: &[Member]) -> Result<Item, Failure> {
    check::host(&format!("requests[{i}].node_name"), &entry.node_name)?;
    let at = format!(
        "option 'requests[{i}]' ({} of {})",
        entry.name, entry.node_name
    );
    let fail = |why: String| Failure::new(format!("{at}: {why}"));
    let profile = Profile::parse(&entry.profile).ok_or_else(|| {
        fail(format!(
            "unknown profile '{}' (one of: {})",
            entry.profile,
            Profile::ALL.map(Profile::name).join(", ")
        ))
    })?;
    let names: Vec<&str> = [Layout::Kubeadm, Layout::Kubespray]
        .into_iter()
        .map(|l| {
            l.slot(std::path::Path::new("/"), &entry.node_name, profile)
                .name
        })
        .collect();
    if !names.contains(&entry.name.as_str()) {
        return Err(fail(format!(
            "a certificate of profile {} is named {}, not '{}'",
            profile.name(),
            names.join(" or "),
            entry.name
        )));
    }
    let common_name = profile.common_name(&entry.node_name);
    let (sans, public_key) = match &entry.csr {
        Some(pem) => {
            let request =
                pki::read_request(pem).map_err(|e| fail(format!("the CSR is invalid: {e}")))?;
            if request.common_name.as_deref() != Some(common_name.as_str()) {
                return Err(fail(format!(
                    "the CSR's subject is '{}'; the {} profile wants 'CN={common_name}'",
                    request.subject,
                    profile.name()
                )));
            }
            if !request.other_extensions.is_empty() {
                let oids: Vec<String> = request
                    .other_extensions
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                return Err(fail(format!(
                    "the CSR asks for {}; only subjectAltName may be requested (the CA sets \
                     every other extension from the profile)",
                    oids.join(", ")
                )));
            }
            if KeyAlgorithm::parse(&request.key_algorithm).is_none() {
                return Err(fail(format!(
                    "the CSR's key is {}; the CA signs {} keys",
                    request.key_algorithm,
                    KeyAlgorithm::NAMES.join(", ")
                )));
            }
            (request.sans, Some(request.public_key))
        }
        None => (
            entry.sans.iter().map(|s| San::parse_shown(s)).collect(),
            None,
        ),
    };
    let mut unique: Vec<San> = Vec::new();
    for san in sans {
        if !unique.contains(&san) {
            unique.push(san);
        }
    }
    if profile.has_sans() {
        let member = members
            .iter()
            .find(|m| m.name == entry.node_name)
            .ok_or_else(|| {
                fail(format!(
                    "{} is not in option 'members': the CA signs server and peer certificates \
                     only for the members it is told about",
                    entry.node_name
                ))
            })?;
        let refused: Vec<String> = unique
            .iter()
            .filter(|s| !member.sans.contains(s))
            .map(ToString::to_string)
            .collect();
        if !refused.is_empty() {
            return Err(fail(format!(
                "the CSR asks for SANs that option 'members' does not give {}: {} (allowed: {})",
                entry.node_name,
                refused.join(", "),
                san_texts(&member.sans).join(", ")
            )));
        }
    } else if !unique.is_empty() {
        return Err(fail(format!(
            "the {} profile carries no SANs, but the CSR asks for {}",
            profile.name(),
            san_texts(&unique).join(", ")
        )));
    }
    Ok(Item {
        entry: entry.clone(),
        profile,
        common_name,
        sans: unique,
        public_key,
    })
}

/// Signs every checked request; the certificates go to the result's `issued`.
#[derive(Debug)]
struct SignAll {
    ca_cert: Certificate,
    ca_key: PrivateKey,
    not_before: u64,
    not_after: u64,
    items: Vec<Item>,
}

impl Action for SignAll {
    fn describe(&self) -> String {
        let what: Vec<String> = self
            .items
            .iter()
            .map(|i| format!("{} of {}", i.entry.name, i.entry.node_name))
            .collect();
        format!("sign {}", what.join(", "))
    }

    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure> {
        if let Some(item) = self.items.iter().find(|i| i.public_key.is_none()) {
            return Err(Failure::new(format!(
                "the request for {} of {} has no CSR: it was planned in check mode; run \
                 action 'request' without --check first",
                item.entry.name, item.entry.node_name
            )));
        }
        let mut issued = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let Some(public_key) = &item.public_key else {
                continue;
            };
            let fail = |e: pki::Error| {
                Failure::new(format!(
                    "signing {} of {}: {e}",
                    item.entry.name, item.entry.node_name
                ))
            };
            let cert = pki::make_certificate(
                pki::common_name(&item.common_name).map_err(fail)?,
                public_key.clone(),
                self.not_before,
                self.not_after,
                Usage::Leaf {
                    issuer: &self.ca_cert,
                    ext_key_usage: item.profile.ext_key_usage(),
                    sans: &item.sans,
                },
                &self.ca_key,
            )
            .map_err(fail)?;
            let facts = CertFacts::of(&cert);
            issued.push(IssuedEntry {
                node_name: item.entry.node_name.clone(),
                name: item.entry.name.clone(),
                profile: item.profile.name().to_owned(),
                cert: pki::certificate_to_pem(&cert).map_err(fail)?,
                subject: Some(facts.subject),
                sans: san_texts(&facts.sans),
                serial: Some(facts.serial),
                not_after: Some(pki::rfc3339(facts.not_after)),
            });
        }
        result.insert("issued".into(), json!(issued));
        Ok(())
    }
}
