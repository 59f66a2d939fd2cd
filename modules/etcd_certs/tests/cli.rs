//! The binary as Ansible runs it: the contract every module keeps
//! (`kubeha_runtime::testing::contract`); bad input fails clearly and changes nothing, ad-hoc
//! strings are coerced, diffs are readable and never show keys, owners are applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::Subject;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;

kubeha_runtime::module_tests! {
    module: etcd_certs::EtcdCerts,
    // Half the cases start from a valid request for one member's keys and CSRs; the fuzzer keeps
    // `cert_dir` inside the sandbox. RSA keys take ~100 ms each in a debug build; the RSA path
    // has its own tests.
    fuzz: fuzz::Check {
        seed: 0x6574_6364,
        base: |sandbox| json!({"action": "request", "cert_dir": sandbox.join("pki"),
            "node_name": "cp1", "node_ips": ["10.0.0.11"], "extra_sans": ["etcd.example.org"]}),
        fixed: |_| json!({"key_algorithm": "ECDSA-P256"}),
    },
    binary: Subject {
        binary: binary(),
        task: |root| json!({"action": "ca", "cert_dir": root.join("pki")}),
        shows: ("action", json!("ca")),
        changes: true,
    },
}

#[test]
fn bad_input_fails_naming_the_option_and_changes_nothing() {
    let pki = Pki::new("kubeadm", 1);
    pki.round(json!({}), json!({}));
    let before = pki.snapshot();
    let dir = pki.members[0].dir.to_str().unwrap().to_owned();
    let cases = [
        (
            json!({"action": "request", "cert_dir": dir}),
            "option 'node_name' is required with action 'request'",
        ),
        (
            json!({"action": "mint", "cert_dir": dir}),
            "option 'action' (in etcd_certs module) must be one of: ca, request, sign, install, report; got: mint",
        ),
        (
            json!({"action": "request", "cert_dir": dir, "node_name": "cp1", "certs": ["etcd-client"]}),
            "option 'certs[0]' must be one of: etcd-server, etcd-peer, etcd-healthcheck-client, apiserver-etcd-client; got: etcd-client",
        ),
        (
            json!({"action": "request", "cert_dir": dir, "node_name": "cp1", "key_algorithm": "ED25519"}),
            "option 'key_algorithm' (in etcd_certs module) must be one of: ECDSA-P256, RSA-2048, RSA-3072, RSA-4096; got: ED25519",
        ),
        (
            json!({"action": "request", "cert_dir": dir, "node_name": "cp 1"}),
            "option 'node_name' must be an IP address or a DNS name, got 'cp 1'",
        ),
        (
            json!({"action": "request", "cert_dir": dir, "node_name": "cp1", "node_ips": ["10.0.0.256"]}),
            "option 'node_ips[0]' must be an IP address, got '10.0.0.256'",
        ),
        (
            json!({"action": "request", "cert_dir": dir, "node_name": "cp1", "extra_sans": ["bad_name"]}),
            "option 'extra_sans[0]' must be an IP address or a DNS name, got 'bad_name'",
        ),
        (
            json!({"action": "sign", "cert_dir": dir, "validity_days": 0}),
            "option 'validity_days' must be between 1 and 36500 days, got 0",
        ),
        (
            json!({"action": "sign", "cert_dir": dir, "renew_before_days": -1}),
            "option 'renew_before_days' must be between 0 and 36500 days, got -1",
        ),
        (
            json!({"action": "ca", "cert_dir": "relative/pki"}),
            "option 'cert_dir' must be an absolute path, got 'relative/pki'",
        ),
        (
            json!({"action": "ca", "cert_dir": dir, "owner": "no-such-user-x"}),
            "option 'owner': no user named 'no-such-user-x'",
        ),
        (
            json!({"action": "install", "cert_dir": dir, "node_name": "cp1", "ca_cert": "junk"}),
            "option 'ca_cert' must be a PEM CA certificate",
        ),
        (
            json!({"action": "install", "cert_dir": dir, "node_name": "cp1",
                   "issued": [{"node_name": "cp1", "name": "etcd-server", "profile": "etcd-server", "cert": "x"}]}),
            "option 'ca_cert' is required with action 'install'",
        ),
        (
            json!({"action": "sign", "cert_dir": dir, "requests": [{"node_name": "cp1"}]}),
            "missing required arguments: name, profile (in requests[0])",
        ),
        (
            json!({"action": "sign", "cert_dir": dir, "members": [{"node_name": "cp1"}, {"node_name": "cp1"}]}),
            "option 'members' lists cp1 twice",
        ),
        (
            json!({"action": "request", "cert_dir": dir, "node_name": "cp1", "next_ca": "present"}),
            "option 'next_ca' is for action 'ca' only, not 'request'",
        ),
        (
            json!({"action": "ca", "cert_dir": dir, "issuer": "next_ca"}),
            "option 'issuer' is for action 'sign' only, not 'ca'",
        ),
        (
            json!({"action": "ca", "cert_dir": dir, "next_ca": "rotate"}),
            "option 'next_ca' (in etcd_certs module) must be one of: keep, present, promote; got: rotate",
        ),
        (
            json!({"action": "sign", "cert_dir": dir, "issuer": "next_ca"}),
            "the next CA certificate",
        ),
        (
            json!({"action": "ca", "cert_dir": dir, "colour": "red"}),
            "Unsupported parameters for (etcd_certs module): colour. Supported parameters include: action, ca_cert,",
        ),
    ];
    for (args, expect) in cases {
        run(args).refused(expect);
    }
    // A CA certificate that is a leaf, and one that is not self-signed.
    let leaf = fs::read_to_string(pki.members[0].dir.join("etcd/server.crt")).unwrap();
    let r = run(json!({"action": "install", "cert_dir": dir, "node_name": "cp1", "ca_cert": leaf}))
        .failed();
    assert!(
        r.msg().contains("option 'ca_cert' is not a CA certificate"),
        "{}",
        r.msg()
    );
    // The same CA twice in a bundle.
    let ca = fs::read_to_string(pki.members[0].dir.join("etcd/ca.crt")).unwrap();
    let r = run(json!({"action": "install", "cert_dir": dir, "node_name": "cp1", "ca_cert": format!("{ca}{ca}")}))
        .failed();
    assert!(
        r.msg()
            .contains("(certificate 2) holds the same certificate twice"),
        "{}",
        r.msg()
    );
    assert!(before == pki.snapshot(), "bad input changed files");
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let pki = Pki::new("kubeadm", 1);
    let dir = pki.members[0].dir.to_str().unwrap().to_owned();
    let r = run(json!({"action": "ca", "cert_dir": dir, "ca_validity_days": "100"})).ok();
    assert!((99..=100).contains(&r.answer["ca"]["days_left"].as_i64().unwrap()));
    let r = run(json!({
        "action": "request", "cert_dir": dir, "node_name": "cp1",
        "certs": "etcd-server,etcd-peer", "node_ips": "10.0.0.1", "force": "yes",
        "renew_before_days": "10",
    }))
    .ok();
    assert_eq!(
        names(&r.answer["requests"]),
        ["cp1 etcd-server", "cp1 etcd-peer"]
    );
    assert!(r.answer["requests"][0]["sans"]
        .as_array()
        .unwrap()
        .contains(&json!("IP:10.0.0.1")));
}

#[test]
fn install_diff_is_readable_and_keys_never_show() {
    let pki = Pki::new("kubeadm", 2);
    pki.round(json!({}), json!({}));
    let request = pki
        .request(
            1,
            &Value::Null,
            json!({"force": true, "rotate_keys": true, "_ansible_diff": true}),
        )
        .ok();
    let diff = request.answer["diff"].to_string();
    assert!(diff.contains("reason: forced (force: true)"), "{diff}");
    assert!(diff.contains("key: ECDSA-P256, new"), "{diff}");
    let signed = pki
        .sign(request.answer["requests"].as_array().unwrap(), json!({}))
        .ok();
    let install = pki.install(1, &signed, json!({"_ansible_diff": true})).ok();
    let diffs = install.answer["diff"].as_array().unwrap();
    assert_eq!(diffs.len(), 4);
    let first = &diffs[0];
    assert!(first["before"]
        .as_str()
        .unwrap()
        .starts_with("subject: CN=cp2\nissuer: CN=etcd-ca\nserial: "));
    assert!(first["after"]
        .as_str()
        .unwrap()
        .contains("SANs: DNS:cp2, DNS:localhost, IP:10.0.0.2"));
    assert_eq!(
        first["after_header"],
        json!(pki.members[1].dir.join("etcd/server.crt"))
    );
    assert!(
        !install.stdout.contains("BEGIN CERTIFICATE\\n"),
        "no PEM in diffs"
    );
    // Without --diff, no diff.
    assert!(pki
        .install(1, &signed, json!({}))
        .answer
        .get("diff")
        .is_none());
}

#[test]
fn owner_and_group_apply_to_files_and_directories() {
    let pki = Pki::new("kubespray", 1);
    let owner = json!({"owner": "65534", "group": "65534"});
    pki.round(owner.clone(), json!({}));
    let dir = &pki.members[0].dir;
    for path in [
        dir.clone(),
        dir.join("ca.pem"),
        dir.join("ca-key.pem"),
        dir.join("member-cp1.pem"),
        dir.join("member-cp1-key.pem"),
    ] {
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{}",
            path.display()
        );
    }
    assert_eq!(mode(dir), 0o700);
    // Idempotent with the owner, and an owner change is a change.
    let again = pki.round(owner, json!({}));
    assert!(!again.requests[0].changed() && !again.installs[0].changed());
    let root = pki.request(0, &Value::Null, json!({"owner": "0"})).ok();
    assert!(root.changed(), "{}", root.stdout);
    assert_eq!(
        fs::metadata(dir.join("member-cp1-key.pem")).unwrap().uid(),
        0
    );
    assert_eq!(fs::metadata(dir).unwrap().uid(), 0);
}

#[test]
fn existing_key_modes_are_tightened() {
    let pki = Pki::new("kubeadm", 1);
    pki.round(json!({}), json!({}));
    let key = pki.members[0].dir.join("etcd/peer.key");
    let cert = pki.members[0].dir.join("etcd/peer.crt");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&cert, fs::Permissions::from_mode(0o600)).unwrap();
    let request = pki.request(0, &Value::Null, json!({})).ok();
    assert!(request.changed());
    assert_eq!(
        request.answer["requests"],
        json!([]),
        "no re-issue for a mode"
    );
    assert_eq!(mode(&key), 0o600);
    let round = pki.round(json!({}), json!({}));
    assert!(round.installs[0].changed());
    assert_eq!(mode(&cert), 0o644);
}

#[test]
fn report_is_read_only_and_names_what_is_wrong() {
    let pki = Pki::new("kubeadm", 1);
    let empty = pki.report(0, json!({})).ok();
    assert!(!empty.changed());
    assert_eq!(empty.answer["certificates"][0]["status"], json!("missing"));
    assert!(empty.answer.get("ca").is_none());
    assert!(pki.snapshot().is_empty(), "report created files");

    pki.round(json!({}), json!({}));
    fs::remove_file(pki.members[0].dir.join("etcd/healthcheck-client.key")).unwrap();
    fs::write(
        pki.members[0].dir.join("apiserver-etcd-client.crt"),
        "garbage",
    )
    .unwrap();
    let before = pki.snapshot();
    let report = pki
        .report(0, json!({"node_ips": ["10.0.0.1", "10.0.0.7"]}))
        .ok();
    assert!(before == pki.snapshot());
    let certs = report.answer["certificates"].as_array().unwrap();
    assert_eq!(certs[0]["status"], json!("mismatch"));
    assert_eq!(
        certs[0]["reasons"],
        json!(["SANs differ: missing IP:10.0.0.7"])
    );
    assert_eq!(certs[2]["reasons"], json!(["its key is missing"]));
    assert!(certs[3]["reasons"][0]
        .as_str()
        .unwrap()
        .starts_with("the certificate is unreadable"));
    assert_eq!(report.answer["ca"]["status"], json!("valid"));
    assert_eq!(report.answer["to_issue"], json!(KUBEADM_CERTS));
    assert!(
        report.msg().starts_with("etcd-server mismatch (3"),
        "{}",
        report.msg()
    );
}
