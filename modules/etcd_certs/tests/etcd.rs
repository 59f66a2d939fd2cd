//! The issued certificates in a real etcd: one member on 127.0.0.1 ports, in a temp data dir,
//! started and stopped by PID, every wait bounded. Checked with the real etcdctl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running etcd, killed (by its PID) when dropped, also when a test fails.
struct Etcd {
    child: Child,
    client_url: String,
    log: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The files etcd and its clients use, in either layout.
struct Files {
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    peer: (PathBuf, PathBuf),
    health: (PathBuf, PathBuf),
    apiserver: (PathBuf, PathBuf),
}

impl Files {
    fn kubeadm(dir: &Path) -> Files {
        let pair = |stem: &str| {
            (
                dir.join(format!("{stem}.crt")),
                dir.join(format!("{stem}.key")),
            )
        };
        Files {
            ca: dir.join("etcd/ca.crt"),
            server: pair("etcd/server"),
            peer: pair("etcd/peer"),
            health: pair("etcd/healthcheck-client"),
            apiserver: pair("apiserver-etcd-client"),
        }
    }

    fn kubespray(dir: &Path, node: &str) -> Files {
        let pair = |stem: &str| {
            (
                dir.join(format!("{stem}-{node}.pem")),
                dir.join(format!("{stem}-{node}-key.pem")),
            )
        };
        Files {
            ca: dir.join("ca.pem"),
            server: pair("member"),
            peer: pair("member"),
            health: pair("admin"),
            apiserver: pair("node"),
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_etcd(etcd: &Path, root: &Path, files: &Files) -> Etcd {
    let (client, peer, metrics) = (free_port(), free_port(), free_port());
    let client_url = format!("https://127.0.0.1:{client}");
    let peer_url = format!("https://127.0.0.1:{peer}");
    let log = root.join("etcd.log");
    let child = Command::new(etcd)
        .args(["--name", "cp1", "--data-dir"])
        .arg(root.join("etcd-data"))
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args([
            "--initial-cluster",
            &format!("cp1={peer_url}"),
            "--initial-cluster-state",
            "new",
        ])
        .args([
            "--listen-metrics-urls",
            &format!("http://127.0.0.1:{metrics}"),
        ])
        .arg("--client-cert-auth")
        .arg("--trusted-ca-file")
        .arg(&files.ca)
        .arg("--cert-file")
        .arg(&files.server.0)
        .arg("--key-file")
        .arg(&files.server.1)
        .arg("--peer-client-cert-auth")
        .arg("--peer-trusted-ca-file")
        .arg(&files.ca)
        .arg("--peer-cert-file")
        .arg(&files.peer.0)
        .arg("--peer-key-file")
        .arg(&files.peer.1)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(root.join("etcd.err")).unwrap())
        .spawn()
        .unwrap();
    Etcd {
        child,
        client_url,
        log,
    }
}

/// etcdctl with a client certificate; (success, output).
fn etcdctl(etcd: &Etcd, ca: &Path, client: &(PathBuf, PathBuf), args: &[&str]) -> (bool, String) {
    let exe = kubeha_runtime::testing::real_tool("etcdctl").unwrap();
    let out = Command::new(exe)
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd.client_url,
            "--dial-timeout",
            "2s",
            "--command-timeout",
            "3s",
        ])
        .arg("--cacert")
        .arg(ca)
        .arg("--cert")
        .arg(&client.0)
        .arg("--key")
        .arg(&client.1)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Waits (at most 30 s) until etcd answers `endpoint health` with the health-check certificate.
fn wait_healthy(etcd: &mut Etcd, files: &Files) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = etcd.child.try_wait() {
            panic!(
                "etcd exited ({status}):\n{}",
                std::fs::read_to_string(etcd.log.with_file_name("etcd.err")).unwrap_or_default()
            );
        }
        let (ok, out) = etcdctl(etcd, &files.ca, &files.health, &["endpoint", "health"]);
        if ok {
            return out;
        }
        last = out;
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("etcd did not become healthy in 30 s: {last}");
}

/// The serial of the certificate etcd serves to a new connection, read with openssl.
fn served_serial(etcd: &Etcd, files: &Files) -> String {
    let addr = etcd.client_url.trim_start_matches("https://");
    let exe = openssl().unwrap();
    let out = Command::new(exe)
        .args(["s_client", "-connect", addr, "-CAfile"])
        .arg(&files.ca)
        .arg("-cert")
        .arg(&files.health.0)
        .arg("-key")
        .arg(&files.health.1)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("served certificate");
    let end = text.find("-----END CERTIFICATE-----").unwrap() + 25;
    let pem = std::env::temp_dir().join(format!("etcd-certs-served-{}.pem", std::process::id()));
    std::fs::write(&pem, &text[start..end]).unwrap();
    let (ok, serial) = openssl_run(&["x509", "-noout", "-serial", "-in", pem.to_str().unwrap()]);
    let _ = std::fs::remove_file(&pem);
    assert!(ok);
    serial.trim().trim_start_matches("serial=").to_owned()
}

fn tools() -> Option<PathBuf> {
    let etcd = kubeha_runtime::testing::real_tool("etcd")?;
    kubeha_runtime::testing::real_tool("etcdctl")?;
    openssl()?;
    Some(etcd)
}

fn local_member(layout: &'static str) -> Pki {
    let mut pki = Pki::new(layout, 1);
    pki.members[0].ips = vec!["127.0.0.1".into()];
    pki
}

#[test]
fn etcd_serves_with_the_certificates_and_reloads_renewed_ones() {
    let Some(etcd_exe) = tools() else {
        return;
    };
    let pki = local_member("kubeadm");
    pki.round(json!({}), json!({}));
    let files = Files::kubeadm(&pki.members[0].dir);
    let mut etcd = start_etcd(&etcd_exe, pki.root.path(), &files);
    let health = wait_healthy(&mut etcd, &files);
    assert!(health.contains("is healthy"), "{health}");

    // kube-apiserver's client certificate reads and writes.
    let (ok, out) = etcdctl(
        &etcd,
        &files.ca,
        &files.apiserver,
        &["put", "/kubeha/test", "ok"],
    );
    assert!(ok, "{out}");
    let (ok, out) = etcdctl(
        &etcd,
        &files.ca,
        &files.apiserver,
        &["get", "/kubeha/test", "--print-value-only"],
    );
    assert!(ok && out.trim() == "ok", "{out}");

    // A client certificate from another CA is turned away.
    let other = local_member("kubeadm");
    other.round(json!({}), json!({}));
    let stranger = Files::kubeadm(&other.members[0].dir);
    let (ok, out) = etcdctl(&etcd, &files.ca, &stranger.health, &["endpoint", "health"]);
    assert!(!ok, "a foreign client certificate was accepted: {out}");

    // Renew the server certificate with a new key while etcd runs: the next connection gets it,
    // without a restart, and clients keep working.
    let before = served_serial(&etcd, &files);
    let request = pki
        .request(
            0,
            &Value::Null,
            json!({"certs": ["etcd-server"], "force": true, "rotate_keys": true}),
        )
        .ok();
    let signed = pki
        .sign(request.answer["requests"].as_array().unwrap(), json!({}))
        .ok();
    let install = pki
        .install(0, &signed, json!({"certs": ["etcd-server"]}))
        .ok();
    assert_eq!(install.answer["changed_certs"], json!(["etcd-server"]));
    assert_eq!(install.answer["etcd_restart_needed"], json!(false));
    let after = served_serial(&etcd, &files);
    assert_ne!(before, after);
    assert_eq!(
        after,
        signed.answer["issued"][0]["serial"].as_str().unwrap()
    );
    let (ok, out) = etcdctl(&etcd, &files.ca, &files.health, &["endpoint", "health"]);
    assert!(ok, "{out}");
    assert!(
        etcd.child.try_wait().unwrap().is_none(),
        "etcd kept running"
    );
}

#[test]
fn etcd_serves_with_kubesprays_member_certificate() {
    let Some(etcd_exe) = tools() else {
        return;
    };
    let pki = local_member("kubespray");
    pki.round(json!({}), json!({}));
    let files = Files::kubespray(&pki.members[0].dir, "cp1");
    let mut etcd = start_etcd(&etcd_exe, pki.root.path(), &files);
    wait_healthy(&mut etcd, &files);
    let (ok, out) = etcdctl(&etcd, &files.ca, &files.apiserver, &["member", "list"]);
    assert!(ok && out.contains("cp1"), "{out}");
}
