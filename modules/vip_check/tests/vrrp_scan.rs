//! The VRRP scan for real, in network namespaces this test creates (`vc-<pid>-<tag>`, deleted
//! at the end): one segment (a bridge in its own namespace) joins "another cluster", a real
//! keepalived pair holding VIP 10.213.2.100 (and fd00:213:2::100) on VRID 51 with multicast
//! adverts, and a third host that scans the segment.
//!
//! Needs root, `ip` and keepalived; skipped without root, failed when a tool is missing and
//! KUBEHA_REQUIRE_TOOLS is set. Nothing gets an address or a route in the root namespace;
//! every process is stopped by PID, every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{can_run, have, module, sh, terminate, Daemon, Netns};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const OTHER_VIP: &str = "10.213.2.100";
const OTHER_VIP6: &str = "fd00:213:2::100";

/// A host on the segment: its namespace, `eth0` plugged into the switch, and keepalived.
struct Host {
    // Field order is drop order: the daemon stops before its namespace goes.
    keepalived: Option<Daemon>,
    ns: Netns,
    tag: String,
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(daemon) = &mut self.keepalived {
            terminate(daemon);
        }
    }
}

/// The switch: a bridge in a namespace of its own (no address), and the hosts on it.
struct Segment {
    hosts: Vec<Host>,
    switch: Netns,
}

impl Segment {
    fn new() -> Segment {
        let switch = Netns::new("seg");
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        switch.ip(&["link", "set", "br0", "up"]);
        Segment {
            hosts: Vec::new(),
            switch,
        }
    }

    /// A host with `address` (IPv4, /24) and a fixed link-local address `link_local`, so the
    /// IPv6 adverts' source is known in advance.
    fn plug(&mut self, tag: &str, address: &str, link_local: &str) -> usize {
        let ns = Netns::new(tag);
        let port = format!("p-{tag}");
        self.switch.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ]);
        self.switch
            .ip(&["link", "set", &port, "master", "br0", "up"]);
        // No duplicate address detection: addresses are usable at once (keepalived's IPv6
        // adverts need the link-local one).
        let mut sysctl = ns.exec().to_vec();
        sysctl.extend(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"]);
        sh(&sysctl);
        ns.ip(&["link", "set", "eth0", "addrgenmode", "none"]);
        ns.ip(&["addr", "add", address, "dev", "eth0"]);
        ns.ip(&["addr", "add", link_local, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        self.hosts.push(Host {
            keepalived: None,
            ns,
            tag: tag.into(),
        });
        self.hosts.len() - 1
    }
}

/// keepalived on `host` as a member of the other cluster: VRID 51, multicast adverts, one
/// IPv4 instance and one IPv6 instance.
fn start_other_cluster_member(host: &mut Host, dir: &Path, state: &str, priority: u8) {
    let file = |name: &str| dir.join(format!("{}-{name}", host.tag));
    let instance = |name: &str, version: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n\
             \x20 version {version}\n  priority {priority}\n  advert_int 1\n\
             \x20 virtual_ipaddress {{\n    {vip} dev eth0\n  }}\n}}\n"
        )
    };
    let conf = file("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id vc_{}\n}}\n{}{}",
            host.tag,
            instance("OTHER_V4", 2, &format!("{OTHER_VIP}/24")),
            instance("OTHER_V6", 3, &format!("{OTHER_VIP6}/64")),
        ),
    )
    .unwrap();
    let mut cmd = common::command(
        &host.ns.exec(),
        &["keepalived", "--dont-fork", "--log-console", "--vrrp", "-f"],
    );
    cmd.arg(&conf)
        .arg("-p")
        .arg(file("keepalived.pid"))
        .arg("-r")
        .arg(file("keepalived-vrrp.pid"));
    host.keepalived = Some(Daemon::spawn("keepalived", cmd));
}

/// `vip_check` in `host`'s namespace; returns its answer and how long it took.
fn scan(host: &Host, options: Value) -> (common::Run, Duration) {
    let start = Instant::now();
    let answer = module(&host.ns.exec(), options);
    (answer, start.elapsed())
}

fn router<'a>(answer: &'a Value, source: &str) -> Option<&'a Value> {
    answer["vrrp_routers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == json!(source))
}

#[test]
fn a_third_host_hears_another_cluster_and_refuses_its_vrid() {
    if !can_run() || !have("keepalived") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut segment = Segment::new();
    let o1 = segment.plug("o1", "10.213.2.1/24", "fe80::2:1/64");
    let o2 = segment.plug("o2", "10.213.2.2/24", "fe80::2:2/64");
    let us = segment.plug("us", "10.213.2.11/24", "fe80::2:11/64");
    start_other_cluster_member(&mut segment.hosts[o1], d, "MASTER", 120);
    start_other_cluster_member(&mut segment.hosts[o2], d, "BACKUP", 110);
    let held = module(
        &segment.hosts[o1].ns.exec(),
        json!({"vips": [OTHER_VIP, OTHER_VIP6], "state": "present", "timeout": 20}),
    );
    assert_eq!(held.code, 0, "the other cluster's MASTER: {}", held.answer);

    // Our future cluster's VIP is in the same subnet: the scan finds eth0 by itself.
    let (r, took) = scan(
        &segment.hosts[us],
        json!({"vips": ["10.213.2.200/24"], "vrrp_scan": {"seconds": 2.5}}),
    );
    assert_eq!(r.code, 0, "{}", r.answer);
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(r.answer["changed"], json!(false));
    assert_eq!(r.answer["vrrp_scan"]["interface"], json!("eth0"));
    assert_eq!(r.answer["vrrp_scan"]["virtual_router_ids"], json!([51]));
    assert_eq!(r.answer["vrrp_scan"]["ignored_packets"], json!(0));
    let v4 = router(&r.answer, "10.213.2.1").expect("the MASTER's IPv4 adverts");
    assert_eq!(
        (
            &v4["virtual_router_id"],
            &v4["version"],
            &v4["priority"],
            &v4["advert_int"]
        ),
        (&json!(51), &json!(2), &json!(120), &json!(1.0))
    );
    assert_eq!(v4["addresses"], json!([OTHER_VIP]));
    assert!(v4["adverts"].as_u64().unwrap() >= 2, "{v4}");
    let v6 = router(&r.answer, "fe80::2:1").expect("the MASTER's IPv6 adverts");
    assert_eq!((&v6["version"], &v6["priority"]), (&json!(3), &json!(120)));
    assert!(
        v6["addresses"]
            .as_array()
            .unwrap()
            .contains(&json!(OTHER_VIP6)),
        "{v6}"
    );
    // Only a MASTER advertises.
    assert!(router(&r.answer, "10.213.2.2").is_none(), "{}", r.answer);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.contains("VRRP on eth0 in 2.5 s: VRID 51 from 10.213.2.1 (10.213.2.100)"),
        "{msg}"
    );

    // Our cluster (hosts 10.213.2.11 and .12, VIP .200) must not take VRID 51.
    let ours = |vrid: u8| {
        json!({"vips": ["10.213.2.200"], "vrrp_scan": {
            "seconds": 2.5, "interface": "eth0", "virtual_router_id": vrid,
            "own_sources": ["10.213.2.11", "10.213.2.12"]}})
    };
    let (r, _) = scan(&segment.hosts[us], ours(51));
    assert_eq!(r.code, 1, "{}", r.answer);
    assert_eq!(
        r.answer["msg"],
        json!(
            "VRID 51 is already in use on eth0: 10.213.2.1 advertises VIPs 10.213.2.100 and is \
             not one of our hosts (10.213.2.11, 10.213.2.12); choose another virtual_router_id"
        )
    );
    assert!(router(&r.answer, "10.213.2.1").is_some(), "{}", r.answer);
    let (r, _) = scan(&segment.hosts[us], ours(52));
    assert_eq!(r.code, 0, "{}", r.answer);

    // The other cluster checking itself (its own hosts, its own VIPs; IPv6 adverts come from
    // link-local addresses) finds no collision: re-running a deployment is fine.
    let (r, _) = scan(
        &segment.hosts[o2],
        json!({"vips": [OTHER_VIP, OTHER_VIP6], "vrrp_scan": {
            "seconds": 2.5, "virtual_router_id": 51,
            "own_sources": ["10.213.2.1", "10.213.2.2", "fe80::2:1", "fe80::2:2"]}}),
    );
    assert_eq!(r.code, 0, "{}", r.answer);
    assert_eq!(r.answer["vrrp_routers"].as_array().unwrap().len(), 2);

    // The MASTER stops: its last advert (priority 0) hands over, and the BACKUP is heard.
    terminate(segment.hosts[o1].keepalived.as_mut().unwrap());
    let held = module(
        &segment.hosts[o2].ns.exec(),
        json!({"vips": [OTHER_VIP], "state": "present", "timeout": 20}),
    );
    assert_eq!(held.code, 0, "the BACKUP takes over: {}", held.answer);
    let (r, _) = scan(&segment.hosts[us], ours(51));
    assert_eq!(r.code, 1, "{}", r.answer);
    assert!(
        r.answer["msg"]
            .as_str()
            .unwrap()
            .contains("10.213.2.2 advertises VIPs 10.213.2.100"),
        "{}",
        r.answer
    );
    assert!(router(&r.answer, "10.213.2.1").is_none(), "{}", r.answer);
}
