//! What the black-box tests share: running the binary as Ansible and as keepalived does, and
//! servers to probe that are stopped (by PID) when the test ends, whatever happens.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

pub use kubeha_runtime::testing::{Binary, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_vip_check");

/// Runs `vip_check <args file>` as Ansible does, optionally behind a prefix such as
/// `ip netns exec NS`.
pub fn module(prefix: &[&str], options: Value) -> Run {
    Binary::new(BIN).behind(prefix).run(&options)
}

/// A probe run: exit status and its one line on stderr (stdout must stay empty).
pub fn probe(prefix: &[&str], args: &[&str]) -> (i32, String) {
    let out = command(prefix, &[BIN, "--probe"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "probe wrote to stdout");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    (out.status.code().unwrap(), stderr)
}

pub fn command(prefix: &[&str], argv: &[&str]) -> Command {
    let all: Vec<&str> = prefix.iter().chain(argv).copied().collect();
    let mut cmd = Command::new(all[0]);
    cmd.args(&all[1..]);
    cmd
}

/// A child process killed (SIGKILL, by PID) and reaped when dropped.
pub struct Daemon {
    pub child: Child,
    pub name: String,
}

impl Daemon {
    pub fn spawn(name: &str, mut cmd: Command) -> Daemon {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Daemon {
            child,
            name: name.into(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now (the kernel's pick, released again).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` every 50 ms for at most `limit`.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

/// A self-signed certificate and key (ECDSA P-256) for `openssl s_server`.
pub fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("server.pem"), dir.join("server-key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=lb-apiserver.kubernetes.local",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl req failed");
    (cert, key)
}

/// `openssl s_server` on `address:port` (inside a namespace when `prefix` says so), a
/// stand-in for the apiserver's TLS listener. Waits until it accepts.
pub fn tls_server(prefix: &[&str], dir: &Path, address: &str, port: u16, extra: &[&str]) -> Daemon {
    let (cert, key) = certificate(dir);
    let accept = if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    };
    let cert = cert.to_str().unwrap().to_owned();
    let key = key.to_str().unwrap().to_owned();
    let mut argv = vec!["openssl", "s_server", "-quiet", "-accept", &accept];
    argv.extend(["-cert", &cert, "-key", &key]);
    argv.extend(extra);
    let server = Daemon::spawn("openssl s_server", command(prefix, &argv));
    let probe_ready = || probe(prefix, &["--address", address, "--port", &port.to_string()]).0 == 0;
    assert!(
        wait_until(Duration::from_secs(10), probe_ready),
        "openssl s_server did not start on {accept}"
    );
    server
}

/// Whether a program is installed; with KUBEHA_REQUIRE_TOOLS set, a missing one fails the test.
pub fn have(tool: &str) -> bool {
    kubeha_runtime::testing::real_tool(tool).is_some()
}

/// A network namespace, deleted when dropped (after the daemons inside, declared later, stop).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("vc-{}-{tag}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ...`
    pub fn ip(&self, args: &[&str]) {
        let mut argv = vec!["ip", "-n", &self.name];
        argv.extend(args);
        sh(&argv);
    }

    /// The prefix that runs a command inside.
    pub fn exec(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.name]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn sh(argv: &[&str]) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Root (to create namespaces) and `ip`. Not being root skips these tests even when
/// KUBEHA_REQUIRE_TOOLS is set: the cargo tier must also run unprivileged.
pub fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        eprintln!("skipped: network namespace tests need root");
        return false;
    }
    have("ip")
}

/// Stops a daemon gracefully (SIGTERM, so keepalived takes its children and VIPs down),
/// then for sure (SIGKILL), within a few seconds.
pub fn terminate(daemon: &mut Daemon) {
    if !matches!(daemon.child.try_wait(), Ok(None)) {
        return; // already gone (and reaped)
    }
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.pid().to_string()])
        .status();
    let gone = wait_until(Duration::from_secs(5), || {
        matches!(daemon.child.try_wait(), Ok(Some(_)))
    });
    if !gone {
        daemon.stop();
    }
}
