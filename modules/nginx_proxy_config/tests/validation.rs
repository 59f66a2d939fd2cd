//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::params;
use nginx_proxy_config::{render, NginxProxyConfig};
use serde_json::{json, Value};

fn error(options: Value) -> String {
    match params::<NginxProxyConfig>(options) {
        Err(e) => e.msg,
        Ok(p) => render(&p).expect_err("should be rejected").msg,
    }
}

fn base() -> Value {
    json!({"backends": [{"name": "cp1", "address": "10.0.0.1"}]})
}

fn with(key: &str, value: Value) -> Value {
    let mut v = base();
    v[key] = value;
    v
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (with("frontend_port", json!(0)), "option 'frontend_port' must be a port (1-65535), got 0"),
        (with("frontend_port", json!("https")), "option 'frontend_port' (in nginx_proxy_config) expects an integer: got string 'https'"),
        (with("backend_port", json!(65536)), "option 'backend_port' must be a port (1-65535), got 65536"),
        (with("bind_addresses", json!(["10.0.0.256"])), "option 'bind_addresses' must list IP addresses or '*', got '10.0.0.256'"),
        (with("bind_addresses", json!(["localhost"])), "option 'bind_addresses' must list IP addresses or '*', got 'localhost'"),
        (with("bind_addresses", json!([])), "option 'bind_addresses' must list at least one address"),
        (with("bind_addresses", json!(["::1", "::1"])), "option 'bind_addresses' lists ::1 twice"),
        (with("backends", json!([])), "option 'backends' must list at least one server"),
        (with("backends", json!("")), "option 'backends' must list at least one server"),
        (with("backends", json!([{"name": "cp 1", "address": "10.0.0.1"}])), "option 'backends[0].name' must be a non-empty name"),
        (with("backends", json!([{"address": "not an address"}])), "option 'backends[0].address' must be an IP address or a DNS name, got 'not an address'"),
        (with("backends", json!([{"address": "10.0.0.1;"}])), "option 'backends[0].address' must be an IP address or a DNS name"),
        (with("backends", json!([{"address": "10.0.0.1", "port": 0}])), "option 'backends[0].port' must be a port (1-65535), got 0"),
        (with("backends", json!([{"address": "h1"}, {"address": "h1"}])), "option 'backends': h1:6443 is listed twice"),
        (with("backends", json!([{"name": "a", "address": "h1"}, {"name": "a", "address": "h2"}])), "the name 'a' is used twice"),
        (with("backends", json!([{"name": "a"}])), "missing required arguments: address (in backends[0])"),
        (with("backends", json!([{"address": "h1", "weight": 5}])), "Unsupported parameters for (backends[0]): weight"),
        (with("backends", json!(7)), "option 'backends[0]' (in nginx_proxy_config) expects a dictionary"),
        (with("fail_timeout", json!("soon")), "option 'fail_timeout' must be a duration like 30s"),
        (with("proxy_timeout", json!("10 m")), "option 'proxy_timeout' must be a duration like 30s"),
        (with("max_fails", json!(-1)), "option 'max_fails' must be between 0 and 1000, got -1"),
        (with("worker_connections", json!(0)), "option 'worker_connections' must be between 1 and 1048576, got 0"),
        (with("worker_processes", json!("many")), "option 'worker_processes' must be 'auto' or a number from 1 to 1024, got 'many'"),
        (with("worker_processes", json!(0)), "option 'worker_processes' must be 'auto' or a number from 1 to 1024, got '0'"),
        (with("balance", json!("leastconn")), "option 'balance' (in nginx_proxy_config) must be one of: least_conn, round_robin, random, hash; got: leastconn"),
        (with("healthcheck_port", json!(6443)), "options 'frontend_port' and 'healthcheck_port' are both 6443"),
        (with("healthcheck_port", json!(70000)), "option 'healthcheck_port' must be a port (1-65535), got 70000"),
        (with("pid_file", json!("nginx.pid")), "option 'pid_file' must be an absolute path"),
        (with("pid_file", json!("/run/nginx.pid; daemon off")), "option 'pid_file' must be an absolute path without spaces"),
        (with("error_log", json!("syslog")), "option 'error_log' must be 'stderr' or an absolute path, got 'syslog'"),
        (with("stream_access_log", json!("/var/log/$host.log")), "option 'stream_access_log' must be an absolute path"),
        (with("stream_module_path", json!("mod.so;")), "option 'stream_module_path' must be a path without spaces"),
        (with("user", json!("www-data;")), "option 'user' must be a user name"),
        (with("error_log_level", json!("verbose")), "option 'error_log_level' (in nginx_proxy_config) must be one of: debug, info"),
        (with("stub_status", json!("maybe")), "option 'stub_status' (in nginx_proxy_config) expects a boolean"),
        (with("colour", json!("red")), "Unsupported parameters for (nginx_proxy_config): colour. Supported parameters include: backend_port, backends, backup,"),
    ];
    for (options, expected) in cases {
        let msg = error(options.clone());
        assert!(
            msg.contains(expected),
            "for {options}:\n  got: {msg}\n  want: {expected}"
        );
    }
}

#[test]
fn health_server_needs_an_address() {
    let mut v = with("healthcheck_port", json!(8081));
    v["healthcheck_bind_addresses"] = json!([]);
    assert!(error(v).contains("option 'healthcheck_bind_addresses' must list at least one address"));
    let mut v = with("healthcheck_port", json!(8081));
    v["healthcheck_bind_addresses"] = json!(["0.0.0.0:80"]);
    assert!(error(v).contains("option 'healthcheck_bind_addresses' must list IP addresses or '*'"));
}
