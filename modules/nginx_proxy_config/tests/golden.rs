//! Rendered configs for the shapes users run, compared with reviewed golden files and
//! accepted by the real `nginx -t` (when installed; CI requires it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::{
    assert_has, control_plane, dual_stack_control_plane, golden, params, real_tool,
};
use nginx_proxy_config::{check_config, render, NginxProxyConfig, Params};
use serde_json::{json, Value};

fn check(name: &str, options: Value) -> String {
    let (p, text, _) = golden::<NginxProxyConfig>(name, options, render);
    nginx_accepts(&p);
    text
}

/// `nginx -t` (on a twin, as the module runs it) accepts the config, when nginx is installed.
fn nginx_accepts(p: &Params) {
    if real_tool("nginx").is_some() {
        if let Err(e) = check_config(p) {
            panic!("nginx rejects the config:\n{}", e.msg);
        }
    }
}

/// kubespray's node-local proxy with its sample inventory's health port, nginx from Debian.
#[test]
fn kubespray_node_local() {
    let text = check(
        "kubespray-node-local.conf",
        json!({"backends": control_plane(), "healthcheck_port": 8081}),
    );
    assert_has(
        &text,
        &[
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n",
            "        least_conn;\n",
            "        server 10.199.0.12:6443 max_fails=1 fail_timeout=10s;  # cp2\n",
            "        listen 127.0.0.1:6443;\n        proxy_pass kube_apiserver;\n",
            "        proxy_timeout 10m;\n        proxy_connect_timeout 1s;\n",
            "        listen *:8081;\n",
            "location = /healthz {\n            return 200 \"ok\\n\";",
            "location = /stub_status {\n            stub_status;",
            "error_log stderr notice;\n",
            "pid /run/nginx.pid;\n",
        ],
    );
    assert!(!text.contains("access_log /"), "no access log by default");
    assert!(
        !text.contains("daemon"),
        "the image runs nginx -g 'daemon off;'"
    );
}

/// Dual-stack: IPv6 listeners and upstreams in brackets, the health server on both families.
#[test]
fn kubespray_dual_stack() {
    let text = check(
        "kubespray-dual-stack.conf",
        json!({
            "bind_addresses": ["127.0.0.1", "::1"],
            "backends": dual_stack_control_plane(),
            "healthcheck_port": 8081,
            "healthcheck_bind_addresses": ["*", "::"],
        }),
    );
    assert_has(
        &text,
        &[
            "        listen 127.0.0.1:6443;\n        listen [::1]:6443;\n",
            "        server [fd00:199::12]:6443 max_fails=1",
            "        listen *:8081;\n        listen [::]:8081;\n",
        ],
    );
}

/// The config the nginx-proxy static pod mounts: the official image has the stream module
/// built in, so no load_module line (the check loads Debian's module with -g instead).
#[test]
fn static_pod_image() {
    let text = check(
        "static-pod-image.conf",
        json!({
            "stream_module_path": "",
            "worker_processes": "auto",
            "backends": control_plane(),
            "healthcheck_port": "8081",
            "healthcheck_bind_addresses": ["127.0.0.1"],
            "stream_access_log": "/dev/stdout",
        }),
    );
    assert!(!text.contains("load_module"));
    assert_has(
        &text,
        &[
            "worker_processes auto;\n",
            "    access_log /dev/stdout kube_apiserver;\n",
            "        listen 127.0.0.1:8081;\n",
        ],
    );
}

/// nginx as a Debian service: its user, a log file, round robin with stricter failure
/// accounting, no health server.
#[test]
fn os_service() {
    let text = check(
        "os-service.conf",
        json!({
            "backends": control_plane(),
            "backend_port": 6443,
            "frontend_port": 8443,
            "bind_addresses": ["0.0.0.0"],
            "balance": "round_robin",
            "max_fails": 3,
            "fail_timeout": "30s",
            "proxy_connect_timeout": "2s",
            "user": "www-data",
            "error_log": "/var/log/nginx/error.log",
            "error_log_level": "warn",
            "stream_access_log": "/var/log/nginx/kube-apiserver.log",
            "worker_connections": 1024,
        }),
    );
    assert_has(
        &text,
        &[
            "user www-data;\n",
            "error_log /var/log/nginx/error.log warn;\n",
        ],
    );
    assert!(!text.contains("least_conn"));
    assert!(text.contains("max_fails=3 fail_timeout=30s;"));
    assert!(!text.contains("http {"), "no health port, no http block");
}

/// Other balance methods render as nginx spells them.
#[test]
fn balance_methods() {
    for (balance, line) in [
        ("random", "        random;\n"),
        ("hash", "        hash $remote_addr consistent;\n"),
    ] {
        let p =
            params::<NginxProxyConfig>(json!({"backends": control_plane(), "balance": balance}))
                .unwrap();
        let text = render(&p).unwrap();
        assert!(text.contains(line), "{balance}: {text}");
        nginx_accepts(&p);
    }
}

/// Host names resolvable on the host (here through /etc/hosts, no DNS traffic) pass nginx -t.
#[test]
fn resolvable_host_names_pass() {
    let p = params::<NginxProxyConfig>(json!({
        "backends": [{"name": "local", "address": "localhost", "port": 16443}],
    }))
    .unwrap();
    assert!(render(&p).unwrap().contains("server localhost:16443 "));
    nginx_accepts(&p);
}
