//! Bad input fails with a message naming the option and what was expected, and the derived
//! values follow the documented rules. The host's addresses are a fake list.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use keepalived_config::{render, KeepalivedConfig};
use kubeha_runtime::testing::{assert_refusals, merge, params, refusal};
use serde_json::{json, Value};

/// This host: lo, eth0 (IPv4 and IPv6) and eth1.
fn host() -> Vec<keepalived_config::HostAddr> {
    common::host(&[
        ("lo", "127.0.0.1/8"),
        ("eth0", "192.168.2.11/24"),
        ("eth0", "fd00:2::11/64"),
        ("eth1", "10.0.0.11/16"),
    ])
}

fn rendered(options: Value) -> Result<String, String> {
    let p = params::<KeepalivedConfig>(options).map_err(|e| e.msg)?;
    render(&p, &host()).map_err(|e| e.msg)
}

fn error(options: Value) -> String {
    refusal::<KeepalivedConfig, _>(&options, |p| render(p, &host()))
}

fn base() -> Value {
    json!({"vips": ["192.168.2.88/24"], "peers": ["lb1", "lb2", "lb3"], "this_host": "lb1"})
}

fn with(key: &str, value: Value) -> Value {
    let mut v = base();
    v[key] = value;
    v
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (json!({"colour": "red"}), "Unsupported parameters for (keepalived_config): colour. Supported parameters include: advert_int, auth_pass, backup,"),
        (json!({"priority": "high"}), "option 'priority' (in keepalived_config) expects an integer: got string 'high'"),
        (json!({"unicast": "perhaps"}), "option 'unicast' (in keepalived_config) expects a boolean"),
        (json!({"vips": ["192.168.2.300/24"]}), "option 'vips[0]' must be an IP address with an optional prefix length such as 192.168.2.88/24 or fd00::88/64; got '192.168.2.300/24' (not an IP address)"),
        (json!({"vips": ["192.168.2.88/33"]}), "option 'vips[0]' must be an IP address with an optional prefix length such as 192.168.2.88/24 or fd00::88/64; got '192.168.2.88/33' (the prefix length must be 0-32)"),
        (json!({"vips": []}), "option 'vips' is required: the virtual IP(s) of instance VI_1"),
        (json!({"vips": ["192.168.2.88/24", "192.168.2.88/32"]}), "option 'vips' lists 192.168.2.88 twice"),
        (json!({"vips": ["172.16.0.5/24"]}), "no interface of this host has an address in the same subnet as the VIP 172.16.0.5 (instance VI_1); this host has: lo 127.0.0.1/8, eth0 192.168.2.11/24, eth1 10.0.0.11/16. Set 'interface'"),
        (json!({"virtual_router_id": 0}), "option 'virtual_router_id' must be between 1 and 255, got 0"),
        (json!({"virtual_router_id": 256}), "option 'virtual_router_id' must be between 1 and 255, got 256"),
        (json!({"priority": 300}), "option 'priority' must be between 1 and 255, got 300"),
        (json!({"state": "PRIMARY"}), "option 'state' (in keepalived_config) must be one of: MASTER, BACKUP; got: PRIMARY"),
        (json!({"vrrp_version": 4}), "option 'vrrp_version' (in keepalived_config) must be one of: 2, 3; got: 4"),
        (json!({"advert_int": 0.2}), "option 'advert_int' is 0.2, but VRRP version 2 advertises in whole seconds (keepalived would round it); set vrrp_version: 3"),
        (json!({"advert_int": 0}), "option 'advert_int' must be between 1 and 255 seconds with VRRP version 2, got 0"),
        (json!({"interface": "eth0 up"}), "option 'interface' must be a non-empty name"),
        (json!({"interface": "averyveryverylongname0"}), "option 'interface' must be an interface name (at most 15 characters)"),
        (json!({"this_host": "lb9"}), "option 'this_host' ('lb9') is not in 'peers' (lb1, lb2, lb3)"),
        (json!({"peers": ["lb1", "lb1"]}), "option 'peers' lists 'lb1' twice"),
        (json!({"priority_step": 0}), "option 'priority_step' must be between 1 and 254, got 0"),
        (json!({"preempt_delay": 2000}), "option 'preempt_delay' must be between 0 and 1000 seconds, got 2000"),
        (json!({"garp_master_delay": -1}), "option 'garp_master_delay' must be between 0 and 255, got -1"),
        (json!({"track_scripts": ["chk_x"]}), "option 'track_scripts' names 'chk_x', which is not one of the scripts (none are defined)"),
        (json!({"unicast_peers": ["192.168.2.12"]}), "option 'unicast_peers' is set but unicast is off; set unicast: true"),
        (json!({"unicast": true}), "option 'this_host' must be this host's IP address for unicast VRRP, got 'lb1'; set 'unicast_src_ip' when 'this_host' is a name"),
        (json!({"notify_master": "/bin/echo \"hi\""}), "option 'notify_master' contains '\"', which cannot be written inside keepalived's quoted command"),
        (json!({"router_id": "lb 1"}), "option 'router_id' contains ' ', which cannot be written to the config"),
        (json!({"instances": []}), "option 'instances' must list at least one instance"),
        (json!({"scripts": [{"name": "chk", "script": "/bin/true", "interval": 1.5}]}), "option 'interval' (in scripts[0]) expects an integer: got number 1.5"),
        (json!({"scripts": [{"name": "chk", "script": "/bin/true", "weight": -300}]}), "option 'scripts[0].weight' must be between -253 and 253, got -300"),
        (json!({"scripts": [{"name": "chk", "script": "/bin/true"}, {"name": "chk", "script": "/bin/false"}]}), "option 'scripts': the name 'chk' is used twice"),
        (json!({"scripts": [{"name": "chk"}]}), "missing required arguments: script (in scripts[0])"),
    ];
    assert_refusals(|o| error(o.clone()), &base(), &cases);
}

#[test]
fn instance_options_are_named_with_their_path() {
    let mut v = base();
    v["instances"] = json!([{"vips": ["192.168.2.88/24"]}, {"vips": ["192.168.2.89/24"], "virtual_router_id": 999}]);
    assert!(error(v)
        .contains("option 'instances[1].virtual_router_id' must be between 1 and 255, got 999"));
    let mut v = base();
    v["instances"] = json!([{"vips": ["192.168.2.88/24"], "bogus": 1}]);
    assert!(error(v).contains("Unsupported parameters for (instances[0]): bogus"));
    let mut v = base();
    v["instances"] = json!([{"vips": ["192.168.2.88/24"]}, {"vips": ["192.168.2.88/32"]}]);
    assert!(error(v).contains("the VIP 192.168.2.88 is in instances VI_1 and VI_2"));
    let mut v = base();
    v["instances"] = json!([{"name": "api", "vips": ["192.168.2.88/24"]}, {"name": "api", "vips": ["192.168.2.89/24"]}]);
    assert!(error(v).contains("two instances are named 'api'"));
}

#[test]
fn auth_pass_longer_than_8_is_refused_without_echoing_it() {
    let msg = error(with("auth_pass", json!("k8s-vip-secret")));
    assert_eq!(
        msg,
        "option 'auth_pass' is 14 characters long, but VRRP PASS authentication carries 8 and keepalived would silently drop the rest; give a password of at most 8 characters"
    );
    for bad in ["pass word", "pa#ss", "pa!ss", "pässe"] {
        let msg = error(with("auth_pass", json!(bad)));
        assert!(msg.starts_with("option 'auth_pass'"), "{msg}");
        assert!(!msg.contains(bad), "{msg}");
    }
}

#[test]
fn version_3_and_ipv6_have_no_authentication() {
    let mut v = with("auth_pass", json!("secret"));
    v["vrrp_version"] = json!(3);
    assert!(error(v).contains("runs VRRP version 3, which has no authentication"));
    let mut v = with("vips", json!(["fd00:2::88/64"]));
    v["auth_pass"] = json!("secret");
    assert!(error(v).contains("runs VRRP version 3 (IPv6), which has no authentication"));
    let mut v = with("vips", json!(["fd00:2::88/64"]));
    v["vrrp_version"] = json!(2);
    assert!(error(v).contains("VRRP over IPv6 is version 3 only"));
}

#[test]
fn nopreempt_needs_backup() {
    let mut v = with("nopreempt", json!(true));
    v["state"] = json!("MASTER");
    assert!(error(v).contains("option 'state' is MASTER, but nopreempt and preempt_delay only work when every host starts as BACKUP"));
    let mut v = with("nopreempt", json!(true));
    v["preempt_delay"] = json!(10);
    assert!(error(v).contains("exclude each other"));
    // Derived: the first peer starts as BACKUP and still has the highest priority.
    let text = rendered(with("nopreempt", json!(true))).unwrap();
    assert!(text.contains("    state BACKUP\n") && text.contains("    priority 150\n"));
    assert!(text.contains("    nopreempt\n"));
}

#[test]
fn roles_follow_position_and_explicit_values_win() {
    let role = |extra: Value| {
        let mut v = base();
        merge(&mut v, &extra);
        let text = rendered(v).unwrap();
        let state = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("state "))
            .unwrap()
            .to_owned();
        let prio = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("priority "))
            .unwrap()
            .to_owned();
        format!("{state} {prio}")
    };
    assert_eq!(role(json!({})), "MASTER 150");
    assert_eq!(role(json!({"this_host": "lb2"})), "BACKUP 140");
    assert_eq!(role(json!({"this_host": "lb3"})), "BACKUP 130");
    assert_eq!(
        role(json!({"this_host": "lb3", "priority_base": 120, "priority_step": 5})),
        "BACKUP 110"
    );
    assert_eq!(
        role(json!({"this_host": "lb3", "priority": 200})),
        "BACKUP 200"
    );
    assert_eq!(
        role(json!({"this_host": "lb3", "state": "MASTER"})),
        "MASTER 130"
    );
    // Without peers: state and/or priority given per host (host_vars).
    assert_eq!(
        role(json!({"peers": null, "state": "MASTER"})),
        "MASTER 150"
    );
    assert_eq!(
        role(json!({"peers": null, "state": "BACKUP"})),
        "BACKUP 140"
    );
    assert_eq!(role(json!({"peers": null, "priority": 99})), "BACKUP 99");
    let msg = error(with("peers", Value::Null));
    assert!(
        msg.contains("needs this host's VRRP role: give 'peers'"),
        "{msg}"
    );
    let mut v = with("this_host", Value::Null);
    v["peers"] = json!(["a"]);
    assert!(error(v).contains("option 'this_host' is required with 'peers'"));
    let mut v = with("priority_step", json!(100));
    v["this_host"] = json!("lb3");
    assert!(error(v).contains("which gives priority 150 - 2 × 100 < 1"));
    // Addresses compare by value.
    let mut v = with("peers", json!(["fd00::1", "fd00::2"]));
    v["this_host"] = json!("fd00:0::2");
    assert!(rendered(v).unwrap().contains("    state BACKUP\n"));
}

#[test]
fn interface_is_detected_per_instance() {
    let mut v = base();
    v["instances"] = json!([
        {"vips": ["192.168.2.88/24"]},
        {"vips": ["10.0.200.1/16"]},
        {"vips": ["fd00:2::88/64"]},
        {"vips": ["172.16.0.1/24"], "interface": "eth7"},
    ]);
    let text = rendered(v).unwrap();
    let interfaces: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("interface "))
        .collect();
    assert_eq!(interfaces, ["eth0", "eth1", "eth0", "eth7"]);
}

#[test]
fn router_ids_are_derived_per_vip_and_collisions_refused() {
    let text = rendered(base()).unwrap();
    assert!(text.contains("    virtual_router_id 33\n"), "{text}");
    let text = rendered(with("cluster_name", json!("prod"))).unwrap();
    assert!(
        !text.contains("    virtual_router_id 33\n"),
        "another cluster, another id"
    );
    let mut v = base();
    v["virtual_router_id"] = json!(51);
    v["instances"] = json!([{"vips": ["192.168.2.88/24"]}, {"vips": ["192.168.2.89/24"]}]);
    assert!(error(v).contains(
        "instances VI_1 and VI_2 both use virtual_router_id 51 on eth0 (IPv4); keepalived refuses that"
    ));
    // The same id on another family is fine.
    let mut v = base();
    v["virtual_router_id"] = json!(51);
    v["instances"] = json!([{"vips": ["192.168.2.88/24"]}, {"vips": ["fd00:2::88/64"]}]);
    assert!(rendered(v).is_ok());
}

#[test]
fn unicast_peers_come_from_the_peer_list() {
    let mut v = with(
        "peers",
        json!(["192.168.2.11", "192.168.2.12", "192.168.2.13"]),
    );
    v["this_host"] = json!("192.168.2.12");
    v["unicast"] = json!(true);
    let text = rendered(v.clone()).unwrap();
    assert!(text.contains(
        "    unicast_src_ip 192.168.2.12\n    unicast_peer {\n        192.168.2.11\n        192.168.2.13\n    }\n"
    ));
    let mut names = v.clone();
    names["peers"] = json!(["lb1", "lb2"]);
    names["this_host"] = json!("lb1");
    names["unicast_src_ip"] = json!("192.168.2.11");
    assert!(error(names).contains("option 'peers[1]' must be an IP address for unicast VRRP"));
    let mut explicit = v.clone();
    explicit["unicast_peers"] = json!(["192.168.2.20"]);
    assert!(rendered(explicit)
        .unwrap()
        .contains("    unicast_peer {\n        192.168.2.20\n    }\n"));
    let mut v6 = v.clone();
    v6["unicast_peers"] = json!(["fd00:2::12"]);
    assert!(error(v6).contains(
        "option 'unicast_peers[0]' is an IPv6 address, but instance VI_1 runs VRRP over IPv4"
    ));
    let mut alone = v;
    alone["peers"] = json!(["192.168.2.12"]);
    assert!(error(alone).contains("leaves no other host to send adverts to"));
}

#[test]
fn a_single_vip_string_is_accepted_like_k8s_lb_vip() {
    let text = rendered(with("vips", json!("192.168.2.88/24"))).unwrap();
    assert!(text.contains("        192.168.2.88/24 dev eth0\n"));
    let text = rendered(with("vips", json!("192.168.2.88"))).unwrap();
    assert!(text.contains("        192.168.2.88/32 dev eth0\n"));
}

#[test]
fn scripts_are_tracked_by_every_instance_unless_chosen() {
    let mut v = base();
    v["scripts"] = json!([
        {"name": "chk_haproxy", "script": "/usr/bin/killall -0 haproxy", "weight": -30},
        {"name": "chk_api", "script": "/usr/bin/curl -sfk https://127.0.0.1:6443/healthz"},
    ]);
    v["instances"] = json!([
        {"vips": ["192.168.2.88/24"]},
        {"vips": ["192.168.2.89/24"], "track_scripts": ["chk_api"]},
        {"vips": ["192.168.2.90/24"], "track_scripts": []},
    ]);
    let text = rendered(v).unwrap();
    assert_eq!(text.matches("        chk_haproxy\n").count(), 1);
    assert_eq!(text.matches("        chk_api\n").count(), 2);
    assert_eq!(text.matches("    track_script {\n").count(), 2);
}
