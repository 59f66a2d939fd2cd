//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use haproxy_config::{render, HaproxyConfig};
use kubeha_runtime::testing::params;
use serde_json::{json, Value};

fn error(options: Value) -> String {
    match params::<HaproxyConfig>(options) {
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
        (with("frontend_port", json!("https")), "option 'frontend_port' (in haproxy_config) expects an integer: got string 'https'"),
        (with("bind_addresses", json!(["10.0.0.256"])), "option 'bind_addresses' must be an IP address or '*', got '10.0.0.256'"),
        (with("bind_addresses", json!([])), "option 'bind_addresses' must list at least one address"),
        (with("backends", json!([])), "option 'backends' must list at least one server"),
        (with("backends", json!([{"name": "cp 1", "address": "10.0.0.1"}])), "option 'backends[0].name' must be a non-empty name"),
        (with("backends", json!([{"name": "cp1", "address": "not an address"}])), "option 'backends[0].address' must be an IP address or a DNS name, got 'not an address'"),
        (with("backends", json!([{"name": "a", "address": "h1"}, {"name": "a", "address": "h2"}])), "the name 'a' is used twice"),
        (with("backends", json!([{"name": "a"}])), "missing required arguments: address (in backends[0])"),
        (with("check_inter", json!("fast")), "option 'check_inter' must be a duration like 30s"),
        (with("balance", json!("random")), "option 'balance' (in haproxy_config) must be one of: leastconn, roundrobin, source; got: random"),
        (with("healthcheck_port", json!(6443)), "options 'frontend_port' and 'healthcheck_port' are both 6443"),
        (with("stats_user", json!("admin")), "options 'stats_user' and 'stats_password' must be given together"),
        (with("server_weight", json!(300)), "option 'server_weight' must be between 0 and 256"),
        (with("health_check_path", json!("healthz")), "option 'health_check_path' must be a path starting with '/'"),
        (with("colour", json!("red")), "Unsupported parameters for (haproxy_config): colour. Supported parameters include: backend_port, backends, backup,"),
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
fn password_with_space_is_rejected_without_echoing_it() {
    let mut v = with("stats_port", json!(9000));
    v["stats_user"] = json!("admin");
    v["stats_password"] = json!("my secret");
    let msg = error(v);
    assert!(
        msg.contains("option 'stats_password' contains a character"),
        "{msg}"
    );
    assert!(!msg.contains("my secret"));
}

#[test]
fn stats_credentials_need_a_stats_port() {
    let mut v = base();
    v["stats_user"] = json!("admin");
    v["stats_password"] = json!("pw");
    assert!(error(v).contains("need 'stats_port'"));
}
