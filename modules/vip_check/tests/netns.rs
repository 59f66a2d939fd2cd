//! Real behaviour in network namespaces this test creates (`vc-<pid>-<tag>`, deleted at the
//! end): a VIP arriving on and leaving an interface, TLS through the VIP, and a real
//! keepalived pair whose track_script is `vip_check --probe`: killing the tracked haproxy on
//! the MASTER moves the VIP to the BACKUP, restarting it brings the VIP back.
//!
//! Needs root and `ip` (and keepalived, haproxy, openssl for the parts that use them); skipped
//! without root, failed when a tool is missing and KUBEHA_REQUIRE_TOOLS is set. Nothing
//! gets an address or a route in the root namespace; every process is stopped by PID.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{can_run, have, module, probe, sh, terminate, wait_until, Daemon, Netns};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[test]
fn vip_arrives_answers_tls_and_leaves() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new("dummy");
    // A veth pair with both ends inside (the dummy driver may be missing where modules cannot load).
    ns.ip(&[
        "link",
        "add",
        "vip0",
        "type",
        "veth",
        "peer",
        "name",
        "vip0-peer",
    ]);
    ns.ip(&["link", "set", "vip0-peer", "up"]);
    ns.ip(&["link", "set", "vip0", "up"]);
    ns.ip(&["addr", "add", "10.213.0.11/24", "dev", "vip0"]);
    let exec = ns.exec();

    let r = module(&exec, json!({"vips": ["10.213.0.100"], "state": "present"}));
    assert_eq!(r.code, 1);
    assert_eq!(
        r.answer["msg"],
        json!(
            "state=present: VIP 10.213.0.100 (its subnet is on vip0: 10.213.0.11/24) \
               is not bound on this host (timeout is 0: not waited)"
        )
    );

    // The VIP arrives (as keepalived adds it: a /32 with a label) while the module waits.
    let adder = in_a_moment(
        &ns,
        &[
            "addr add 10.213.0.100/32 dev vip0 label vip0:vip",
            "addr add fd00:213::100/128 dev vip0 nodad",
        ],
    );
    let r = module(
        &exec,
        json!({"vips": ["10.213.0.100", "fd00:213::100"], "state": "present", "timeout": 10}),
    );
    adder.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["vips"][0]["interface"], json!("vip0"));
    assert_eq!(r.answer["vips"][0]["prefix"], json!(32));
    assert_eq!(r.answer["vips"][1]["interface"], json!("vip0"));
    assert_eq!(r.answer["vips"][1]["prefix"], json!(128));
    assert_eq!(r.answer["changed"], json!(false));

    // The root namespace does not see it.
    let here = module(&[], json!({"vips": ["10.213.0.100"]}));
    assert_eq!(here.answer["vips"][0]["bound"], json!(false));

    if have("openssl") {
        let _tls = common::tls_server(&exec, dir.path(), "10.213.0.100", 8443, &[]);
        let r = module(
            &exec,
            json!({"vips": ["10.213.0.100"], "port": 8443, "tls_check": true}),
        );
        assert_eq!(r.code, 0, "{}", r.answer);
        assert_eq!(r.answer["vips"][0]["tls_version"], json!("TLSv1.3"));
        let (code, line) = probe(
            &exec,
            &["--address", "10.213.0.100", "--port", "8443", "--tls"],
        );
        assert_eq!(code, 0, "{line}");

        let _tls6 = common::tls_server(&exec, dir.path(), "fd00:213::100", 8444, &[]);
        let r = module(
            &exec,
            json!({"vips": ["fd00:213::100"], "port": 8444, "tls_check": true,
                   "server_name": "lb-apiserver.kubernetes.local"}),
        );
        assert_eq!(r.code, 0, "{}", r.answer);
        assert_eq!(r.answer["vips"][0]["tls_version"], json!("TLSv1.3"));
    }

    let remover = in_a_moment(&ns, &["addr del 10.213.0.100/32 dev vip0"]);
    let r = module(
        &exec,
        json!({"vips": ["10.213.0.100"], "state": "absent", "timeout": 10}),
    );
    remover.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["summary"]["none_bound"], json!(true));
}

/// `ip -n <ns> <command>` for each command, 0.8 s from now (while the module waits).
fn in_a_moment(ns: &Netns, commands: &[&str]) -> std::thread::JoinHandle<()> {
    let name = ns.name.clone();
    let commands: Vec<String> = commands.iter().map(|c| (*c).to_owned()).collect();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        for command in commands {
            let mut argv = vec!["ip", "-n", &name];
            argv.extend(command.split(' '));
            sh(&argv);
        }
    })
}

const VIP: &str = "10.213.1.100";

/// One load-balancer host: a namespace with a stand-in apiserver (TLS on 127.0.0.1:6443),
/// haproxy on :8443 checking it, and keepalived tracking haproxy with `vip_check --probe`.
struct LbHost {
    // Field order is drop order: daemons stop before their namespace goes.
    keepalived: Option<Daemon>,
    haproxy: Option<Daemon>,
    apiserver: Option<Daemon>,
    ns: Netns,
    tag: String,
}

impl LbHost {
    fn new(tag: &str) -> LbHost {
        LbHost {
            keepalived: None,
            haproxy: None,
            apiserver: None,
            ns: Netns::new(tag),
            tag: tag.into(),
        }
    }

    fn file(&self, dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{}-{name}", self.tag))
    }

    fn start_apiserver(&mut self, dir: &Path) {
        let home = self.file(dir, "apiserver");
        std::fs::create_dir_all(&home).unwrap();
        let server = common::tls_server(&self.ns.exec(), &home, "127.0.0.1", 6443, &[]);
        self.apiserver = Some(server);
    }

    fn start_haproxy(&mut self, dir: &Path) {
        let cfg = self.file(dir, "haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n  stats socket {} mode 600 level user\n\
                 defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
                 frontend kube_api_frontend\n  bind :8443\n  default_backend kube_api_backend\n\
                 backend kube_api_backend\n  server cp1 127.0.0.1:6443 check inter 300ms rise 1 fall 1\n",
                self.file(dir, "haproxy.sock").display()
            ),
        )
        .unwrap();
        let mut cmd = common::command(&self.ns.exec(), &["haproxy", "-W", "-db", "-f"]);
        cmd.arg(&cfg).arg("-p").arg(self.file(dir, "haproxy.pid"));
        self.haproxy = Some(Daemon::spawn("haproxy", cmd));
        let exec = self.ns.exec();
        let listening = || probe(&exec, &["--port", "8443"]).0 == 0;
        assert!(
            wait_until(Duration::from_secs(10), listening),
            "haproxy did not start in {}",
            self.ns.name
        );
    }

    /// The track_script: haproxy alive (pid file), its frontend open, a backend up.
    fn probe_command(&self, dir: &Path) -> String {
        format!(
            "{} --probe --pid-file {} --port 8443 --haproxy-socket {} \
             --haproxy-backend kube_api_backend --timeout 0.8",
            common::BIN,
            self.file(dir, "haproxy.pid").display(),
            self.file(dir, "haproxy.sock").display(),
        )
    }

    fn start_keepalived(&mut self, dir: &Path, me: &str, peer: &str, state: &str, priority: u8) {
        let conf = self.file(dir, "keepalived.conf");
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n  router_id vc_{tag}\n  script_user root\n}}\n\
                 vrrp_script lb_healthy {{\n  script \"{probe}\"\n  interval 1\n  timeout 2\n  fall 2\n  rise 2\n}}\n\
                 vrrp_instance VI_VC {{\n  state {state}\n  interface eth0\n  virtual_router_id 213\n\
                 \x20 priority {priority}\n  advert_int 1\n  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n\
                 \x20 virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n  track_script {{\n    lb_healthy\n  }}\n}}\n",
                tag = self.tag,
                probe = self.probe_command(dir),
            ),
        )
        .unwrap();
        let mut cmd = common::command(
            &self.ns.exec(),
            &["keepalived", "--dont-fork", "--log-console", "--vrrp", "-f"],
        );
        cmd.arg(&conf)
            .arg("-p")
            .arg(self.file(dir, "keepalived.pid"))
            .arg("-r")
            .arg(self.file(dir, "keepalived-vrrp.pid"));
        self.keepalived = Some(Daemon::spawn("keepalived", cmd));
    }

    /// Waits (bounded) until this host holds the VIP (`present`) or does not (`absent`).
    fn holds(&self, state: &str, timeout: u64) -> serde_json::Value {
        let r = module(
            &self.ns.exec(),
            json!({"vips": [VIP], "state": state, "timeout": timeout}),
        );
        assert_eq!(r.code, 0, "{}: {}", self.ns.name, r.answer);
        r.answer
    }

    /// One run of the track_script, as keepalived runs it.
    fn probe(&self, dir: &Path) -> (i32, String) {
        let command = self.probe_command(dir);
        let args: Vec<&str> = command.split_whitespace().skip(2).collect();
        probe(&self.ns.exec(), &args)
    }
}

impl Drop for LbHost {
    fn drop(&mut self) {
        for daemon in [&mut self.keepalived, &mut self.haproxy, &mut self.apiserver]
            .into_iter()
            .flatten()
        {
            terminate(daemon);
        }
    }
}

#[test]
fn keepalived_moves_the_vip_when_the_probe_fails() {
    if !can_run() || !have("keepalived") || !have("haproxy") || !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut lb1 = LbHost::new("k1");
    let mut lb2 = LbHost::new("k2");
    // One link between the two: eth0 in each, 10.213.1.0/24.
    lb1.ns.ip(&[
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &lb2.ns.name,
    ]);
    for (lb, me) in [(&lb1, "10.213.1.1/24"), (&lb2, "10.213.1.2/24")] {
        lb.ns.ip(&["addr", "add", me, "dev", "eth0"]);
        lb.ns.ip(&["link", "set", "eth0", "up"]);
    }
    for lb in [&mut lb1, &mut lb2] {
        lb.start_apiserver(d);
        lb.start_haproxy(d);
    }
    let backend_up = |lb: &LbHost| wait_until(Duration::from_secs(10), || lb.probe(d).0 == 0);
    assert!(backend_up(&lb1) && backend_up(&lb2), "{}", lb1.probe(d).1);
    lb1.start_keepalived(d, "10.213.1.1", "10.213.1.2", "MASTER", 120);
    lb2.start_keepalived(d, "10.213.1.2", "10.213.1.1", "BACKUP", 110);

    let held = lb1.holds("present", 20);
    assert_eq!(held["vips"][0]["interface"], json!("eth0"));
    lb2.holds("absent", 5);
    // A client on the backup reaches the apiserver through the VIP and haproxy.
    let r = module(
        &lb2.ns.exec(),
        json!({"vips": [VIP], "port": 8443, "tls_check": true}),
    );
    assert_eq!(
        r.answer["vips"][0]["tls_version"],
        json!("TLSv1.3"),
        "{}",
        r.answer
    );

    // The MASTER's only backend dies: haproxy lives on, but the probe fails and the VIP moves.
    lb1.apiserver.as_mut().unwrap().stop();
    // haproxy marks it down within a check interval or two.
    assert!(wait_until(Duration::from_secs(5), || lb1.probe(d).0 == 1));
    let (_, line) = lb1.probe(d);
    assert!(
        line.contains("no server takes traffic in backend kube_api_backend (0/1 up)"),
        "{line}"
    );
    lb2.holds("present", 20);
    lb1.holds("absent", 10);
    lb1.start_apiserver(d);
    lb1.holds("present", 20);
    lb2.holds("absent", 10);

    // haproxy on the MASTER dies: the probe fails on its pid file, the BACKUP takes the VIP.
    lb1.haproxy.as_mut().unwrap().stop();
    let (code, line) = lb1.probe(d);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("no process of pid file"), "{line}");
    lb2.holds("present", 20);
    lb1.holds("absent", 10);
    let r = module(
        &lb1.ns.exec(),
        json!({"vips": [VIP], "port": 8443, "tls_check": true, "timeout": 5}),
    );
    assert_eq!(r.code, 0, "clients still reach an apiserver: {}", r.answer);

    // haproxy is back: the higher priority takes the VIP back (keepalived preempts by default).
    let exec = lb1.ns.exec();
    let closed = || probe(&exec, &["--port", "8443"]).0 == 1;
    assert!(
        wait_until(Duration::from_secs(10), closed),
        "the killed haproxy's worker still listens"
    );
    lb1.start_haproxy(d);
    lb1.holds("present", 20);
    lb2.holds("absent", 10);
}
