//! Black-box tests of the binary on this host's loopback: as Ansible runs it (`vip_check
//! <args file>`: the contract every module keeps, `kubeha_runtime::testing::contract`, and
//! vip_check's own checks) and as keepalived runs it (`vip_check --probe`, exit 0/1/2, one line
//! on stderr). Every server is on 127.0.0.1 and stopped by PID.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{have, module, probe, Binary, Daemon};
use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::Subject;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

kubeha_runtime::module_tests! {
    module: vip_check::VipCheck,
    // No case waits, listens or opens a connection (timeout 0, no port, no vrrp_scan), so
    // generated addresses are parsed and looked up on this host, never contacted. Nor does one
    // install the probe: in process, that would copy the test binary itself (its own test does).
    fuzz: fuzz::Check {
        seed: 0x7669_7063,
        base: |_| json!({"vips": ["127.0.0.1", "10.0.0.100/24"], "state": "any"}),
        fixed: |_| json!({"timeout": 0, "port": null, "tls_check": false, "vrrp_scan": null, "install_probe": null}),
    },
    binary: Subject {
        binary: Binary::new(common::BIN),
        task: |_| json!({"vips": ["127.0.0.1"]}),
        shows: ("state", json!("any")),
        changes: false,
    },
}

#[test]
fn loopback_is_bound_on_lo_and_never_changed() {
    let r = module(&[], json!({"vips": ["127.0.0.1/8", "::1"]}));
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["changed"], json!(false));
    assert_eq!(r.answer["vips"][0]["bound"], json!(true));
    assert_eq!(r.answer["vips"][0]["interface"], json!("lo"));
    assert_eq!(r.answer["vips"][0]["prefix"], json!(8));
    assert_eq!(r.answer["summary"]["all_bound"], json!(true));
    assert_eq!(r.answer["summary"]["reachable"], json!(null));
    assert_eq!(
        r.answer["msg"],
        json!("127.0.0.1 is bound on lo; ::1 is bound on lo")
    );
    assert!(r.answer.get("warnings").is_none());
    assert_eq!(r.answer["invocation"]["module_args"]["state"], json!("any"));
}

#[test]
fn check_mode_answers_the_same() {
    let options = json!({"vips": ["127.0.0.1", "198.51.100.77"]});
    let normal = module(&[], options.clone());
    let mut check = options;
    check["_ansible_check_mode"] = json!(true);
    let check = module(&[], check);
    assert_eq!(normal.answer["vips"], check.answer["vips"]);
    assert_eq!(check.answer["changed"], json!(false));
    assert_eq!(check.answer["vips"][1]["bound"], json!(false));
}

#[test]
fn a_different_prefix_is_a_warning() {
    let r = module(&[], json!({"vips": ["127.0.0.1/32"]}));
    assert_eq!(r.code, 0);
    assert_eq!(
        r.answer["warnings"],
        json!(["VIP 127.0.0.1 is bound on lo as /8, not /32 as given"])
    );
}

#[test]
fn state_present_fails_after_the_timeout_with_the_reports() {
    let start = Instant::now();
    let r = module(
        &[],
        json!({"vips": ["198.51.100.77"], "state": "present", "timeout": "1"}),
    );
    let took = start.elapsed();
    assert_eq!(r.code, 1);
    assert_eq!(r.answer["failed"], json!(true));
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("state=present: VIP 198.51.100.77 (no interface here is in its subnet) is not bound on this host after waiting 1"),
        "{msg}"
    );
    assert_eq!(r.answer["vips"][0]["bound"], json!(false));
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5));
}

#[test]
fn state_absent_fails_while_bound_and_passes_when_not() {
    let r = module(&[], json!({"vips": ["127.0.0.1"], "state": "absent"}));
    assert_eq!(r.code, 1);
    assert_eq!(
        r.answer["msg"],
        json!("state=absent: VIP 127.0.0.1 (on lo) is still bound on this host (timeout is 0: not waited)")
    );
    let r = module(&[], json!({"vips": ["198.51.100.77"], "state": "absent"}));
    assert_eq!(r.code, 0, "{}", r.answer);
}

#[test]
fn tcp_reachability_of_vip_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = module(&[], json!({"vips": ["127.0.0.1"], "port": port}));
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["vips"][0]["tcp_ok"], json!(true));
    assert_eq!(r.answer["summary"]["all_reachable"], json!(true));
    assert_eq!(
        r.answer["msg"],
        json!(format!("127.0.0.1 is bound on lo, port {port} accepts TCP"))
    );
    drop(listener);
    let r = module(&[], json!({"vips": ["127.0.0.1"], "port": port}));
    assert_eq!(r.code, 1);
    assert_eq!(r.answer["vips"][0]["tcp_ok"], json!(false));
    assert_eq!(
        r.answer["vips"][0]["tcp_error"],
        json!("connection refused")
    );
    assert_eq!(
        r.answer["msg"],
        json!("unreachable: 127.0.0.1: TCP connection refused (timeout is 0: not waited)")
    );
}

#[test]
fn waits_for_the_port_to_open_within_the_timeout() {
    let port = common::free_port();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(listener);
    });
    let r = module(
        &[],
        json!({"vips": ["127.0.0.1"], "port": port, "timeout": 5}),
    );
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["vips"][0]["tcp_ok"], json!(true));
    opener.join().unwrap();
}

#[test]
fn tls_hello_against_a_real_tls_server_and_a_plain_one() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let _server = common::tls_server(&[], dir.path(), "127.0.0.1", port, &[]);
    let r = module(
        &[],
        json!({"vips": ["127.0.0.1"], "port": port, "tls_check": true,
               "server_name": "lb-apiserver.kubernetes.local"}),
    );
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["vips"][0]["tls_version"], json!("TLSv1.3"));
    assert!(r.answer["msg"]
        .as_str()
        .unwrap()
        .ends_with("a TLS server answers (TLSv1.3)"));

    // A TLS 1.2-only server: the hello offers both.
    let port12 = common::free_port();
    let _server12 = common::tls_server(&[], dir.path(), "127.0.0.1", port12, &["-tls1_2"]);
    let r = module(
        &[],
        json!({"vips": ["127.0.0.1"], "port": port12, "tls_check": true}),
    );
    assert_eq!(
        r.answer["vips"][0]["tls_version"],
        json!("TLSv1.2"),
        "{}",
        r.answer
    );

    // Plain HTTP on the port: TCP works, TLS does not.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    // Two connections: the TCP check, then the TLS hello.
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut conn, _) = plain.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let r = module(
        &[],
        json!({"vips": ["127.0.0.1"], "port": plain_port, "tls_check": true}),
    );
    server.join().unwrap();
    assert_eq!(r.code, 1);
    assert_eq!(r.answer["vips"][0]["tcp_ok"], json!(true));
    assert_eq!(
        r.answer["vips"][0]["tls_error"],
        json!("not TLS: the server answered 'HTTP/1.1 400 Bad Request'")
    );
}

#[test]
fn a_silent_server_costs_at_most_probe_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let start = Instant::now();
    let r = module(
        &[],
        json!({"vips": ["127.0.0.1"], "port": port, "tls_check": true, "probe_timeout": 0.5}),
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(r.code, 1);
    let error = r.answer["vips"][0]["tls_error"].as_str().unwrap();
    assert!(
        error.contains("no answer within") || error.ends_with("out of time"),
        "{error}"
    );
    drop(silent);
}

#[test]
fn bad_options_fail_clearly() {
    for (options, expect) in [
        (json!({"vips": ["10.0.0.1"], "colour": "red"}), "Unsupported parameters for (vip_check module): colour. Supported parameters include: install_probe, port, probe_timeout, server_name, state, timeout, tls_check, vips, vrrp_scan."),
        (json!({}), "option 'vips' must list at least one address (or give install_probe alone)"),
        (json!({"install_probe": "etc/vip_check"}), "option 'install_probe' must be an absolute path, got 'etc/vip_check'"),
        (json!({"install_probe": "/tmp/x", "vips": ["10.0.0.1"]}), "option 'install_probe' is used alone"),
        (json!({"vips": "10.0.0.300"}), "option 'vips[0]' must be an IP address"),
        (json!({"vips": ["10.0.0.1"], "timeout": "soon"}), "option 'timeout'"),
        (json!({"vips": ["10.0.0.1"], "state": "up"}), "state"),
        (json!({"vips": ["10.0.0.1"], "port": 70000}), "option 'port' must be a port (1-65535), got 70000"),
        (json!({"vips": ["10.0.0.1/33"]}), "got '10.0.0.1/33' (the prefix length must be 0-32)"),
        (json!({"vips": ["10.0.0.1"], "tls_check": true}), "option 'tls_check' needs 'port'"),
    ] {
        module(&[], options).refused(expect);
    }
}

#[test]
fn probe_port_and_exit_codes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (code, line) = probe(&[], &["--port", &port]);
    assert_eq!(
        (code, line),
        (0, format!("vip_check: ok: 127.0.0.1:{port} accepts TCP\n"))
    );
    drop(listener);
    let (code, line) = probe(&[], &["--port", &port]);
    assert_eq!(code, 1);
    assert_eq!(
        line,
        format!("vip_check: FAIL: 127.0.0.1:{port} does not accept TCP: connection refused\n")
    );
    let (code, line) = probe(&[], &[]);
    assert_eq!(code, 2);
    assert!(line.contains("nothing to check"), "{line}");
    let help = common::command(&[], &[common::BIN, "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--pid-file PATH"));
}

#[test]
fn probe_pid_file_follows_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut lb = Daemon::spawn("sleep", common::command(&[], &["sleep", "60"]));
    let pid_file = dir.path().join("lb.pid");
    std::fs::write(&pid_file, format!("{}\n", lb.pid())).unwrap();
    let pid_path = pid_file.to_str().unwrap();
    let (code, line) = probe(&[], &["--pid-file", pid_path]);
    assert_eq!(code, 0, "{line}");
    lb.stop();
    let (code, line) = probe(&[], &["--pid-file", pid_path]);
    assert_eq!(code, 1);
    assert!(line.contains("no process of pid file"), "{line}");
}

/// `--watch`: a probe that passed keeps watching, fails within moments of the load balancer
/// dying, and follows a reload's new process instead of failing on the old one's exit.
#[test]
fn probe_watch_fails_at_once_when_the_process_ends_and_follows_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of sleep with a name no other process on the machine has.
    let name = format!("lbw{}", std::process::id() % 1_000_000);
    let exe = dir.path().join(&name);
    std::fs::copy(kubeha_runtime::testing::real_tool("sleep").unwrap(), &exe).unwrap();
    let exe = exe.to_str().unwrap().to_owned();
    let spawn = || Daemon::spawn(&name, common::command(&[], &[&exe, "60"]));
    let watcher = |seconds: &str| {
        common::command(
            &[],
            &[
                common::BIN,
                "--probe",
                "--process",
                &name,
                "--watch",
                seconds,
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let finish = |child: std::process::Child| {
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };

    // A reload: the new process starts, then the old one ends; the watch moves over.
    let mut old = spawn();
    assert!(common::wait_until(Duration::from_secs(2), || probe(
        &[],
        &["--process", &name]
    )
    .0 == 0));
    let start = Instant::now();
    let probe_run = watcher("1.2");
    std::thread::sleep(Duration::from_millis(300));
    let mut new = spawn();
    std::thread::sleep(Duration::from_millis(100));
    old.stop();
    let (code, line) = finish(probe_run);
    assert_eq!(code, 0, "{line}");
    assert!(
        start.elapsed() >= Duration::from_millis(1200),
        "the watch ended early: {line}"
    );
    assert!(
        line.ends_with("still running when the watch ended\n"),
        "{line}"
    );

    // The load balancer dies: the probe fails at once, not when the watch ends.
    let probe_run = watcher("20");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    new.stop();
    let (code, line) = finish(probe_run);
    let noticed = killed.elapsed();
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains(&format!("{name} (pid ")) && line.contains("ended while watched"),
        "{line}"
    );
    assert!(
        noticed < Duration::from_secs(2),
        "noticed after {noticed:?}"
    );
}

#[test]
fn probe_tls_and_timeout_budget() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let start = Instant::now();
    let (code, line) = probe(&[], &["--port", &port, "--tls", "--timeout", "0.3"]);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(code, 1);
    // Which limit speaks first depends on the machine's load; either way the probe fails in time.
    assert!(
        line.contains("no TLS server answers") || line.contains("did not finish within 0.3 s"),
        "{line}"
    );
    if have("openssl") {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let _server = common::tls_server(&[], dir.path(), "127.0.0.1", port, &[]);
        let (code, line) = probe(&[], &["--port", &port.to_string(), "--tls"]);
        assert_eq!(code, 0, "{line}");
        assert!(line.ends_with("TLS answers (TLSv1.3)\n"), "{line}");
    }
}

/// The backend check against a real haproxy: its stats socket says whether a server is UP.
#[test]
fn probe_haproxy_backends_through_the_stats_socket() {
    if !have("haproxy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (front, back) = (common::free_port(), common::free_port());
    let socket = dir.path().join("admin.sock");
    let pid_file = dir.path().join("haproxy.pid");
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  stats socket {} mode 600 level user\n\
             defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
             frontend kube_api_frontend\n  bind 127.0.0.1:{front}\n  default_backend kube_api_backend\n\
             backend kube_api_backend\n  server cp1 127.0.0.1:{back} check inter 200ms rise 1 fall 1\n",
            socket.display()
        ),
    )
    .unwrap();
    let mut cmd = common::command(&[], &["haproxy", "-W", "-db", "-f"]);
    cmd.arg(&cfg).arg("-p").arg(&pid_file);
    let _haproxy = Daemon::spawn("haproxy", cmd);
    let (sock, pidf, front) = (
        socket.to_str().unwrap().to_owned(),
        pid_file.to_str().unwrap().to_owned(),
        front.to_string(),
    );
    let args = [
        "--pid-file",
        &pidf,
        "--port",
        &front,
        "--haproxy-socket",
        &sock,
        "--haproxy-backend",
        "kube_api_backend",
    ];
    let up = || probe(&[], &args).0 == 0;
    // haproxy counts a server as up until its first check fails (within `inter`, later on a
    // loaded machine): wait for haproxy to report it down, then it must stay down.
    let down = || {
        probe(&[], &args)
            .1
            .contains("no server takes traffic in backend kube_api_backend (0/1 up)")
    };
    assert!(
        common::wait_until(Duration::from_secs(10), down),
        "{}",
        probe(&[], &args).1
    );
    assert!(
        !common::wait_until(Duration::from_secs(1), up),
        "the backend stays down while nothing listens on its port"
    );

    let backend = TcpListener::bind(("127.0.0.1", back)).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(5), up),
        "{}",
        probe(&[], &args).1
    );
    let (_, line) = probe(&[], &args);
    assert!(
        line.contains("1/1 servers up in backend kube_api_backend"),
        "{line}"
    );
    drop(backend);
}

#[test]
fn vrrp_scan_options_fail_clearly() {
    let scan = |options: serde_json::Value| json!({"vips": ["127.0.0.1"], "vrrp_scan": options});
    for (options, expect) in [
        (scan(json!({"seconds": 0})), "option 'vrrp_scan.seconds' must be more than 0 and at most 60 seconds, got 0"),
        (scan(json!({"seconds": 61})), "option 'vrrp_scan.seconds' must be more than 0 and at most 60 seconds, got 61"),
        (scan(json!({"virtual_router_id": 256})), "option 'vrrp_scan.virtual_router_id' must be 1-255, got 256"),
        (scan(json!({"virtual_router_id": 0})), "option 'vrrp_scan.virtual_router_id' must be 1-255, got 0"),
        (scan(json!({"virtual_router_id": 51, "own_sources": ["lb1"]})), "option 'vrrp_scan.own_sources[0]' must be an IP address, got 'lb1'"),
        (scan(json!({"own_sources": ["10.0.0.11"]})), "option 'vrrp_scan.own_sources' applies to the collision check: set vrrp_scan.virtual_router_id"),
        (scan(json!({"interface": "eth0/1"})), "option 'vrrp_scan.interface' must be an interface name"),
        (scan(json!({"interface": "vcnosuch0"})), "option 'vrrp_scan.interface': no interface named 'vcnosuch0' on this host"),
        (scan(json!({"vrid": 51})), "Unsupported parameters for (vrrp_scan): vrid."),
        (json!({"vips": ["198.51.100.77"], "vrrp_scan": {}}), "option 'vrrp_scan.interface' is not set and no one interface here is in the subnet of 198.51.100.77"),
    ] {
        module(&[], options).refused(expect);
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

#[test]
fn vrrp_scan_without_cap_net_raw_says_so() {
    // As root, run it with CAP_NET_RAW dropped from the bounding and inheritable sets.
    let prefix: &[&str] = if is_root() {
        if !have("setpriv") {
            return;
        }
        &["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"]
    } else {
        &[]
    };
    let r = module(
        prefix,
        json!({"vips": ["127.0.0.1"], "vrrp_scan": {"seconds": 1}}),
    );
    assert_eq!(r.code, 1, "{}", r.answer);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("vrrp_scan listens with a raw socket, which needs root (CAP_NET_RAW): run the task with become: true"),
        "{msg}"
    );
}

#[test]
fn vrrp_scan_on_loopback_hears_nothing_and_is_bounded() {
    if !is_root() {
        return; // needs CAP_NET_RAW; the message without it is tested above
    }
    let options =
        json!({"vips": ["127.0.0.1"], "vrrp_scan": {"seconds": "1.5", "virtual_router_id": 51}});
    let start = Instant::now();
    let r = module(&[], options.clone());
    let took = start.elapsed();
    assert_eq!(r.code, 0, "{}", r.answer);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(r.answer["vrrp_routers"], json!([]));
    assert_eq!(
        r.answer["vrrp_scan"],
        json!({"interface": "lo", "seconds": 1.5, "virtual_router_ids": [], "ignored_packets": 0})
    );
    assert_eq!(
        r.answer["msg"],
        json!("127.0.0.1 is bound on lo; no VRRP adverts on lo in 1.5 s")
    );
    let mut check = options;
    check["_ansible_check_mode"] = json!(true);
    let r = module(&[], check);
    assert_eq!(
        (r.code, &r.answer["changed"]),
        (0, &json!(false)),
        "{}",
        r.answer
    );
    assert_eq!(r.answer["vrrp_routers"], json!([]));
}

#[test]
fn install_probe_copies_this_binary_and_a_rerun_changes_nothing() {
    if !is_root() {
        eprintln!("skipped: installing the probe makes it root's");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived/vip_check");
    let task = json!({"install_probe": dest});
    let planned = module(
        &[],
        json!({"install_probe": dest, "_ansible_check_mode": true}),
    )
    .ok();
    assert!(planned.changed() && !dest.exists());
    let first = module(&[], task.clone()).ok();
    assert!(first.changed(), "{}", first.stdout);
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(common::BIN).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    let again = module(&[], task.clone()).ok();
    assert!(!again.changed(), "{}", again.stdout);
    // The installed copy is the probe keepalived runs.
    let out = std::process::Command::new(&dest)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--probe"));
    // A damaged copy is replaced; the diff never shows the binary.
    std::fs::write(&dest, b"not the probe").unwrap();
    let repaired = module(&[], json!({"install_probe": dest, "_ansible_diff": true})).ok();
    assert!(repaired.changed());
    assert!(
        !repaired.stdout.contains("not the probe"),
        "{}",
        repaired.stdout
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(common::BIN).unwrap()
    );
    // Its directory is made root's 0755 again when someone opened it up.
    let probe_dir = dest.parent().unwrap();
    assert_eq!(
        std::fs::metadata(probe_dir).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    std::fs::set_permissions(probe_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fixed = module(&[], task.clone()).ok();
    assert!(fixed.changed(), "{}", fixed.stdout);
    assert_eq!(
        std::fs::metadata(probe_dir).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert!(!module(&[], task).ok().changed());
}

#[test]
fn the_probe_records_what_it_hears_and_the_scan_reads_it_without_listening() {
    if !is_root() {
        return; // the probe's listener needs CAP_NET_RAW
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeha/vrrp.json");
    let record = path.to_str().unwrap();
    let scan = json!({"vips": ["127.0.0.1"],
                      "vrrp_scan": {"seconds": 1.5, "virtual_router_id": 51, "record": record}});
    // No record yet: the scan listens itself.
    let start = Instant::now();
    let r = module(&[], scan.clone());
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{}",
        r.answer
    );
    assert!(r.answer.get("vrrp_scan_record").is_none(), "{}", r.answer);
    // Three probe runs in a row, as keepalived runs them, listen for about 2.4 s in all; the
    // first as keepalived may run its scripts: umask 177 and, where setpriv is there, no
    // CAP_DAC_OVERRIDE (the directory it makes must still take the record).
    let confined = if have("setpriv") {
        "exec setpriv --bounding-set -dac_override,-dac_read_search sh -c 'umask 177; exec \"$0\" --probe \"$@\"' \"$0\" \"$@\""
    } else {
        "umask 177; exec \"$0\" --probe \"$@\""
    };
    let probe_args = [
        "--port",
        &port,
        "--timeout",
        "0.8",
        "--vrrp-record",
        record,
        "--vrrp-vip",
        "127.0.0.1/8",
    ];
    let first = std::process::Command::new("sh")
        .args(["-c", confined, common::BIN])
        .args(probe_args)
        .status()
        .unwrap();
    assert!(first.success());
    assert!(path.exists(), "the confined probe recorded nothing");
    for _ in 0..2 {
        let (code, line) = probe(&[], &probe_args);
        assert_eq!(code, 0, "{line}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"interface\":\"lo\""), "{text}");
    let start = Instant::now();
    let r = module(&[], scan.clone());
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{}",
        r.answer
    );
    assert_eq!(r.code, 0, "{}", r.answer);
    assert!(
        r.answer["vrrp_scan_record"]["listened_seconds"]
            .as_f64()
            .unwrap()
            >= 1.5,
        "{}",
        r.answer
    );
    assert_eq!(r.answer["vrrp_routers"], json!([]));
    // Stale once the probe stops: the scan listens itself again.
    std::thread::sleep(Duration::from_millis(2100));
    let start = Instant::now();
    let r = module(&[], scan);
    assert!(
        start.elapsed() >= Duration::from_millis(1500)
            && r.answer.get("vrrp_scan_record").is_none()
    );
    // The two options go together; a failing probe still answers at once.
    let (code, line) = probe(&[], &["--port", &port, "--vrrp-record", record]);
    assert_eq!(
        (
            code,
            line.contains("--vrrp-record and --vrrp-vip go together")
        ),
        (2, true),
        "{line}"
    );
    drop(listener);
}
