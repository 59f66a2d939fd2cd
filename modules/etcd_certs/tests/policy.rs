//! What the CA refuses to sign and hosts refuse to install: every refusal names the request and
//! the reason, and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;

/// A CA and every member's requests, not yet signed.
fn requested(pki: &Pki) -> Vec<Value> {
    let ca = pki.ca(json!({})).ok();
    (0..pki.members.len())
        .flat_map(|i| {
            pki.request(i, &ca.answer["ca_cert"], json!({})).ok().answer["requests"]
                .as_array()
                .cloned()
                .unwrap()
        })
        .collect()
}

fn find(requests: &[Value], node: &str, name: &str) -> Value {
    requests
        .iter()
        .find(|r| r["node_name"] == json!(node) && r["name"] == json!(name))
        .cloned()
        .unwrap()
}

fn refused(pki: &Pki, requests: &[Value], members: Option<Value>, expect: &str) {
    let before = pki.snapshot();
    let extra = match members {
        Some(m) => json!({ "members": m }),
        None => json!({}),
    };
    let run = pki.sign(requests, extra).failed();
    assert!(!run.changed());
    assert!(
        run.msg().contains(expect),
        "want {expect:?} in: {}",
        run.msg()
    );
    assert!(run.answer.get("issued").is_none() || run.answer["issued"] == json!([]));
    assert!(before == pki.snapshot(), "a refused sign changed files");
}

#[test]
fn only_sans_the_inventory_gives_a_member_are_signed() {
    let pki = Pki::new("kubeadm", 2);
    let ca = pki.ca(json!({})).ok();
    // cp2 asks for a name its inventory entry does not have.
    let greedy = pki
        .request(
            1,
            &ca.answer["ca_cert"],
            json!({"extra_sans": ["kubernetes.default", "10.9.9.9"]}),
        )
        .ok();
    let server = find(
        greedy.answer["requests"].as_array().unwrap(),
        "cp2",
        "etcd-server",
    );
    refused(
        &pki,
        std::slice::from_ref(&server),
        None,
        "option 'requests[0]' (etcd-server of cp2): the CSR asks for SANs that option 'members' \
         does not give cp2: DNS:kubernetes.default, IP:10.9.9.9 (allowed: DNS:cp2, DNS:localhost, \
         IP:10.0.0.2, IP:127.0.0.1, IP:::1)",
    );
    // With the inventory saying so, it is signed.
    let mut members = pki.members_option();
    members[1]["extra_sans"] = json!(["kubernetes.default", "10.9.9.9"]);
    let signed = pki.sign(&[server], json!({ "members": members })).ok();
    assert!(signed.answer["issued"][0]["sans"]
        .as_array()
        .unwrap()
        .contains(&json!("IP:10.9.9.9")));
}

#[test]
fn server_and_peer_certificates_only_for_known_members() {
    let pki = Pki::new("kubeadm", 2);
    let requests = requested(&pki);
    refused(
        &pki,
        &requests,
        Some(json!([{"node_name": "cp1", "node_ips": ["10.0.0.1"]}])),
        "option 'requests[4]' (etcd-server of cp2): cp2 is not in option 'members'",
    );
    // Client certificates name nobody: they need no member entry.
    let clients: Vec<Value> = requests
        .iter()
        .filter(|r| r["profile"] == json!("apiserver-etcd-client"))
        .cloned()
        .collect();
    let signed = pki.sign(&clients, json!({"members": []})).ok();
    assert_eq!(
        names(&signed.answer["issued"]),
        ["cp1 apiserver-etcd-client", "cp2 apiserver-etcd-client"]
    );
}

#[test]
fn the_declared_profile_must_match_the_csr() {
    let pki = Pki::new("kubeadm", 2);
    let requests = requested(&pki);
    // cp1's CSR passed off as cp2's.
    let mut stolen = find(&requests, "cp1", "etcd-server");
    stolen["node_name"] = json!("cp2");
    refused(
        &pki,
        &[stolen],
        None,
        "the CSR's subject is 'CN=cp1'; the etcd-server profile wants 'CN=cp2'",
    );
    // A client CSR passed off as a server one.
    let mut promoted = find(&requests, "cp1", "etcd-healthcheck-client");
    promoted["profile"] = json!("etcd-server");
    promoted["name"] = json!("etcd-server");
    refused(
        &pki,
        &[promoted],
        None,
        "the CSR's subject is 'CN=kube-etcd-healthcheck-client'; the etcd-server profile wants 'CN=cp1'",
    );
    // A name that does not fit the profile.
    let mut renamed = find(&requests, "cp1", "apiserver-etcd-client");
    renamed["name"] = json!("etcd-peer");
    refused(
        &pki,
        &[renamed],
        None,
        "a certificate of profile apiserver-etcd-client is named apiserver-etcd-client or node, \
         not 'etcd-peer'",
    );
    let mut unknown = find(&requests, "cp1", "apiserver-etcd-client");
    unknown["profile"] = json!("etcd-admin");
    refused(&pki, &[unknown], None, "unknown profile 'etcd-admin'");
    let twice = find(&requests, "cp1", "etcd-peer");
    refused(
        &pki,
        &[twice.clone(), twice],
        None,
        "option 'requests' holds two requests for etcd-peer of cp1",
    );
}

#[test]
fn tampered_csrs_are_refused() {
    let pki = Pki::new("kubeadm", 1);
    let requests = requested(&pki);
    let mut tampered = find(&requests, "cp1", "etcd-server");
    let csr = tampered["csr"].as_str().unwrap().to_owned();
    // Change one base64 character in the middle of the signed part.
    let lines: Vec<&str> = csr.lines().collect();
    let mut line = lines[3].to_owned().into_bytes();
    line[10] = if line[10] == b'A' { b'B' } else { b'A' };
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[3] = String::from_utf8(line).unwrap();
    tampered["csr"] = json!(edited.join("\n") + "\n");
    refused(
        &pki,
        &[tampered],
        None,
        "option 'requests[0]' (etcd-server of cp1): the CSR is invalid",
    );
    let mut garbage = find(&requests, "cp1", "etcd-peer");
    garbage["csr"] = json!("not a CSR");
    refused(&pki, &[garbage], None, "the CSR is invalid");
}

/// A CSR made by openssl with `args` (after `req -new -subj /CN=<cn>`), as a request entry.
fn openssl_request(
    pki: &Pki,
    node: &str,
    name: &str,
    profile: &str,
    cn: &str,
    args: &[&str],
) -> Option<Value> {
    openssl()?;
    let dir = pki.root.path().join("openssl");
    fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.pem");
    let csr = dir.join("req.csr");
    let subject = format!("/CN={cn}");
    let mut argv = vec![
        "req",
        "-new",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
        "-subj",
        &subject,
    ];
    argv.extend(args);
    let (ok, text) = openssl_run(&argv);
    assert!(ok, "openssl req: {text}");
    Some(json!({
        "node_name": node, "name": name, "profile": profile,
        "csr": fs::read_to_string(&csr).unwrap(),
    }))
}

#[test]
fn csrs_may_ask_for_subject_alt_names_only() {
    let pki = Pki::new("kubeadm", 1);
    pki.ca(json!({})).ok();
    let Some(ca_request) = openssl_request(
        &pki,
        "cp1",
        "etcd-healthcheck-client",
        "etcd-healthcheck-client",
        "kube-etcd-healthcheck-client",
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=keyCertSign",
        ],
    ) else {
        return;
    };
    refused(
        &pki,
        &[ca_request],
        None,
        "the CSR asks for 2.5.29.19, 2.5.29.15; only subjectAltName may be requested",
    );
    let with_sans = openssl_request(
        &pki,
        "cp1",
        "apiserver-etcd-client",
        "apiserver-etcd-client",
        "kube-apiserver-etcd-client",
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=DNS:cp1",
        ],
    )
    .unwrap();
    refused(
        &pki,
        &[with_sans],
        None,
        "the apiserver-etcd-client profile carries no SANs, but the CSR asks for DNS:cp1",
    );
    let weak = openssl_request(
        &pki,
        "cp1",
        "apiserver-etcd-client",
        "apiserver-etcd-client",
        "kube-apiserver-etcd-client",
        &["-newkey", "rsa:1024"],
    )
    .unwrap();
    refused(
        &pki,
        &[weak],
        None,
        "the CSR's key is RSA-1024; the CA signs ECDSA-P256, RSA-2048, RSA-3072, RSA-4096 keys",
    );
    // A plain openssl CSR within policy is signed, and the certificate has the profile's
    // extensions, not the CSR's.
    let plain = openssl_request(
        &pki,
        "cp1",
        "etcd-server",
        "etcd-server",
        "cp1",
        &[
            "-newkey",
            "rsa:2048",
            "-addext",
            "subjectAltName=DNS:cp1,IP:127.0.0.1",
        ],
    )
    .unwrap();
    let signed = pki.sign(&[plain], json!({})).ok();
    let cert = pki.root.path().join("openssl/cert.pem");
    fs::write(&cert, signed.answer["issued"][0]["cert"].as_str().unwrap()).unwrap();
    let text = x509_text(&cert);
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    assert!(text.contains("DNS:cp1, IP Address:127.0.0.1"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
}

#[test]
fn hosts_install_only_certificates_that_are_theirs() {
    let pki = Pki::new("kubeadm", 2);
    let round = pki.round(json!({}), json!({}));
    let ca_cert = round.sign.answer["ca_cert"].clone();
    // Fresh certificates for cp2 to offer around.
    let request = pki.request(1, &Value::Null, json!({"force": true})).ok();
    let fresh = pki
        .sign(request.answer["requests"].as_array().unwrap(), json!({}))
        .ok();
    let before = pki.snapshot();

    let install =
        |i: usize, issued: Value, extra: Value| pki.install_with(i, &ca_cert, &issued, extra);
    let relabel = |node: &str| -> Value {
        let mut issued = fresh.answer["issued"].clone();
        for entry in issued.as_array_mut().unwrap() {
            entry["node_name"] = json!(node);
        }
        issued
    };

    // cp2's server certificate offered to cp1: wrong name.
    let run = install(0, json!([relabel("cp1")[0]]), json!({})).failed();
    assert!(
        run.msg().contains("option 'issued[0]' (etcd-server of cp1): not installed, it is not what this host wants: subject is 'CN=cp2', wanted 'CN=cp1'; SANs differ"),
        "{}",
        run.msg()
    );
    // cp2's client certificate offered to cp1: right profile, wrong key.
    let run = install(0, json!([relabel("cp1")[2]]), json!({})).failed();
    assert!(
        run.msg()
            .contains("it is for a key this host does not have"),
        "{}",
        run.msg()
    );
    // One bad entry among good ones: nothing at all is written.
    let mut mixed = fresh.answer["issued"].clone();
    mixed.as_array_mut().unwrap()[3]["cert"] = relabel("cp1")[0]["cert"].clone();
    let run = install(1, mixed, json!({})).failed();
    assert!(
        run.msg()
            .contains("option 'issued[3]' (apiserver-etcd-client of cp2)"),
        "{}",
        run.msg()
    );
    // cp2 told it has other addresses than it asked for.
    let run = install(
        1,
        fresh.answer["issued"].clone(),
        json!({"node_ips": ["10.0.0.99"]}),
    )
    .failed();
    assert!(
        run.msg()
            .contains("SANs differ: missing IP:10.0.0.99; not wanted IP:10.0.0.2"),
        "{}",
        run.msg()
    );
    assert!(before == pki.snapshot(), "a refused install changed files");

    // Certificates of another CA, and another CA's certificate on the CA host.
    let other = Pki::new("kubeadm", 1);
    let other_round = other.round(json!({}), json!({}));
    let run = pki.install(0, &other_round.sign, json!({})).failed();
    assert!(
        run.msg().contains("does not belong to this host's CA key"),
        "{}",
        run.msg()
    );
    let mut foreign = other_round.sign.answer["issued"].clone();
    for entry in foreign.as_array_mut().unwrap() {
        entry["node_name"] = json!("cp2");
    }
    let run = install(1, foreign, json!({})).failed();
    assert!(
        run.msg().contains("not issued by the current CA"),
        "{}",
        run.msg()
    );
    assert!(before == pki.snapshot(), "a refused install changed files");

    // The genuine ones install.
    assert!(pki.install(1, &fresh, json!({})).ok().changed());
}
