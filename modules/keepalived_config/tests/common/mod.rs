//! A throwaway host for the tests: a private network namespace with the interfaces a config
//! names (veth pairs, optionally with addresses) and a private mount namespace in which scripts
//! that do not exist on this machine are stubs. `keepalived -t` rejects unknown interfaces and
//! missing track scripts, so this is how golden configs written for other hosts are checked by
//! the real keepalived. Needs root (for `unshare`); nothing leaves the namespaces, and they
//! vanish with the process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use keepalived_config::HostAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Directories a stub may be mounted over (a tmpfs, inside the private mount namespace only).
const STUB_DIRS: &[&str] = &["/etc/keepalived", "/usr/local/bin", "/usr/local/sbin"];

#[derive(Debug, Default, Clone)]
pub struct Sandbox {
    links: Vec<(String, Vec<String>)>,
    stubs: Vec<String>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// An interface `name` (up) with these addresses (`198.51.100.2/24`).
    pub fn link(mut self, name: &str, addresses: &[&str]) -> Sandbox {
        self.links.push((
            name.into(),
            addresses.iter().map(|a| (*a).to_owned()).collect(),
        ));
        self
    }

    /// An executable stub at `path` when the machine has no such file.
    pub fn stub(mut self, path: &str) -> Sandbox {
        if !Path::new(path).exists() {
            let dir = Path::new(path).parent().unwrap().to_str().unwrap();
            assert!(
                STUB_DIRS.contains(&dir),
                "{path}: stubs go in {STUB_DIRS:?} (the test machine lacks this program)"
            );
            self.stubs.push(path.into());
        }
        self
    }

    /// Whether sandboxes can be made here (root, unshare, ip). When `KUBEHA_REQUIRE_TOOLS` is
    /// set, as in CI, they must be.
    pub fn available() -> bool {
        let ok = nix::unistd::geteuid().is_root()
            && kubeha_runtime::tool::find("unshare").is_ok()
            && kubeha_runtime::tool::find("ip").is_ok();
        if !ok && std::env::var_os("KUBEHA_REQUIRE_TOOLS").is_some() {
            panic!("sandbox tests need root, unshare and ip (KUBEHA_REQUIRE_TOOLS is set)");
        }
        ok
    }

    /// `argv` run inside the sandbox.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, argv: &[S]) -> Command {
        let prefix = self.prefix();
        let mut cmd = Command::new(&prefix[0]);
        cmd.args(&prefix[1..]).args(argv);
        cmd
    }

    /// The command line that runs the words after it inside the sandbox.
    pub fn prefix(&self) -> Vec<String> {
        let mut setup = String::from(
            "set -e\nexport PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH\n\
             ip link set lo up\n",
        );
        for (i, (name, addresses)) in self.links.iter().enumerate() {
            setup += &format!("ip link add {name} type veth peer name kh-peer{i}\n");
            for a in addresses {
                // nodad: an IPv6 address is usable at once (nothing else is on this link).
                let flags = if a.contains(':') { " nodad" } else { "" };
                setup += &format!("ip address add {a} dev {name}{flags}\n");
            }
            setup += &format!("ip link set {name} up\nip link set kh-peer{i} up\n");
        }
        for stub in &self.stubs {
            let dir = Path::new(stub).parent().unwrap().display().to_string();
            setup += &format!(
                "[ -e {dir}/.kubeha-stubs ] || {{ mount -t tmpfs -o mode=0755 kubeha-stubs {dir}; touch {dir}/.kubeha-stubs; }}\n\
                 printf '#!/bin/sh\\nexit 0\\n' > {stub}\nchmod 0755 {stub}\n"
            );
        }
        setup += "exec \"$@\"\n";
        [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([setup, "sandbox".to_owned()])
        .collect()
    }
}

/// A host's addresses, as `("eth0", "192.168.2.11/24")`, on interfaces that are up.
pub fn host(addresses: &[(&str, &str)]) -> Vec<HostAddr> {
    let address = |(interface, cidr): &(&str, &str)| {
        let cidr = kubeha_runtime::net::parse_cidr("address", cidr).unwrap();
        HostAddr {
            interface: (*interface).to_owned(),
            addr: cidr.addr,
            prefix: cidr.prefix.unwrap(),
            up: true,
        }
    };
    addresses.iter().map(address).collect()
}

/// Runs the real `keepalived -t -e -f <config>` in a sandbox with the interfaces and scripts
/// the config names. `None` when keepalived or sandboxes are unavailable (and not required).
pub fn keepalived_check(config: &Path) -> Option<Output> {
    let keepalived = kubeha_runtime::testing::real_tool("keepalived")?;
    if !Sandbox::available() {
        return None;
    }
    let text = std::fs::read_to_string(config).unwrap();
    let mut sandbox = Sandbox::new();
    let mut seen = Vec::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if (*w == "interface" && i == 0) || *w == "dev" {
                if let Some(name) = words.get(i + 1) {
                    if !seen.contains(name) {
                        seen.push(name);
                        sandbox = sandbox.link(name, &[]);
                    }
                }
            }
        }
        if let Some(rest) = line.strip_prefix("script \"").or_else(|| {
            line.split_once(" \"")
                .filter(|(k, _)| k.starts_with("notify"))
                .map(|(_, r)| r)
        }) {
            let program = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('"');
            sandbox = sandbox.stub(program);
        }
    }
    let argv: Vec<PathBuf> = vec![
        keepalived,
        "-t".into(),
        "-e".into(),
        "-f".into(),
        config.into(),
    ];
    Some(sandbox.command(&argv).output().unwrap())
}
