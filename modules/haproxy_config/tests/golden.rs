//! Rendered configs for the shapes users run, compared with reviewed golden files and
//! accepted by the real `haproxy -c` (when installed; CI requires it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use haproxy_config::{render, HaproxyConfig};
use kubeha_runtime::testing::{
    assert_accepted, assert_has, control_plane, dual_stack_control_plane, golden, params, real_tool,
};
use serde_json::{json, Value};

fn check(name: &str, options: Value) -> String {
    let (_, text, path) = golden::<HaproxyConfig>(name, options, render);
    if let Some(haproxy) = real_tool("haproxy") {
        let out = std::process::Command::new(haproxy)
            .args(["-c", "-dW", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert_accepted(name, &out);
    }
    text
}

/// kubespray's node-local LB with its sample inventory's health port.
#[test]
fn kubespray_node_local() {
    let text = check(
        "kubespray-node-local.cfg",
        json!({"backends": control_plane(), "healthcheck_port": 8081}),
    );
    assert_has(
        &text,
        &[
            "    bind 127.0.0.1:6443\n",
            "    bind *:8081\n    mode http\n    monitor-uri /healthz\n",
            "default-server inter 15s downinter 15s rise 2 fall 2 slowstart 60s maxconn 1000 maxqueue 256 weight 100",
            "    server cp2 10.199.0.12:6443 check check-ssl verify none\n",
            "timeout client 5m\n",
        ],
    );
}

/// Dual-stack binds must be valid haproxy syntax (kubespray #12793 shipped a stray `;`).
#[test]
fn kubespray_dual_stack() {
    let text = check(
        "kubespray-dual-stack.cfg",
        json!({
            "bind_addresses": ["127.0.0.1", "::1"],
            "backends": dual_stack_control_plane(),
            "healthcheck_port": 8081,
            "healthcheck_bind_address": "127.0.0.1",
        }),
    );
    assert_has(
        &text,
        &[
            "    bind [::1]:6443\n",
            "    server cp2 [fd00:199::12]:6443 check",
        ],
    );
    assert!(!text.contains(';'));
}

/// The seeds' VIP-fronted LB: 8443 on all addresses, round robin, fast checks, a stats page.
#[test]
fn seed_vip_fronted_with_stats() {
    let text = check(
        "seed-vip-fronted.cfg",
        json!({
            "bind_addresses": ["0.0.0.0"],
            "frontend_port": "8443",
            "balance": "roundrobin",
            "check_inter": "2s",
            "check_downinter": "1s",
            "check_rise": 2,
            "check_fall": 2,
            "check_slowstart": "0s",
            "backends": control_plane(),
            "stats_port": 9000,
            "stats_user": "admin",
            "stats_password": "s3cret-Pass",
            "stats_socket": "/run/haproxy/admin.sock",
            "log_target": "/dev/log local0",
        }),
    );
    assert_has(
        &text,
        &[
            "    bind 0.0.0.0:8443\n",
            "    balance roundrobin\n",
            "    stats auth admin:s3cret-Pass\n",
            "    log global\n    option tcplog\n",
        ],
    );
}

/// Plain TCP checks, and no checks at all.
#[test]
fn tcp_and_no_checks() {
    let text = check(
        "tcp-check.cfg",
        json!({"backends": control_plane(), "health_check": "tcp", "balance": "source"}),
    );
    assert!(text.contains("    server cp1 10.199.0.11:6443 check\n"));
    assert!(!text.contains("httpchk"));
    let p = params::<HaproxyConfig>(json!({"backends": control_plane(), "health_check": "none"}))
        .unwrap();
    assert!(render(&p)
        .unwrap()
        .contains("    server cp1 10.199.0.11:6443\n"));
}
