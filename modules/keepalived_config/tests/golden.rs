//! Rendered configs for the shapes users run (the seeds' and the lab's), compared with reviewed
//! golden files, and each accepted by the real `keepalived -t` on a sandbox host that has the
//! interfaces and scripts the config names (when keepalived and root are available; CI
//! requires them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::host;
use keepalived_config::{render, HostAddr, KeepalivedConfig};
use kubeha_runtime::testing::{assert_accepted, assert_has, golden};
use serde_json::{json, Value};

/// Renders `options` for a host with `local` addresses, compares with `tests/golden/<name>` and
/// has the real keepalived check the golden file.
fn check(name: &str, options: Value, local: &[HostAddr]) -> String {
    let (_, text, path) = golden::<KeepalivedConfig>(name, options, |p| render(p, local));
    if let Some(out) = common::keepalived_check(&path) {
        assert_accepted(name, &out);
    }
    text
}

fn seed_002(this_host: &str) -> Value {
    json!({
        "vips": ["192.168.1.100/24"],
        "interface": "eth0",
        "virtual_router_id": 68,
        "advert_int": 3,
        "priority_base": 120,
        "peers": ["lb1", "lb2"],
        "this_host": this_host,
        "router_id": this_host,
        "auth_pass": "Vrrp68ok",
        "scripts": [{
            "name": "chk_haproxy",
            "script": "/etc/keepalived/check_haproxy.sh",
            "interval": 2,
            "fall": 2,
            "rise": 2,
            "weight": -30,
        }],
    })
}

/// Seed 002: two LB hosts, priorities 120/110, VRID 68, advert_int 3, a weight -30 check
/// (a failing check drops the MASTER to 90, under the BACKUP's 110).
#[test]
fn seed_002_two_lb_hosts() {
    let lb1 = check("seed-002-lb1.conf", seed_002("lb1"), &[]);
    assert_has(
        &lb1,
        &[
            "    state MASTER\n",
            "    priority 120\n",
            "    virtual_router_id 68\n",
            "    advert_int 3\n",
            "    weight -30\n",
            "        192.168.1.100/24 dev eth0\n",
            "        auth_type PASS\n        auth_pass Vrrp68ok\n",
        ],
    );
    let lb2 = check("seed-002-lb2.conf", seed_002("lb2"), &[]);
    assert_has(&lb2, &["    state BACKUP\n", "    priority 110\n"]);
}

/// Seed 000: kubespray's inventory gives `k8s_lb_vip: 192.168.2.88/24` as one string; the
/// keepalived on the control-plane hosts checks the node-local LB's health endpoint. The
/// interface and the VRID are derived.
#[test]
fn seed_000_k8s_lb_vip() {
    let text = check(
        "seed-000-k8s-lb-vip.conf",
        json!({
            "vips": "192.168.2.88/24",
            "peers": ["cp1", "cp2", "cp3"],
            "this_host": "cp2",
            "auth_pass": "k8s-vip",
            "scripts": [{
                "name": "chk_lb",
                "script": "/usr/bin/curl -sf --max-time 2 http://127.0.0.1:8081/healthz",
                "interval": 2,
                "timeout": 3,
                "fall": 2,
                "rise": 2,
                "weight": -30,
            }],
        }),
        &host(&[
            ("lo", "127.0.0.1/8"),
            ("ens192", "192.168.2.12/24"),
            ("ens224", "10.0.0.12/16"),
        ]),
    );
    assert_has(
        &text,
        &[
            "    interface ens192\n",
            "        192.168.2.88/24 dev ens192\n",
        ],
    );
    assert!(text.contains(
        "    state BACKUP\n    interface ens192\n    virtual_router_id 33\n    priority 140\n"
    ));
    assert!(text.contains(
        "virtual_router_id 33: derived from cluster_name 'cluster.local' and 192.168.2.88"
    ));
}

/// The lab's tuned failover profile: VRRPv3 adverts every 0.2 s and an unweighted check
/// (interval 1, fall 1), so a failing LB puts the MASTER in FAULT and it hands the VIP over at
/// once instead of waiting for the BACKUP's timer.
#[test]
fn tuned_failover_profile() {
    let text = check(
        "tuned-failover.conf",
        json!({
            "vips": ["10.199.0.100/24"],
            "vrrp_version": 3,
            "advert_int": 0.2,
            "peers": ["lb1", "lb2"],
            "this_host": "lb1",
            "cluster_name": "lab",
            "scripts": [{"name": "chk_haproxy", "script": "/etc/keepalived/check_haproxy.sh", "fall": 1}],
        }),
        &host(&[("eth0", "10.199.0.11/24")]),
    );
    assert_has(
        &text,
        &[
            "    advert_int 0.2\n    version 3\n",
            "    interval 1\n    fall 1\n}",
        ],
    );
    assert!(!text.contains("weight"));
    assert!(!text.contains("authentication"));
}

/// IPv6: an IPv4 instance carrying an IPv6 VIP as an excluded address (one failover for the
/// pair), and an IPv6-only instance, which runs VRRPv3 over IPv6.
#[test]
fn dual_stack_and_ipv6() {
    let text = check(
        "dual-stack.conf",
        json!({
            "peers": ["lb1", "lb2"],
            "this_host": "lb1",
            "instances": [
                {"vips": ["192.0.2.100/24", "2001:db8::100/64"]},
                {"name": "VI_6", "vips": ["2001:db8::200/64"], "advert_int": 0.5},
            ],
        }),
        &host(&[
            ("eth0", "192.0.2.11/24"),
            ("eth0", "2001:db8::11/64"),
            ("eth0", "fe80::1/64"),
        ]),
    );
    assert!(text.contains("    virtual_ipaddress {\n        192.0.2.100/24 dev eth0\n    }\n"));
    assert!(text
        .contains("    virtual_ipaddress_excluded {\n        2001:db8::100/64 dev eth0\n    }\n"));
    assert_has(
        &text,
        &[
            "vrrp_instance VI_6 {",
            "        2001:db8::200/64 dev eth0\n",
        ],
    );
}

/// Unicast, active/active (the second VIP's peers in reverse order), delayed preemption,
/// notify scripts and gratuitous ARP settings.
#[test]
fn unicast_active_active() {
    let text = check(
        "unicast-active-active.conf",
        json!({
            "interface": "eth1",
            "cluster_name": "prod-eu1",
            "peers": ["10.0.0.11", "10.0.0.12"],
            "this_host": "10.0.0.12",
            "unicast": true,
            "auth_pass": "s3cr3t",
            "garp_master_delay": 1,
            "garp_master_refresh": 60,
            "notify_master": "/etc/keepalived/notify.sh master",
            "notify": "/etc/keepalived/notify.sh",
            "scripts": [{"name": "chk_lb", "script": "/etc/keepalived/check_haproxy.sh", "weight": -30}],
            "instances": [
                {"name": "api", "vips": ["10.0.0.100/16"], "preempt_delay": 30},
                {"name": "ingress", "vips": ["10.0.0.101/16"], "peers": ["10.0.0.12", "10.0.0.11"],
                 "nopreempt": true, "notify_backup": "/etc/keepalived/notify.sh backup"},
            ],
        }),
        &[],
    );
    assert!(text
        .contains("    unicast_src_ip 10.0.0.12\n    unicast_peer {\n        10.0.0.11\n    }\n"));
    assert_has(&text, &["    preempt_delay 30\n", "    nopreempt\n"]);
    assert!(
        !text.contains("MASTER\n"),
        "no preemption: every host starts as BACKUP"
    );
    assert!(text.contains("    notify_backup \"/etc/keepalived/notify.sh backup\"\n"));
}
