//! `etcd_certs`: an etcd CA and kubeadm-profile certificates for every member, with private keys
//! that never leave the host that uses them, idempotent renewal and an expiry report.
//!
//! One module, five actions, run in this order by a role:
//! - `ca` (CA host): ensure the CA key and certificate; return the CA certificate.
//! - `request` (every host): ensure keys; judge the certificates already there; return a CSR for
//!   each one that must be (re)issued, with the reason. New keys wait next to the old ones
//!   (`<key>.next`) until their certificate arrives.
//! - `sign` (CA host): check each CSR (signature, subject, requested extensions, SANs against
//!   what the CA host knows of the member) and sign it with the profile the CA decides.
//! - `install` (every host): check and write the certificates meant for this host and the CA
//!   certificate, atomically; report which changed.
//! - `report` (anywhere, read-only): the expiry report, as `kubeadm certs check-expiration`.
//!
//! Only certificates and CSRs travel (through registered variables); private keys are made
//! where they are used and never appear in any result or diff.

pub mod ca;
pub mod files;
pub mod inspect;
pub mod install;
pub mod layout;
pub mod pki;
pub mod request;
pub mod sign;

use inspect::{Clock, Wanted};
use kubeha_runtime::{users, DefaultValue, Failure, Kind, Module, Opt, Plan};
use layout::{Layout, Member, Profile};
use pki::KeyAlgorithm;
use serde::Deserialize;
use std::path::PathBuf;
use x509_cert::Certificate;

/// The module.
#[derive(Debug)]
pub struct EtcdCerts;

const MEMBER: &[Opt] = &[
    Opt::str("node_name").required(),
    Opt::list("node_ips", Kind::Str).default(DefaultValue::Json("[]")),
    Opt::list("extra_sans", Kind::Str).default(DefaultValue::Json("[]")),
];

/// The keys of one `request` result entry, which `sign` takes back unchanged.
const REQUEST: &[Opt] = &[
    Opt::str("node_name").required(),
    Opt::str("name").required(),
    Opt::str("profile").required(),
    Opt::str("reason"),
    Opt::list("sans", Kind::Str).default(DefaultValue::Json("[]")),
    Opt::str("key_algorithm"),
    Opt::str("csr"),
];

/// The keys of one `sign` result entry, which `install` takes back unchanged.
const ISSUED: &[Opt] = &[
    Opt::str("node_name").required(),
    Opt::str("name").required(),
    Opt::str("profile").required(),
    Opt::str("cert").required(),
    Opt::str("subject"),
    Opt::list("sans", Kind::Str).default(DefaultValue::Json("[]")),
    Opt::str("serial"),
    Opt::str("not_after"),
];

impl Module for EtcdCerts {
    const NAME: &'static str = "etcd_certs";
    const SPEC: &'static [Opt] = &[
        Opt::str("action")
            .required()
            .choices(&["ca", "request", "sign", "install", "report"]),
        Opt::str("layout")
            .choices(&["kubeadm", "kubespray"])
            .default(DefaultValue::Str("kubeadm")),
        Opt::path("cert_dir"),
        Opt::str("node_name"),
        Opt::list("node_ips", Kind::Str).default(DefaultValue::Json("[]")),
        Opt::list("extra_sans", Kind::Str).default(DefaultValue::Json("[]")),
        Opt::list("certs", Kind::Str).default(DefaultValue::Json(
            r#"["etcd-server", "etcd-peer", "etcd-healthcheck-client", "apiserver-etcd-client"]"#,
        )),
        Opt::str("key_algorithm")
            .choices(KeyAlgorithm::NAMES)
            .default(DefaultValue::Str("ECDSA-P256")),
        Opt::int("validity_days").default(DefaultValue::Int(365)),
        Opt::int("ca_validity_days").default(DefaultValue::Int(3650)),
        Opt::int("renew_before_days").default(DefaultValue::Int(30)),
        Opt::bool("rotate_keys").default(DefaultValue::Bool(false)),
        Opt::bool("force").default(DefaultValue::Bool(false)),
        Opt::str("ca_cert"),
        Opt::str("next_ca")
            .choices(ca::NextCa::NAMES)
            .default(DefaultValue::Str("keep")),
        Opt::str("issuer")
            .choices(&["ca", "next_ca"])
            .default(DefaultValue::Str("ca")),
        Opt::list("members", Kind::Dict)
            .suboptions(MEMBER)
            .default(DefaultValue::Json("[]")),
        Opt::list("requests", Kind::Dict)
            .suboptions(REQUEST)
            .default(DefaultValue::Json("[]")),
        Opt::list("issued", Kind::Dict)
            .suboptions(ISSUED)
            .default(DefaultValue::Json("[]")),
        Opt::str("owner"),
        Opt::str("group"),
    ];
    type Params = Params;

    fn plan(mut params: Params) -> Result<Plan, Failure> {
        // ansible-core before 2.19 templates a null (`{{ ca.ca_cert }}` of a check-mode run that
        // made no CA yet) into an empty string: that is unset too.
        if params
            .ca_cert
            .as_deref()
            .is_some_and(|pem| pem.trim().is_empty())
        {
            params.ca_cert = None;
        }
        let settings = Settings::from_params(&params)?;
        if params.next_ca != "keep" && params.action != "ca" {
            return Err(Failure::new(format!(
                "option 'next_ca' is for action 'ca' only, not '{}'",
                params.action
            )));
        }
        if params.issuer != "ca" && params.action != "sign" {
            return Err(Failure::new(format!(
                "option 'issuer' is for action 'sign' only, not '{}'",
                params.action
            )));
        }
        match params.action.as_str() {
            "ca" => {
                let next_ca = ca::NextCa::parse(&params.next_ca).ok_or_else(|| {
                    Failure::new(format!(
                        "option 'next_ca' must be one of: {}; got: {}",
                        ca::NextCa::NAMES.join(", "),
                        params.next_ca
                    ))
                })?;
                ca::plan(&settings, next_ca)
            }
            "request" => request::plan(&settings, &NodeParams::from_params(&params)?),
            "sign" => {
                let issuer = match params.issuer.as_str() {
                    "ca" => ca::Which::Current,
                    "next_ca" => ca::Which::Next,
                    other => {
                        return Err(Failure::new(format!(
                            "option 'issuer' must be ca or next_ca, got '{other}'"
                        )))
                    }
                };
                sign::plan(&settings, issuer, &params.requests, &params.members)
            }
            "install" => install::plan(
                &settings,
                &NodeParams::from_params(&params)?,
                params.ca_cert.as_deref(),
                &params.issued,
            ),
            "report" => request::report(&settings, &NodeParams::from_params(&params)?),
            other => Err(Failure::new(format!(
                "option 'action' must be one of: ca, request, sign, install, report; got: {other}"
            ))),
        }
    }
}

/// The options, typed (see the sidecar `etcd_certs.yml` for their meaning).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub action: String,
    pub layout: String,
    pub cert_dir: Option<String>,
    pub node_name: Option<String>,
    pub node_ips: Vec<String>,
    pub extra_sans: Vec<String>,
    pub certs: Vec<String>,
    pub key_algorithm: String,
    pub validity_days: i64,
    pub ca_validity_days: i64,
    pub renew_before_days: i64,
    pub rotate_keys: bool,
    pub force: bool,
    pub ca_cert: Option<String>,
    pub next_ca: String,
    pub issuer: String,
    pub members: Vec<MemberParams>,
    pub requests: Vec<RequestEntry>,
    pub issued: Vec<IssuedEntry>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// One member as the CA host knows it (`members`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberParams {
    pub node_name: String,
    pub node_ips: Vec<String>,
    pub extra_sans: Vec<String>,
}

/// One certificate request, as `request` returns it and `sign` takes it.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEntry {
    pub node_name: String,
    pub name: String,
    pub profile: String,
    pub reason: Option<String>,
    pub sans: Vec<String>,
    pub key_algorithm: Option<String>,
    /// `None` in check mode, where no key is made.
    pub csr: Option<String>,
}

/// One signed certificate, as `sign` returns it and `install` takes it.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedEntry {
    pub node_name: String,
    pub name: String,
    pub profile: String,
    pub cert: String,
    pub subject: Option<String>,
    pub sans: Vec<String>,
    pub serial: Option<String>,
    pub not_after: Option<String>,
}

/// What every action needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub layout: Layout,
    pub dir: PathBuf,
    pub clock: Clock,
    pub key_algorithm: KeyAlgorithm,
    pub validity_days: u64,
    pub ca_validity_days: u64,
    pub rotate_keys: bool,
    pub force: bool,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl Settings {
    pub fn from_params(p: &Params) -> Result<Settings, Failure> {
        let layout = Layout::parse(&p.layout).ok_or_else(|| {
            Failure::new(format!(
                "option 'layout' must be kubeadm or kubespray, got '{}'",
                p.layout
            ))
        })?;
        let dir = PathBuf::from(p.cert_dir.as_deref().unwrap_or(layout.default_dir()));
        if !dir.is_absolute() {
            return Err(Failure::new(format!(
                "option 'cert_dir' must be an absolute path, got '{}'",
                dir.display()
            )));
        }
        let key_algorithm = KeyAlgorithm::parse(&p.key_algorithm).ok_or_else(|| {
            Failure::new(format!(
                "option 'key_algorithm' must be one of: {}; got: {}",
                KeyAlgorithm::NAMES.join(", "),
                p.key_algorithm
            ))
        })?;
        let days = |option: &str, value: i64, min: i64| -> Result<u64, Failure> {
            if (min..=36_500).contains(&value) {
                Ok(value as u64)
            } else {
                Err(Failure::new(format!(
                    "option '{option}' must be between {min} and 36500 days, got {value}"
                )))
            }
        };
        // Files get the owner and group the task names; check the names before anything.
        if let Some(owner) = &p.owner {
            users::lookup_user(owner)?;
        }
        if let Some(group) = &p.group {
            users::lookup_group(group)?;
        }
        Ok(Settings {
            layout,
            dir,
            clock: Clock {
                now: now(),
                renew_before_days: days("renew_before_days", p.renew_before_days, 0)?,
            },
            key_algorithm,
            validity_days: days("validity_days", p.validity_days, 1)?,
            ca_validity_days: days("ca_validity_days", p.ca_validity_days, 1)?,
            rotate_keys: p.rotate_keys,
            force: p.force,
            owner: p.owner.clone(),
            group: p.group.clone(),
        })
    }

    /// The CA certificate and key paths on this host.
    pub fn ca_files(&self) -> (PathBuf, PathBuf) {
        self.layout.ca_files(&self.dir)
    }
}

/// What `request`, `install` and `report` need to know about this host.
#[derive(Debug, Clone)]
pub struct NodeParams {
    pub member: Member,
    pub profiles: Vec<Profile>,
    /// The CA certificate the task passed (`ca_cert`), when it did: the one certificates must be
    /// signed by.
    pub ca_cert: Option<Certificate>,
    /// Every certificate of `ca_cert`, that one first: what the CA file must hold.
    pub trusted: Vec<Certificate>,
}

impl NodeParams {
    pub fn from_params(p: &Params) -> Result<NodeParams, Failure> {
        let name = p.node_name.as_deref().ok_or_else(|| {
            Failure::new(format!(
                "option 'node_name' is required with action '{}' (the member's name: its \
                 certificates' CN and, in the kubespray layout, part of their file names)",
                p.action
            ))
        })?;
        let member = Member::new("", name, &p.node_ips, &p.extra_sans)?;
        let mut profiles = Vec::new();
        for (i, cert) in p.certs.iter().enumerate() {
            let profile = Profile::parse(cert).ok_or_else(|| {
                Failure::new(format!(
                    "option 'certs[{i}]' must be one of: {}; got: {cert}",
                    Profile::ALL.map(Profile::name).join(", ")
                ))
            })?;
            if !profiles.contains(&profile) {
                profiles.push(profile);
            }
        }
        let trusted = match p.ca_cert.as_deref() {
            Some(pem) => parse_ca_certs("ca_cert", pem)?,
            None => Vec::new(),
        };
        Ok(NodeParams {
            member,
            profiles,
            ca_cert: trusted.first().cloned(),
            trusted,
        })
    }

    pub fn wanted<'a>(
        &'a self,
        profile: Profile,
        ca: Option<&'a Certificate>,
        settings: &'a Settings,
    ) -> Wanted<'a> {
        Wanted {
            profile,
            member: &self.member,
            ca,
            key_algorithm: settings.key_algorithm.name(),
        }
    }
}

/// CA certificates given as PEM text in option `option` (one, or a bundle during a CA rotation):
/// each must be a CA and sign itself; no certificate twice.
pub fn parse_ca_certs(option: &str, pem: &str) -> Result<Vec<Certificate>, Failure> {
    let certs = pki::certificates_from_pem(pem).map_err(|e| {
        Failure::new(format!(
            "option '{option}' must be a PEM CA certificate (or several, during a CA rotation): {e}"
        ))
    })?;
    for (i, cert) in certs.iter().enumerate() {
        let which = match certs.len() {
            1 => String::new(),
            _ => format!(" (certificate {})", i + 1),
        };
        if !pki::CertFacts::of(cert).is_ca {
            return Err(Failure::new(format!(
                "option '{option}'{which} is not a CA certificate (basicConstraints CA:TRUE is \
                 missing)"
            )));
        }
        pki::issued_by(cert, cert).map_err(|e| {
            Failure::new(format!(
                "option '{option}'{which} is not a self-signed CA certificate: {e}"
            ))
        })?;
        if certs[..i].contains(cert) {
            return Err(Failure::new(format!(
                "option '{option}'{which} holds the same certificate twice"
            )));
        }
    }
    Ok(certs)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
