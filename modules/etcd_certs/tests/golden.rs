//! The structure of what the module issues, pinned in golden files: every field and extension of
//! the CA, each profile's certificate and a CSR, with the values that change on every run
//! (serials, keys, times, signatures) replaced by what they must be. `UPDATE_GOLDEN=1` rewrites
//! the files after review.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use etcd_certs::pki::{self, CertFacts};
use kubeha_runtime::testing::assert_golden;
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;
use x509_cert::der::oid::db::rfc5912;
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Decode, DecodePem, Tagged};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::Certificate;

fn oid_name(oid: &ObjectIdentifier) -> String {
    let name = match *oid {
        rfc5912::ECDSA_WITH_SHA_256 => "ecdsa-with-SHA256",
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => "sha256WithRSAEncryption",
        rfc5912::ID_EC_PUBLIC_KEY => "id-ecPublicKey",
        rfc5912::RSA_ENCRYPTION => "rsaEncryption",
        rfc5912::ID_KP_SERVER_AUTH => "serverAuth",
        rfc5912::ID_KP_CLIENT_AUTH => "clientAuth",
        BasicConstraints::OID => "basicConstraints",
        KeyUsage::OID => "keyUsage",
        ExtendedKeyUsage::OID => "extKeyUsage",
        SubjectKeyIdentifier::OID => "subjectKeyIdentifier",
        AuthorityKeyIdentifier::OID => "authorityKeyIdentifier",
        SubjectAltName::OID => "subjectAltName",
        _ => "?",
    };
    format!("{name} ({oid})")
}

fn extensions(out: &mut String, exts: &[x509_cert::ext::Extension], ca: Option<&Certificate>) {
    for ext in exts {
        let value = ext.extn_value.as_bytes();
        let shown = match ext.extn_id {
            BasicConstraints::OID => {
                let b = BasicConstraints::from_der(value).unwrap();
                format!("CA:{} pathlen:{:?}", b.ca, b.path_len_constraint)
            }
            KeyUsage::OID => format!("{:?}", KeyUsage::from_der(value).unwrap().0),
            ExtendedKeyUsage::OID => ExtendedKeyUsage::from_der(value)
                .unwrap()
                .0
                .iter()
                .map(oid_name)
                .collect::<Vec<_>>()
                .join(", "),
            SubjectKeyIdentifier::OID => {
                let id = SubjectKeyIdentifier::from_der(value).unwrap();
                format!("{} bytes", id.0.as_bytes().len())
            }
            AuthorityKeyIdentifier::OID => {
                let aki = AuthorityKeyIdentifier::from_der(value).unwrap();
                let ca_ski = ca.and_then(|c| CertFacts::of(c).subject_key_id);
                let id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                format!(
                    "keyid = the CA's subjectKeyIdentifier: {}, issuer/serial: {}",
                    id.is_some() && id == ca_ski,
                    aki.authority_cert_issuer.is_some()
                        || aki.authority_cert_serial_number.is_some()
                )
            }
            SubjectAltName::OID => etcd_certs::inspect::san_texts(&pki::sans_of(value)).join(", "),
            _ => "?".into(),
        };
        let critical = if ext.critical { " critical" } else { "" };
        writeln!(out, "  {}{critical}: {shown}", oid_name(&ext.extn_id)).unwrap();
    }
}

/// A certificate's structure with the per-run values replaced by checks on them.
fn structure(cert: &Certificate, ca: Option<&Certificate>) -> String {
    let tbs = &cert.tbs_certificate;
    let facts = CertFacts::of(cert);
    let mut out = String::new();
    writeln!(out, "version: {:?}", tbs.version).unwrap();
    writeln!(
        out,
        "serial: {} bytes, positive",
        tbs.serial_number.as_bytes().len()
    )
    .unwrap();
    writeln!(
        out,
        "signature: {}",
        oid_name(&cert.signature_algorithm.oid)
    )
    .unwrap();
    writeln!(
        out,
        "signature parameters: {:?}",
        cert.signature_algorithm
            .parameters
            .as_ref()
            .map(|p| p.tag())
    )
    .unwrap();
    writeln!(out, "issuer: {}", facts.issuer).unwrap();
    writeln!(out, "subject: {}", facts.subject).unwrap();
    let backdate = (pki_now() as i64 - facts.not_before as i64 + 30) / 60;
    writeln!(out, "not before: about {backdate} minutes ago").unwrap();
    let days = (facts.not_after - facts.not_before + 3600) / 86_400;
    writeln!(out, "lifetime: {days} days (+ the backdating)").unwrap();
    writeln!(
        out,
        "key: {} {}",
        oid_name(&tbs.subject_public_key_info.algorithm.oid),
        facts.key_algorithm
    )
    .unwrap();
    writeln!(out, "extensions:").unwrap();
    extensions(&mut out, tbs.extensions.as_deref().unwrap_or_default(), ca);
    let issuer = ca.unwrap_or(cert);
    writeln!(
        out,
        "signed by the CA: {}",
        pki::issued_by(cert, issuer).is_ok()
    )
    .unwrap();
    out
}

fn pki_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn read_cert(path: &Path) -> Certificate {
    Certificate::from_pem(std::fs::read_to_string(path).unwrap()).unwrap()
}

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn kubeadm_profiles_with_ecdsa_keys() {
    let pki = Pki::new("kubeadm", 1);
    let round = pki.round(json!({}), json!({}));
    let dir = &pki.members[0].dir;
    let ca = read_cert(&dir.join("etcd/ca.crt"));
    assert_golden(&golden("ca-ecdsa.txt"), &structure(&ca, None));
    for (file, path) in [
        ("etcd-server.txt", "etcd/server.crt"),
        ("etcd-peer.txt", "etcd/peer.crt"),
        ("etcd-healthcheck-client.txt", "etcd/healthcheck-client.crt"),
        ("apiserver-etcd-client.txt", "apiserver-etcd-client.crt"),
    ] {
        assert_golden(
            &golden(file),
            &structure(&read_cert(&dir.join(path)), Some(&ca)),
        );
    }

    // A CSR: subject, key, and the only extension it asks for.
    let csr_text = round.requests[0].answer["requests"][0]["csr"]
        .as_str()
        .unwrap();
    let csr = CertReq::from_pem(csr_text).unwrap();
    let mut out = String::new();
    writeln!(out, "version: {:?}", csr.info.version).unwrap();
    writeln!(out, "subject: {}", pki::name_text(&csr.info.subject)).unwrap();
    writeln!(
        out,
        "key: {}",
        pki::key_algorithm_name(&csr.info.public_key)
    )
    .unwrap();
    writeln!(out, "signature: {}", oid_name(&csr.algorithm.oid)).unwrap();
    for attribute in csr.info.attributes.iter() {
        writeln!(out, "attribute: {}", attribute.oid).unwrap();
        for value in attribute.values.iter() {
            let requested: ExtensionReq = value.decode_as().unwrap();
            extensions(&mut out, &requested.0, None);
        }
    }
    writeln!(
        out,
        "self-signature verifies: {}",
        pki::read_request(csr_text).is_ok()
    )
    .unwrap();
    assert_golden(&golden("etcd-server-csr.txt"), &out);
}

#[test]
fn kubeadm_profiles_with_rsa_keys() {
    let pki = Pki::new("kubeadm", 1);
    pki.round(json!({"key_algorithm": "RSA-2048"}), json!({}));
    let dir = &pki.members[0].dir;
    let ca = read_cert(&dir.join("etcd/ca.crt"));
    assert_golden(&golden("ca-rsa.txt"), &structure(&ca, None));
    assert_golden(
        &golden("etcd-server-rsa.txt"),
        &structure(&read_cert(&dir.join("etcd/server.crt")), Some(&ca)),
    );
}
