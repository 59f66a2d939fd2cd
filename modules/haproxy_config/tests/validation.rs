//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use haproxy_config::{render, HaproxyConfig};
use kubeha_runtime::testing::{assert_refusals, merge, refusal};
use serde_json::{json, Value};

fn error(options: &Value) -> String {
    refusal::<HaproxyConfig, _>(options, render)
}

fn base() -> Value {
    json!({"backends": [{"name": "cp1", "address": "10.0.0.1"}]})
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (json!({"frontend_port": 0}), "option 'frontend_port' must be a port (1-65535), got 0"),
        (json!({"frontend_port": "https"}), "option 'frontend_port' (in haproxy_config) expects an integer: got string 'https'"),
        (json!({"bind_addresses": ["10.0.0.256"]}), "option 'bind_addresses' must be an IP address or '*', got '10.0.0.256'"),
        (json!({"bind_addresses": []}), "option 'bind_addresses' must list at least one address"),
        (json!({"backends": []}), "option 'backends' must list at least one server"),
        (json!({"backends": [{"name": "cp 1", "address": "10.0.0.1"}]}), "option 'backends[0].name' must be a non-empty name"),
        (json!({"backends": [{"name": "cp1", "address": "not an address"}]}), "option 'backends[0].address' must be an IP address or a DNS name, got 'not an address'"),
        (json!({"backends": [{"name": "a", "address": "h1"}, {"name": "a", "address": "h2"}]}), "the name 'a' is used twice"),
        (json!({"backends": [{"name": "a"}]}), "missing required arguments: address (in backends[0])"),
        (json!({"check_inter": "fast"}), "option 'check_inter' must be a duration like 30s"),
        (json!({"balance": "random"}), "option 'balance' (in haproxy_config) must be one of: leastconn, roundrobin, source; got: random"),
        (json!({"healthcheck_port": 6443}), "options 'frontend_port' and 'healthcheck_port' are both 6443"),
        (json!({"stats_user": "admin"}), "options 'stats_user' and 'stats_password' must be given together"),
        (json!({"server_weight": 300}), "option 'server_weight' must be between 0 and 256"),
        (json!({"health_check_path": "healthz"}), "option 'health_check_path' must be a path starting with '/'"),
        (json!({"stats_user": "admin", "stats_password": "pw"}), "need 'stats_port'"),
        (json!({"colour": "red"}), "Unsupported parameters for (haproxy_config): colour. Supported parameters include: backend_port, backends, backup,"),
    ];
    assert_refusals(error, &base(), &cases);
}

#[test]
fn password_with_space_is_rejected_without_echoing_it() {
    let mut v = base();
    merge(
        &mut v,
        &json!({"stats_port": 9000, "stats_user": "admin", "stats_password": "my secret"}),
    );
    let msg = error(&v);
    assert!(
        msg.contains("option 'stats_password' contains a character"),
        "{msg}"
    );
    assert!(!msg.contains("my secret"));
}
