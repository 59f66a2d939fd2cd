//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::{assert_refusals, refusal};
use nginx_proxy_config::{render, NginxProxyConfig};
use serde_json::{json, Value};

fn error(options: &Value) -> String {
    refusal::<NginxProxyConfig, _>(options, render)
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (json!({"frontend_port": 0}), "option 'frontend_port' must be a port (1-65535), got 0"),
        (json!({"frontend_port": "https"}), "option 'frontend_port' (in nginx_proxy_config) expects an integer: got string 'https'"),
        (json!({"backend_port": 65536}), "option 'backend_port' must be a port (1-65535), got 65536"),
        (json!({"bind_addresses": ["10.0.0.256"]}), "option 'bind_addresses' must list IP addresses or '*', got '10.0.0.256'"),
        (json!({"bind_addresses": ["localhost"]}), "option 'bind_addresses' must list IP addresses or '*', got 'localhost'"),
        (json!({"bind_addresses": []}), "option 'bind_addresses' must list at least one address"),
        (json!({"bind_addresses": ["::1", "::1"]}), "option 'bind_addresses' lists ::1 twice"),
        (json!({"backends": []}), "option 'backends' must list at least one server"),
        (json!({"backends": ""}), "option 'backends' must list at least one server"),
        (json!({"backends": [{"name": "cp 1", "address": "10.0.0.1"}]}), "option 'backends[0].name' must be a non-empty name"),
        (json!({"backends": [{"address": "not an address"}]}), "option 'backends[0].address' must be an IP address or a DNS name, got 'not an address'"),
        (json!({"backends": [{"address": "10.0.0.1;"}]}), "option 'backends[0].address' must be an IP address or a DNS name"),
        (json!({"backends": [{"address": "10.0.0.1", "port": 0}]}), "option 'backends[0].port' must be a port (1-65535), got 0"),
        (json!({"backends": [{"address": "h1"}, {"address": "h1"}]}), "option 'backends': h1:6443 is listed twice"),
        (json!({"backends": [{"name": "a", "address": "h1"}, {"name": "a", "address": "h2"}]}), "the name 'a' is used twice"),
        (json!({"backends": [{"name": "a"}]}), "missing required arguments: address (in backends[0])"),
        (json!({"backends": [{"address": "h1", "weight": 5}]}), "Unsupported parameters for (backends[0]): weight"),
        (json!({"backends": 7}), "option 'backends[0]' (in nginx_proxy_config) expects a dictionary"),
        (json!({"fail_timeout": "soon"}), "option 'fail_timeout' must be a duration like 30s"),
        (json!({"proxy_timeout": "10 m"}), "option 'proxy_timeout' must be a duration like 30s"),
        (json!({"max_fails": -1}), "option 'max_fails' must be between 0 and 1000, got -1"),
        (json!({"worker_connections": 0}), "option 'worker_connections' must be between 1 and 1048576, got 0"),
        (json!({"worker_processes": "many"}), "option 'worker_processes' must be 'auto' or a number from 1 to 1024, got 'many'"),
        (json!({"worker_processes": 0}), "option 'worker_processes' must be 'auto' or a number from 1 to 1024, got '0'"),
        (json!({"balance": "leastconn"}), "option 'balance' (in nginx_proxy_config) must be one of: least_conn, round_robin, random, hash; got: leastconn"),
        (json!({"healthcheck_port": 6443}), "options 'frontend_port' and 'healthcheck_port' are both 6443"),
        (json!({"healthcheck_port": 70000}), "option 'healthcheck_port' must be a port (1-65535), got 70000"),
        (json!({"pid_file": "nginx.pid"}), "option 'pid_file' must be an absolute path"),
        (json!({"pid_file": "/run/nginx.pid; daemon off"}), "option 'pid_file' must be an absolute path without spaces"),
        (json!({"error_log": "syslog"}), "option 'error_log' must be 'stderr' or an absolute path, got 'syslog'"),
        (json!({"stream_access_log": "/var/log/$host.log"}), "option 'stream_access_log' must be an absolute path"),
        (json!({"stream_module_path": "mod.so;"}), "option 'stream_module_path' must be a path without spaces"),
        (json!({"user": "www-data;"}), "option 'user' must be a user name"),
        (json!({"error_log_level": "verbose"}), "option 'error_log_level' (in nginx_proxy_config) must be one of: debug, info"),
        (json!({"stub_status": "maybe"}), "option 'stub_status' (in nginx_proxy_config) expects a boolean"),
        (json!({"colour": "red"}), "Unsupported parameters for (nginx_proxy_config): colour. Supported parameters include: backend_port, backends, backup,"),
    ];
    let base = json!({"backends": [{"name": "cp1", "address": "10.0.0.1"}]});
    assert_refusals(error, &base, &cases);
}

#[test]
fn health_server_needs_an_address() {
    let base =
        json!({"backends": [{"name": "cp1", "address": "10.0.0.1"}], "healthcheck_port": 8081});
    assert_refusals(
        error,
        &base,
        &[
            (
                json!({"healthcheck_bind_addresses": []}),
                "option 'healthcheck_bind_addresses' must list at least one address",
            ),
            (
                json!({"healthcheck_bind_addresses": ["0.0.0.0:80"]}),
                "option 'healthcheck_bind_addresses' must list IP addresses or '*'",
            ),
        ],
    );
}
