//! The whole flow, black-box: a CA host and three members as temp directories, the binary run
//! for each step as Ansible runs it, the results checked by the real openssl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;

fn days_left(cert: &Value) -> i64 {
    cert["days_left"].as_i64().unwrap()
}

fn kubeadm_files(node: &Node) -> Vec<(PathBuf, PathBuf)> {
    let d = &node.dir;
    vec![
        (d.join("etcd/server.crt"), d.join("etcd/server.key")),
        (d.join("etcd/peer.crt"), d.join("etcd/peer.key")),
        (
            d.join("etcd/healthcheck-client.crt"),
            d.join("etcd/healthcheck-client.key"),
        ),
        (
            d.join("apiserver-etcd-client.crt"),
            d.join("apiserver-etcd-client.key"),
        ),
    ]
}

#[test]
fn first_round_issues_everything_and_the_second_changes_nothing() {
    let pki = Pki::new("kubeadm", 3);
    let first = pki.round(json!({}), json!({}));
    assert!(first.ca.changed());
    for (i, request) in first.requests.iter().enumerate() {
        assert!(request.changed());
        let name = &pki.members[i].name;
        assert_eq!(
            names(&request.answer["requests"]),
            [
                format!("{name} etcd-server"),
                format!("{name} etcd-peer"),
                format!("{name} etcd-healthcheck-client"),
                format!("{name} apiserver-etcd-client"),
            ]
        );
        for entry in request.answer["requests"].as_array().unwrap() {
            assert_eq!(entry["reason"], json!("no certificate"));
            assert!(entry["csr"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        }
    }
    assert!(first.sign.changed());
    assert_eq!(first.sign.answer["issued"].as_array().unwrap().len(), 12);
    for (i, install) in first.installs.iter().enumerate() {
        assert!(install.changed());
        // The CA host has its CA certificate already.
        let mut changed = if i == 0 { vec![] } else { vec!["ca"] };
        changed.extend(KUBEADM_CERTS);
        assert_eq!(install.answer["changed_certs"], json!(changed));
        assert_eq!(install.answer["etcd_restart_needed"], json!(i > 0));
        for cert in install.answer["certificates"].as_array().unwrap() {
            assert_eq!(cert["status"], json!("valid"), "{cert}");
            assert!(days_left(cert) == 364 || days_left(cert) == 365, "{cert}");
        }
    }

    // kubeadm's modes: keys 0600, certificates 0644, directories 0755.
    for node in &pki.members {
        assert_eq!(mode(&node.dir), 0o755);
        assert_eq!(mode(&node.dir.join("etcd")), 0o755);
        assert_eq!(mode(&node.dir.join("etcd/ca.crt")), 0o644);
        for (cert, key) in kubeadm_files(node) {
            assert_eq!(mode(&cert), 0o644, "{}", cert.display());
            assert_eq!(mode(&key), 0o600, "{}", key.display());
            assert!(!PathBuf::from(format!("{}.next", key.display())).exists());
        }
    }
    // The CA key is on the CA host only.
    assert_eq!(mode(&pki.ca_dir().join("etcd/ca.key")), 0o600);
    for node in &pki.members[1..] {
        assert!(!node.dir.join("etcd/ca.key").exists());
    }

    let before = pki.snapshot();
    let second = pki.round(json!({}), json!({}));
    assert!(!second.ca.changed(), "{}", second.ca.stdout);
    for request in &second.requests {
        assert!(!request.changed(), "{}", request.stdout);
        assert_eq!(request.answer["requests"], json!([]));
        assert_eq!(request.msg(), "no certificate needs issuing");
    }
    assert!(!second.sign.changed());
    assert_eq!(second.sign.answer["issued"], json!([]));
    for install in &second.installs {
        assert!(!install.changed(), "{}", install.stdout);
        assert_eq!(install.answer["changed_certs"], json!([]));
        assert_eq!(install.answer["etcd_restart_needed"], json!(false));
    }
    assert!(before == pki.snapshot(), "the second round changed files");
}

#[test]
fn openssl_accepts_the_certificates_and_their_profiles() {
    if openssl().is_none() {
        return;
    }
    let pki = Pki::new("kubeadm", 3);
    let round = pki.round(json!({}), json!({}));

    // Every CSR verifies with openssl.
    for request in &round.requests {
        for entry in request.answer["requests"].as_array().unwrap() {
            let csr = pki.root.path().join("req.csr");
            fs::write(&csr, entry["csr"].as_str().unwrap()).unwrap();
            let (ok, text) =
                openssl_run(&["req", "-verify", "-noout", "-in", csr.to_str().unwrap()]);
            assert!(ok, "openssl req -verify: {text}");
            assert!(
                text.contains("verify OK")
                    || text.contains("Certificate request self-signature verify OK"),
                "{text}"
            );
        }
    }

    for (i, node) in pki.members.iter().enumerate() {
        let ca = node.dir.join("etcd/ca.crt");
        let files = kubeadm_files(node);
        assert_verifies(
            &ca,
            &files.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        );
        // A member's certificate does not verify against another CA.
        let other = Pki::new("kubeadm", 1);
        other.ca(json!({})).ok();
        let (ok, _) = openssl_run(&[
            "verify",
            "-CAfile",
            other.ca_dir().join("etcd/ca.crt").to_str().unwrap(),
            files[0].0.to_str().unwrap(),
        ]);
        assert!(!ok, "a foreign CA must not verify our certificates");

        let ip = format!("10.0.0.{}", i + 1);
        for (cert, key) in &files[..2] {
            let text = x509_text(cert);
            assert!(
                text.contains(&format!("Subject: CN = {}", node.name)),
                "{text}"
            );
            assert!(text.contains("Issuer: CN = etcd-ca"), "{text}");
            assert!(
                text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "DNS:{}, DNS:localhost, IP Address:{ip}, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
                    node.name
                )),
                "{text}"
            );
            assert!(text.contains("CA:FALSE"), "{text}");
            assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
            assert!(
                text.contains("Signature Algorithm: ecdsa-with-SHA256"),
                "{text}"
            );
            // The key on disk is the certificate's.
            let (ok, cert_pub) =
                openssl_run(&["x509", "-noout", "-pubkey", "-in", cert.to_str().unwrap()]);
            assert!(ok);
            let (ok, key_pub) = openssl_run(&["pkey", "-pubout", "-in", key.to_str().unwrap()]);
            assert!(ok);
            assert_eq!(cert_pub, key_pub);
        }
        for (cert, cn) in [
            (&files[2].0, "kube-etcd-healthcheck-client"),
            (&files[3].0, "kube-apiserver-etcd-client"),
        ] {
            let text = x509_text(cert);
            assert!(text.contains(&format!("Subject: CN = {cn}")), "{text}");
            assert!(text.contains("TLS Web Client Authentication"), "{text}");
            assert!(!text.contains("TLS Web Server Authentication"), "{text}");
            assert!(!text.contains("Subject Alternative Name"), "{text}");
        }
        // openssl's own purpose checks agree with the usages.
        let (ok, text) = openssl_run(&[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            ca.to_str().unwrap(),
            files[0].0.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        let (ok, _) = openssl_run(&[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            ca.to_str().unwrap(),
            files[2].0.to_str().unwrap(),
        ]);
        assert!(
            !ok,
            "a client certificate must not pass as a server certificate"
        );
        let (ok, text) = openssl_run(&[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            ca.to_str().unwrap(),
            files[3].0.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
    }

    let ca_text = x509_text(&pki.ca_dir().join("etcd/ca.crt"));
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    assert!(ca_text.contains("Certificate Sign, CRL Sign"), "{ca_text}");
    // Validity: the leaves start backdated and last a year; the CA ten years.
    let leaf = &round.installs[0].answer["certificates"][0];
    let start = leaf["not_before"].as_str().unwrap();
    let end = leaf["not_after"].as_str().unwrap();
    assert_eq!(
        &start[..4].parse::<i32>().unwrap() + 1,
        end[..4].parse::<i32>().unwrap()
    );
    assert!(days_left(&round.ca.answer["ca"]) >= 3649);
}

#[test]
fn a_changed_san_reissues_only_that_members_server_and_peer_with_the_same_keys() {
    let mut pki = Pki::new("kubeadm", 3);
    pki.round(json!({}), json!({}));
    let keys_before: Vec<Vec<u8>> = pki
        .members
        .iter()
        .flat_map(kubeadm_files)
        .map(|(_, key)| fs::read(key).unwrap())
        .collect();
    let certs_before: Vec<Vec<u8>> = pki
        .members
        .iter()
        .flat_map(kubeadm_files)
        .map(|(cert, _)| fs::read(cert).unwrap())
        .collect();

    pki.members[1].ips.push("10.0.1.2".into());
    let round = pki.round(json!({}), json!({}));
    assert!(!round.requests[0].changed());
    assert!(!round.requests[2].changed());
    let request = &round.requests[1];
    assert!(request.changed());
    assert_eq!(
        names(&request.answer["requests"]),
        ["cp2 etcd-server", "cp2 etcd-peer"]
    );
    assert_eq!(
        request.answer["requests"][0]["reason"],
        json!("SANs differ: missing IP:10.0.1.2")
    );
    assert!(request
        .msg()
        .contains("request etcd-server (SANs differ: missing IP:10.0.1.2)"));
    assert_eq!(
        names(&round.sign.answer["issued"]),
        ["cp2 etcd-server", "cp2 etcd-peer"]
    );
    assert!(!round.installs[0].changed());
    assert!(!round.installs[2].changed());
    assert_eq!(
        round.installs[1].answer["changed_certs"],
        json!(["etcd-server", "etcd-peer"])
    );
    assert_eq!(
        round.installs[1].answer["etcd_restart_needed"],
        json!(false)
    );

    let keys_after: Vec<Vec<u8>> = pki
        .members
        .iter()
        .flat_map(kubeadm_files)
        .map(|(_, key)| fs::read(key).unwrap())
        .collect();
    assert!(keys_before == keys_after, "keys are kept on re-issue");
    let certs_after: Vec<Vec<u8>> = pki
        .members
        .iter()
        .flat_map(kubeadm_files)
        .map(|(cert, _)| fs::read(cert).unwrap())
        .collect();
    let changed: Vec<usize> = (0..12)
        .filter(|i| certs_before[*i] != certs_after[*i])
        .collect();
    assert_eq!(
        changed,
        [4, 5],
        "only cp2's server and peer certificates changed"
    );
    let sans = &round.installs[1].answer["certificates"][0]["sans"];
    assert!(
        sans.as_array().unwrap().contains(&json!("IP:10.0.1.2")),
        "{sans}"
    );

    // And the round after that is quiet again.
    let again = pki.round(json!({}), json!({}));
    assert!(again.requests.iter().all(|r| !r.changed()));
}

#[test]
fn certificates_near_expiry_are_renewed_keeping_keys_unless_rotated() {
    let pki = Pki::new("kubeadm", 2);
    // Issue short-lived certificates: sign warns that they are due at once.
    let first = pki.round(json!({}), json!({"validity_days": 10}));
    let warnings = first.sign.answer["warnings"].to_string();
    assert!(
        warnings.contains("validity_days (10) is not more than renew_before_days (30)"),
        "{warnings}"
    );
    let serials = |r: &Run| -> Vec<Value> {
        r.answer["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["serial"].clone())
            .collect()
    };
    let first_serials = serials(&first.installs[0]);
    let report = pki.report(0, json!({})).ok();
    assert!(!report.changed());
    assert_eq!(
        report.answer["certificates"][0]["status"],
        json!("expiring")
    );
    assert!((9..=10).contains(&days_left(&report.answer["certificates"][0])));
    assert_eq!(report.answer["to_issue"], json!(KUBEADM_CERTS));
    // A smaller window leaves them alone.
    let quiet = pki
        .request(0, &Value::Null, json!({"renew_before_days": 5}))
        .ok();
    assert!(!quiet.changed(), "{}", quiet.stdout);

    let key = pki.members[0].dir.join("etcd/server.key");
    let key_before = fs::read(&key).unwrap();
    let second = pki.round(json!({}), json!({}));
    let request = &second.requests[0];
    assert_eq!(request.answer["requests"].as_array().unwrap().len(), 4);
    let reason = request.answer["requests"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("expires in ")
            && reason.ends_with(" days, within renew_before_days (30)"),
        "{reason}"
    );
    let renewed = serials(&second.installs[0]);
    assert!(
        renewed.iter().zip(&first_serials).all(|(a, b)| a != b),
        "new serials"
    );
    assert!(days_left(&second.installs[0].answer["certificates"][0]) >= 364);
    assert_eq!(fs::read(&key).unwrap(), key_before, "renewal keeps the key");
    assert_eq!(
        second.installs[0].answer["etcd_restart_needed"],
        json!(false),
        "etcd reloads its own certificates"
    );

    // Rotation: a forced renewal with new keys. The new key waits as .next until install.
    let pending = pki.members[0].dir.join("etcd/server.key.next");
    let request = pki
        .request(0, &Value::Null, json!({"force": true, "rotate_keys": true}))
        .ok();
    assert!(request.changed());
    assert_eq!(
        request.answer["requests"][0]["reason"],
        json!("forced (force: true)")
    );
    assert_eq!(mode(&pending), 0o600);
    assert_eq!(
        fs::read(&key).unwrap(),
        key_before,
        "the old key serves until install"
    );
    let signed = pki
        .sign(request.answer["requests"].as_array().unwrap(), json!({}))
        .ok();
    let install = pki.install(0, &signed, json!({})).ok();
    assert!(install.changed());
    assert!(!pending.exists());
    assert_ne!(fs::read(&key).unwrap(), key_before, "rotated");
    assert_eq!(mode(&key), 0o600);
    if openssl().is_some() {
        let cert = pki.members[0].dir.join("etcd/server.crt");
        let (_, cert_pub) =
            openssl_run(&["x509", "-noout", "-pubkey", "-in", cert.to_str().unwrap()]);
        let (_, key_pub) = openssl_run(&["pkey", "-pubout", "-in", key.to_str().unwrap()]);
        assert_eq!(
            cert_pub, key_pub,
            "the installed certificate is the new key's"
        );
    }
    assert!(!pki.request(0, &Value::Null, json!({})).ok().changed());
}

#[test]
fn a_pending_key_is_reused_until_installed_and_stale_ones_are_removed() {
    let pki = Pki::new("kubeadm", 1);
    let ca = pki.ca(json!({})).ok();
    let first = pki.request(0, &ca.answer["ca_cert"], json!({})).ok();
    let pending = pki.members[0].dir.join("etcd/peer.key.next");
    let key_text = fs::read(&pending).unwrap();
    // The play stopped before install: the next request reuses the pending keys.
    let second = pki.request(0, &ca.answer["ca_cert"], json!({})).ok();
    assert_eq!(fs::read(&pending).unwrap(), key_text);
    assert!(second.changed(), "certificates are still needed");
    assert_ne!(first.answer["requests"][1]["csr"], json!(null));
    // Installing the certificates signed for the first requests still works: same keys.
    let signed = pki
        .sign(first.answer["requests"].as_array().unwrap(), json!({}))
        .ok();
    pki.install(0, &signed, json!({})).ok();
    assert!(!pending.exists());
    // A pending key nobody needs any more is removed.
    fs::write(&pending, &key_text).unwrap();
    let cleanup = pki.request(0, &Value::Null, json!({})).ok();
    assert!(cleanup.changed());
    assert!(
        cleanup.msg().contains("remove the unused new key"),
        "{}",
        cleanup.msg()
    );
    assert!(!pending.exists());
}

#[test]
fn check_mode_plans_and_changes_nothing() {
    let pki = Pki::new("kubeadm", 2);
    let check = json!({"_ansible_check_mode": true, "_ansible_diff": true});
    let round = pki.round(check.clone(), json!({}));
    assert!(round.ca.changed());
    assert_eq!(round.ca.answer["ca_cert"], json!(null));
    assert!(round.ca.msg().starts_with("would "), "{}", round.ca.msg());
    for request in &round.requests {
        assert!(request.changed());
        let entries = request.answer["requests"].as_array().unwrap();
        assert_eq!(entries.len(), 4);
        assert!(entries.iter().all(|e| e["csr"].is_null()));
        assert!(request.answer["diff"]
            .to_string()
            .contains("reason: no certificate"));
    }
    assert!(round.sign.changed(), "{}", round.sign.stdout);
    assert_eq!(round.sign.answer["issued"], json!([]));
    assert!(
        pki.snapshot().is_empty(),
        "check mode created {:?}",
        pki.snapshot()
    );

    // A real round, then check mode again: nothing to do, nothing touched.
    pki.round(json!({}), json!({}));
    let before = pki.snapshot();
    let round = pki.round(check.clone(), json!({}));
    assert!(!round.ca.changed());
    assert!(round.requests.iter().all(|r| !r.changed()));
    assert!(round.installs.iter().all(|r| !r.changed()));
    // A pending rotation in check mode: reported, no key made.
    let rotation = pki
        .request(
            0,
            &Value::Null,
            json!({"_ansible_check_mode": true, "force": true, "rotate_keys": true}),
        )
        .ok();
    assert!(rotation.changed());
    assert!(before == pki.snapshot(), "check mode changed files");

    // Requests planned in check mode cannot be signed for real.
    let planned = pki
        .request(
            0,
            &Value::Null,
            json!({"_ansible_check_mode": true, "force": true}),
        )
        .ok();
    let failed = pki
        .sign(planned.answer["requests"].as_array().unwrap(), json!({}))
        .failed();
    assert!(
        failed.msg().contains("was planned in check mode"),
        "{}",
        failed.msg()
    );
}

#[test]
fn kubespray_layout_uses_kubesprays_names_and_modes() {
    let pki = Pki::new("kubespray", 2);
    let round = pki.round(json!({}), json!({}));
    assert_eq!(
        names(&round.requests[1].answer["requests"]),
        ["cp2 member", "cp2 admin", "cp2 node"]
    );
    let dir = &pki.members[1].dir;
    assert_eq!(mode(dir), 0o700);
    for stem in ["member-cp2", "admin-cp2", "node-cp2"] {
        assert_eq!(mode(&dir.join(format!("{stem}.pem"))), 0o644);
        assert_eq!(mode(&dir.join(format!("{stem}-key.pem"))), 0o600);
    }
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    assert!(!dir.join("ca-key.pem").exists());
    assert_eq!(mode(&pki.ca_dir().join("ca-key.pem")), 0o600);
    assert_eq!(
        round.installs[1].answer["changed_certs"],
        json!(["ca", "member", "admin", "node"])
    );
    if openssl().is_some() {
        let leaves: Vec<PathBuf> = ["member-cp2", "admin-cp2", "node-cp2"]
            .iter()
            .map(|s| dir.join(format!("{s}.pem")))
            .collect();
        assert_verifies(&dir.join("ca.pem"), &leaves);
        let member = x509_text(&leaves[0]);
        assert!(member.contains("TLS Web Server Authentication, TLS Web Client Authentication"));
        assert!(member.contains("Subject: CN = cp2"));
        assert!(x509_text(&leaves[1]).contains("CN = kube-etcd-healthcheck-client"));
        assert!(x509_text(&leaves[2]).contains("CN = kube-apiserver-etcd-client"));
    }
    let again = pki.round(json!({}), json!({}));
    assert!(again.installs.iter().all(|r| !r.changed()));
}

#[test]
fn rsa_keys_on_request_and_a_key_type_change_reissues_with_new_keys() {
    let pki = Pki::new("kubeadm", 1);
    let rsa = json!({"key_algorithm": "RSA-2048"});
    let round = pki.round(rsa.clone(), json!({}));
    assert_eq!(round.ca.answer["ca"]["key_algorithm"], json!("RSA-2048"));
    let certs = &round.installs[0].answer["certificates"];
    assert!(certs
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["key_algorithm"] == json!("RSA-2048")));
    let node = &pki.members[0];
    if openssl().is_some() {
        let text = x509_text(&node.dir.join("etcd/server.crt"));
        assert!(
            text.contains("Public Key Algorithm: rsaEncryption"),
            "{text}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{text}"
        );
        assert!(
            text.contains("Digital Signature, Key Encipherment"),
            "{text}"
        );
        assert_verifies(
            &node.dir.join("etcd/ca.crt"),
            &[node.dir.join("etcd/server.crt")],
        );
    }
    assert!(!pki.round(rsa, json!({})).requests[0].changed());

    // Back to the default: every certificate is re-issued on a new ECDSA key; the RSA CA stays.
    let round = pki.round(json!({}), json!({}));
    assert!(round.ca.answer["warnings"]
        .to_string()
        .contains("an existing CA is never replaced"));
    let entry = &round.requests[0].answer["requests"][0];
    assert_eq!(
        entry["reason"],
        json!("key is RSA-2048, key_algorithm is ECDSA-P256")
    );
    assert_eq!(entry["key_algorithm"], json!("ECDSA-P256"));
    let certs = &round.installs[0].answer["certificates"];
    assert!(certs
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["key_algorithm"] == json!("ECDSA-P256")));
    if openssl().is_some() {
        let text = x509_text(&node.dir.join("etcd/server.crt"));
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "signed by the RSA CA"
        );
        assert!(text.contains("prime256v1"));
        assert_verifies(
            &node.dir.join("etcd/ca.crt"),
            &[node.dir.join("etcd/server.crt")],
        );
    }
}

#[test]
fn the_ca_is_renewed_with_its_key_and_old_certificates_stay_valid() {
    let pki = Pki::new("kubeadm", 2);
    let first = pki.round(json!({}), json!({}));
    let ca_key = pki.ca_dir().join("etcd/ca.key");
    let key_before = fs::read(&ca_key).unwrap();
    // A window longer than the CA's life: renew now.
    let renewed = pki.ca(json!({"renew_before_days": 4000})).ok();
    assert!(renewed.changed());
    assert!(
        renewed
            .msg()
            .contains("renew the CA certificate with the same key"),
        "{}",
        renewed.msg()
    );
    assert_ne!(renewed.answer["ca_cert"], first.ca.answer["ca_cert"]);
    assert_eq!(fs::read(&ca_key).unwrap(), key_before);
    // Members check against the new CA certificate: their certificates still chain to it.
    let request = pki.request(1, &renewed.answer["ca_cert"], json!({})).ok();
    assert!(!request.changed(), "{}", request.stdout);
    let signed = pki.sign(&[], json!({})).ok();
    let install = pki.install(1, &signed, json!({})).ok();
    assert_eq!(install.answer["changed_certs"], json!(["ca"]));
    assert_eq!(install.answer["etcd_restart_needed"], json!(true));
    assert!(
        !pki.install(0, &signed, json!({})).ok().changed(),
        "the CA host has it"
    );
    if openssl().is_some() {
        let node = &pki.members[1];
        assert_verifies(
            &node.dir.join("etcd/ca.crt"),
            &[node.dir.join("etcd/server.crt")],
        );
    }
}

#[test]
fn the_ca_is_never_silently_replaced() {
    let pki = Pki::new("kubeadm", 1);
    pki.ca(json!({})).ok();
    let ca_key = pki.ca_dir().join("etcd/ca.key");
    let key = fs::read(&ca_key).unwrap();
    fs::remove_file(&ca_key).unwrap();
    let failed = pki.ca(json!({})).failed();
    assert!(
        failed.msg().contains("exists but its key"),
        "{}",
        failed.msg()
    );
    assert!(!ca_key.exists());
    // With the key back but the certificate gone, the CA certificate is made again from it.
    fs::write(&ca_key, &key).unwrap();
    fs::remove_file(pki.ca_dir().join("etcd/ca.crt")).unwrap();
    let again = pki.ca(json!({})).ok();
    assert!(again.changed());
    assert!(again.answer["warnings"]
        .to_string()
        .contains("signing a new CA certificate with the existing key"));
    assert_eq!(fs::read(&ca_key).unwrap(), key);
    // A key that is not the certificate's is refused, and neither file touched.
    let other = Pki::new("kubeadm", 1);
    other.ca(json!({})).ok();
    fs::copy(other.ca_dir().join("etcd/ca.key"), &ca_key).unwrap();
    let before = pki.snapshot();
    let failed = pki.ca(json!({})).failed();
    assert!(
        failed
            .msg()
            .contains("does not belong to the CA certificate"),
        "{}",
        failed.msg()
    );
    assert!(before == pki.snapshot());
    let failed = pki.sign(&[], json!({})).failed();
    assert!(failed.msg().contains("does not belong"), "{}", failed.msg());
}

/// The requests of every member, against `ca_cert`.
fn requests_of(pki: &Pki, ca_cert: &str) -> Vec<Value> {
    (0..pki.members.len())
        .flat_map(|i| {
            let request = pki.request(i, &json!(ca_cert), json!({})).ok();
            request.answer["requests"].as_array().cloned().unwrap()
        })
        .collect()
}

#[test]
fn a_ca_rotation_trusts_both_reissues_everything_then_drops_the_old_ca() {
    let pki = Pki::new("kubespray", 3);
    let first = pki.round(json!({}), json!({}));
    let old_ca = first.ca.answer["ca_cert"].as_str().unwrap().to_owned();
    let ca_dir = pki.ca_dir().to_owned();
    let old_key = fs::read(ca_dir.join("ca-key.pem")).unwrap();
    assert!(pki.ca(json!({})).ok().answer["next_ca_cert"].is_null());

    // Planned in check mode: nothing written.
    let before = pki.snapshot();
    let planned = pki
        .ca(json!({"next_ca": "present", "_ansible_check_mode": true}))
        .ok();
    assert!(planned.changed() && planned.answer["next_ca_cert"].is_null());
    assert!(before == pki.snapshot());

    // Step 1: the next CA, then every host trusts both.
    let started = pki.ca(json!({"next_ca": "present"})).ok();
    assert!(started.changed());
    assert_eq!(started.answer["ca_cert"], json!(old_ca));
    let next_ca = started.answer["next_ca_cert"].as_str().unwrap().to_owned();
    assert_ne!(next_ca, old_ca);
    assert_eq!(mode(&ca_dir.join("ca-next-key.pem")), 0o600);
    let again = pki.ca(json!({"next_ca": "present"})).ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert_eq!(
        pki.ca(json!({})).ok().answer["next_ca_cert"],
        json!(next_ca)
    );
    // Until the CA host trusts it, the next CA neither signs nor becomes the CA.
    let before = pki.snapshot();
    let refused = pki.sign(&[], json!({"issuer": "next_ca"})).failed();
    assert!(
        refused.msg().contains("does not hold its certificate yet"),
        "{}",
        refused.msg()
    );
    let refused = pki.ca(json!({"next_ca": "promote"})).failed();
    assert!(
        refused.msg().contains("refusing to promote the next CA"),
        "{}",
        refused.msg()
    );
    assert!(before == pki.snapshot());

    let both = format!("{old_ca}{next_ca}");
    for i in 0..3 {
        let request = pki.request(i, &json!(both), json!({})).ok();
        assert!(
            !request.changed(),
            "judged against the current CA: {}",
            request.stdout
        );
        let install = pki
            .install_with(i, &json!(both), &json!([]), json!({}))
            .ok();
        assert_eq!(install.answer["changed_certs"], json!(["ca"]));
        assert_eq!(install.answer["etcd_restart_needed"], json!(true));
        assert_eq!(
            fs::read_to_string(pki.members[i].dir.join("ca.pem")).unwrap(),
            both
        );
    }

    // Step 2: everything re-issued by the next CA; the CA files stay (same CAs, other order).
    let next_first = format!("{next_ca}{old_ca}");
    let requests = requests_of(&pki, &next_first);
    assert_eq!(requests.len(), 9, "member, admin and node of each host");
    assert!(requests.iter().all(|r| r["reason"]
        .as_str()
        .unwrap()
        .contains("not issued by the current CA")));
    let signed = pki.sign(&requests, json!({"issuer": "next_ca"})).ok();
    assert_eq!(signed.answer["ca_cert"], json!(next_ca));
    for i in 0..3 {
        let install = pki
            .install_with(i, &json!(next_first), &signed.answer["issued"], json!({}))
            .ok();
        assert_eq!(
            install.answer["changed_certs"],
            json!(["member", "admin", "node"])
        );
        assert_eq!(install.answer["etcd_restart_needed"], json!(false));
        assert_eq!(
            fs::read_to_string(pki.members[i].dir.join("ca.pem")).unwrap(),
            both
        );
    }
    assert!(requests_of(&pki, &next_first).is_empty());
    if openssl().is_some() {
        let node = &pki.members[1];
        let member = node.dir.join("member-cp2.pem");
        assert_verifies(&node.dir.join("ca.pem"), std::slice::from_ref(&member));
        let only_next = pki.root.path().join("next.pem");
        fs::write(&only_next, &next_ca).unwrap();
        assert_verifies(&only_next, &[member]);
    }

    // Step 3: the next CA becomes the CA, and every host trusts it alone.
    let promoted = pki.ca(json!({"next_ca": "promote"})).ok();
    assert!(promoted.changed());
    assert_eq!(promoted.answer["ca_cert"], json!(next_ca));
    assert!(promoted.answer["next_ca_cert"].is_null());
    assert!(!ca_dir.join("ca-next.pem").exists() && !ca_dir.join("ca-next-key.pem").exists());
    assert_ne!(
        fs::read(ca_dir.join("ca-key.pem")).unwrap(),
        old_key,
        "the old CA key is gone"
    );
    for i in 0..3 {
        let install = pki
            .install_with(i, &json!(next_ca), &json!([]), json!({}))
            .ok();
        assert_eq!(install.answer["changed_certs"], json!(["ca"]));
        assert_eq!(install.answer["etcd_restart_needed"], json!(true));
        assert_eq!(
            fs::read_to_string(pki.members[i].dir.join("ca.pem")).unwrap(),
            next_ca
        );
    }
    let round = pki.round(json!({}), json!({}));
    assert_eq!(round.ca.answer["ca_cert"], json!(next_ca));
    assert!(round.ca.answer["next_ca_cert"].is_null());
    assert!(!round.ca.changed() && !round.sign.changed());
    assert!(round
        .requests
        .iter()
        .chain(&round.installs)
        .all(|r| !r.changed()));
    assert!(!pki.ca(json!({"next_ca": "promote"})).ok().changed());
}

#[test]
fn a_promotion_that_stopped_halfway_is_finished_not_taken_for_a_next_ca() {
    let pki = Pki::new("kubeadm", 1);
    let first = pki.round(json!({}), json!({}));
    let old_ca = first.ca.answer["ca_cert"].as_str().unwrap().to_owned();
    let next_ca = pki.ca(json!({"next_ca": "present"})).ok().answer["next_ca_cert"]
        .as_str()
        .unwrap()
        .to_owned();
    let both = json!(format!("{old_ca}{next_ca}"));
    pki.install_with(0, &both, &json!([]), json!({})).ok();
    // The promotion's first step (the key moved) without its second (the certificate removed).
    let etcd = pki.ca_dir().join("etcd");
    fs::rename(etcd.join("ca-next.key"), etcd.join("ca.key")).unwrap();
    let keep = pki.ca(json!({})).ok();
    assert_eq!(keep.answer["ca_cert"], json!(next_ca));
    assert!(keep.answer["next_ca_cert"].is_null());
    assert!(keep.answer["warnings"]
        .to_string()
        .contains("stopped halfway"));
    let finished = pki.ca(json!({"next_ca": "promote"})).ok();
    assert!(finished.changed());
    assert!(!etcd.join("ca-next.crt").exists());
    assert!(!pki.ca(json!({"next_ca": "promote"})).ok().changed());
}
