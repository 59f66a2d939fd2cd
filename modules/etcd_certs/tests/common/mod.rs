//! Running the etcd_certs binary as Ansible does, over a CA host and members that are temp
//! directories, and checking its work with the real openssl.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub use kubeha_runtime::testing::{Binary, Run};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary; the one rule above all: no private key in anything the module says.
pub fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_etcd_certs")).never_says("PRIVATE KEY")
}

/// kubeadm's four etcd certificates, in the order the module reports them.
pub const KUBEADM_CERTS: [&str; 4] = [
    "etcd-server",
    "etcd-peer",
    "etcd-healthcheck-client",
    "apiserver-etcd-client",
];

/// Runs the binary with `args` (plus the keys ansible-core 2.19 sends) from an args file.
pub fn run(args: Value) -> Run {
    binary().run(&args)
}

/// A CA host and members, each a directory.
pub struct Pki {
    pub root: tempfile::TempDir,
    pub layout: &'static str,
    pub members: Vec<Node>,
}

/// A member: its name, addresses and directory.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub ips: Vec<String>,
    pub extra_sans: Vec<String>,
    pub dir: PathBuf,
}

/// What one round of the flow returned.
#[derive(Debug)]
pub struct Round {
    pub ca: Run,
    pub requests: Vec<Run>,
    pub sign: Run,
    pub installs: Vec<Run>,
}

impl Pki {
    /// `count` members cp1..cpN at 10.0.0.N; the CA host is cp1 (its CA lives in its dir).
    pub fn new(layout: &'static str, count: usize) -> Pki {
        let root = tempfile::tempdir().unwrap();
        let members = (1..=count)
            .map(|i| Node {
                name: format!("cp{i}"),
                ips: vec![format!("10.0.0.{i}")],
                extra_sans: vec![],
                dir: root.path().join(format!("cp{i}")),
            })
            .collect();
        Pki {
            root,
            layout,
            members,
        }
    }

    pub fn ca_dir(&self) -> &Path {
        &self.members[0].dir
    }

    fn base(&self, action: &str, dir: &Path, extra: &Value) -> Value {
        let mut args = json!({"action": action, "layout": self.layout, "cert_dir": dir});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    }

    fn node_args(&self, action: &str, i: usize, extra: &Value) -> Value {
        let node = &self.members[i];
        let mut args = self.base(action, &node.dir, extra);
        args["node_name"] = json!(node.name);
        args["node_ips"] = json!(node.ips);
        args["extra_sans"] = json!(node.extra_sans);
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    }

    pub fn ca(&self, extra: Value) -> Run {
        run(self.base("ca", self.ca_dir(), &extra))
    }

    pub fn request(&self, i: usize, ca_cert: &Value, extra: Value) -> Run {
        let mut args = self.node_args("request", i, &extra);
        if !ca_cert.is_null() {
            args["ca_cert"] = ca_cert.clone();
        }
        run(args)
    }

    /// `members` as the CA host builds it from the inventory.
    pub fn members_option(&self) -> Value {
        json!(self
            .members
            .iter()
            .map(|m| json!({"node_name": m.name, "node_ips": m.ips, "extra_sans": m.extra_sans}))
            .collect::<Vec<_>>())
    }

    pub fn sign(&self, requests: &[Value], extra: Value) -> Run {
        let mut args = self.base("sign", self.ca_dir(), &extra);
        args["requests"] = json!(requests);
        if args.get("members").is_none() {
            args["members"] = self.members_option();
        }
        run(args)
    }

    pub fn install(&self, i: usize, signed: &Run, extra: Value) -> Run {
        self.install_with(
            i,
            &signed.answer["ca_cert"],
            &signed.answer["issued"],
            extra,
        )
    }

    pub fn install_with(&self, i: usize, ca_cert: &Value, issued: &Value, extra: Value) -> Run {
        let mut args = self.node_args("install", i, &extra);
        args["ca_cert"] = ca_cert.clone();
        args["issued"] = issued.clone();
        run(args)
    }

    pub fn report(&self, i: usize, extra: Value) -> Run {
        run(self.node_args("report", i, &extra))
    }

    /// The whole flow once: ca, request everywhere, sign, install everywhere. `extra` goes to
    /// every step (e.g. `_ansible_check_mode`), `sign_extra` to sign only.
    pub fn round(&self, extra: Value, sign_extra: Value) -> Round {
        let ca = self.ca(extra.clone()).ok();
        let requests: Vec<Run> = (0..self.members.len())
            .map(|i| self.request(i, &ca.answer["ca_cert"], extra.clone()).ok())
            .collect();
        let all: Vec<Value> = requests
            .iter()
            .flat_map(|r| r.answer["requests"].as_array().cloned().unwrap_or_default())
            .collect();
        let mut sign_args = extra.clone();
        for (k, v) in sign_extra.as_object().unwrap() {
            sign_args[k] = v.clone();
        }
        let sign = self.sign(&all, sign_args).ok();
        let installs = (0..self.members.len())
            .map(|i| self.install(i, &sign, extra.clone()).ok())
            .collect();
        Round {
            ca,
            requests,
            sign,
            installs,
        }
    }

    /// Every file under the root with its bytes, for "nothing changed" checks.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u32)> {
        let mut out = Vec::new();
        walk(self.root.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, u32)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        if path.is_dir() {
            out.push((path.clone(), vec![], mode));
            walk(&path, out);
        } else {
            out.push((path.clone(), fs::read(&path).unwrap(), mode));
        }
    }
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The names in a result list field (`requests`, `issued`), as `node name`.
pub fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["node_name"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// openssl, when installed (required when KUBEHA_REQUIRE_TOOLS is set).
pub fn openssl() -> Option<PathBuf> {
    kubeha_runtime::testing::real_tool("openssl")
}

/// Runs openssl; returns (success, stdout + stderr).
pub fn openssl_run(args: &[&str]) -> (bool, String) {
    let exe = openssl().expect("openssl");
    let out = Command::new(exe).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `openssl x509 -text` of a certificate file.
pub fn x509_text(path: &Path) -> String {
    let (ok, text) = openssl_run(&["x509", "-noout", "-text", "-in", path.to_str().unwrap()]);
    assert!(ok, "openssl x509 failed on {}: {text}", path.display());
    text
}

/// `openssl verify -CAfile ca leaf...` must say OK for each.
pub fn assert_verifies(ca: &Path, leaves: &[PathBuf]) {
    let mut args = vec!["verify", "-CAfile", ca.to_str().unwrap()];
    args.extend(leaves.iter().map(|p| p.to_str().unwrap()));
    let (ok, text) = openssl_run(&args);
    assert!(ok, "openssl verify failed: {text}");
    for leaf in leaves {
        assert!(
            text.contains(&format!("{}: OK", leaf.display())),
            "openssl verify: {text}"
        );
    }
}
