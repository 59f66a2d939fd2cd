//! The binary as Ansible runs it: the contract every module writing a file keeps
//! (`kubeha_runtime::testing::contract`), for nginx.conf, and what is nginx_proxy_config's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::{Change, FileModule, Subject, Validator};
use kubeha_runtime::testing::{real_tool, tree, Binary};
use serde_json::json;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nginx_proxy_config");

/// `validate` is off unless nginx is installed (CI requires it). The pid and log paths are ones
/// `nginx -t` would create: the module must keep it away from them (it checks a twin).
fn nginx() -> FileModule {
    FileModule {
        subject: Subject {
            binary: Binary::new(BIN),
            task: |root| {
                json!({
                    "dest": root.join("etc/nginx/nginx.conf"),
                    "backends": [
                        {"name": "cp1", "address": "10.199.0.11"},
                        {"name": "cp2", "address": "10.199.0.12"},
                    ],
                    "healthcheck_port": 8081,
                    "pid_file": root.join("run/nginx/nginx.pid"),
                    "error_log": root.join("log/nginx/error.log"),
                    "stream_access_log": root.join("log/nginx/access.log"),
                    "validate": has_nginx(),
                })
            },
            shows: ("frontend_port", json!(6443)),
            changes: true,
        },
        dest: "etc/nginx/nginx.conf",
        dir_mode: 0o700, // kubespray's nginx_config_dir mode
        content: "server 10.199.0.12:6443 max_fails=1 fail_timeout=10s;  # cp2",
        reports: json!({}),
        change: Change {
            options: json!({"proxy_timeout": "30m"}),
            before: "proxy_timeout 10m;",
            after: &["proxy_timeout 30m;"],
        },
        bad: vec![
            (json!({"frontend_port": "x"}), "option 'frontend_port'"),
            (
                json!({"bind_addresses": ["1.2.3"]}),
                "option 'bind_addresses' must list IP addresses",
            ),
            (
                json!({"backends": []}),
                "option 'backends' must list at least one server",
            ),
        ],
        secret: None,
        // A user missing on this host: only nginx can know; the message points at dest's line.
        validator: Some(Validator {
            tool: "nginx",
            rejected: json!({"user": "no-such-user-kubeha"}),
            says: &[
                " -t ",
                "no-such-user-kubeha",
                "hint: option 'user'",
                "in {dest}:",
            ],
            output_says: "no-such-user-kubeha",
        }),
    }
}

fn has_nginx() -> bool {
    real_tool("nginx").is_some()
}

kubeha_runtime::module_tests! {
    module: nginx_proxy_config::NginxProxyConfig,
    fuzz: fuzz::Check {
        seed: 0x6e67_696e,
        base: |sandbox| json!({"dest": sandbox.join("nginx.conf"), "validate": false,
            "backends": [{"name": "cp1", "address": "10.0.0.1"}, {"address": "10.0.0.2", "port": 8443}],
            "healthcheck_port": 8081}),
        fixed: fuzz::nothing,
    },
    file: nginx(),
    also: [backup, validator],
}

/// A backend name nginx cannot resolve fails validation clearly. Run in a private network
/// namespace (root only) so the failed lookup sends nothing anywhere.
#[test]
fn unresolvable_backend_name_fails_clearly() {
    if !has_nginx() || !unshare_works() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = nginx();
    let task = m.task(
        dir.path(),
        json!({"backends": [{"name": "cp1", "address": "cp1.kubeha.invalid"}]}),
    );
    let r = Binary::new(BIN).behind(["unshare", "--net"]).run(&task);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.msg()
            .contains("host not found in upstream \"cp1.kubeha.invalid:6443\""),
        "{}",
        r.msg()
    );
    assert!(
        r.msg().contains("hint: nginx resolves upstream host names"),
        "{}",
        r.msg()
    );
    assert!(tree(dir.path()).is_empty());
}

fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["--net", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A config without load_module (for an nginx with the stream module built in) still
/// validates on a host whose nginx loads it dynamically.
#[test]
fn built_in_stream_module_config_validates_here() {
    if !has_nginx() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = nginx().write(dir.path(), json!({"stream_module_path": ""}));
    assert!(!text.contains("load_module"));
}

#[test]
fn missing_module_file_gets_a_hint() {
    if !has_nginx() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = nginx().run(
        dir.path(),
        json!({"stream_module_path": "/nonexistent/ngx_stream_module.so"}),
    );
    assert_eq!(r.code, 1);
    assert!(r.msg().contains("dlopen()"), "{}", r.msg());
    assert!(r.msg().contains("libnginx-mod-stream"), "{}", r.msg());
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let text = nginx().write(
        dir.path(),
        json!({
            "frontend_port": "8443",
            "backup": "yes",
            "stub_status": "no",
            "bind_addresses": "127.0.0.1, ::1",
            "worker_processes": 4,
        }),
    );
    assert!(text.contains("listen 127.0.0.1:8443;\n        listen [::1]:8443;"));
    assert!(text.contains("worker_processes 4;"));
    assert!(!text.contains("stub_status"));
}
