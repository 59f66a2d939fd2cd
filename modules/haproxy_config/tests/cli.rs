//! The binary as Ansible runs it: the contract every module writing a file keeps
//! (`kubeha_runtime::testing::contract`), for haproxy.cfg, and what is haproxy_config's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::{Change, FileModule, Secret, Subject, Validator};
use kubeha_runtime::testing::{real_tool, Binary};
use serde_json::json;

const PASSWORD: &str = "Sup3r-Secret-Stats";

/// `validate` is off unless haproxy is installed (CI requires it).
fn haproxy() -> FileModule {
    FileModule {
        subject: Subject {
            binary: Binary::new(env!("CARGO_BIN_EXE_haproxy_config")),
            task: |root| {
                json!({
                    "dest": root.join("haproxy/haproxy.cfg"),
                    "backends": [
                        {"name": "cp1", "address": "10.199.0.11"},
                        {"name": "cp2", "address": "10.199.0.12"},
                    ],
                    "stats_port": 9000,
                    "stats_user": "admin",
                    "stats_password": PASSWORD,
                    "validate": real_tool("haproxy").is_some(),
                })
            },
            shows: ("frontend_port", json!(6443)),
            changes: true,
        },
        dest: "haproxy/haproxy.cfg",
        dir_mode: 0o755,
        content: "server cp2 10.199.0.12:6443",
        reports: json!({}),
        change: Change {
            options: json!({"balance": "roundrobin"}),
            before: "balance leastconn",
            after: &["balance roundrobin"],
        },
        bad: vec![
            (json!({"frontend_port": "x"}), "option 'frontend_port'"),
            (
                json!({"bind_addresses": ["1.2.3"]}),
                "option 'bind_addresses' must be an IP address",
            ),
            (
                json!({"backends": []}),
                "option 'backends' must list at least one server",
            ),
        ],
        secret: Some(Secret {
            option: "stats_password",
            value: PASSWORD,
            shown_as: "admin:********",
            tries: vec![
                json!({}),
                json!({"_ansible_check_mode": true, "balance": "source"}),
                json!({"log_target": "127.0.0.1 nofacility"}),
                json!({"stats_user": "ad min"}),
            ],
        }),
        // Passes the module's own checks; haproxy itself rejects the facility.
        validator: Some(Validator {
            tool: "haproxy",
            rejected: json!({"log_target": "127.0.0.1 nofacility"}),
            says: &["-c -f", "nofacility"],
            output_says: "nofacility",
        }),
    }
}

kubeha_runtime::module_tests! {
    module: haproxy_config::HaproxyConfig,
    fuzz: fuzz::Check {
        seed: 0x4a50_7278,
        base: |sandbox| json!({"dest": sandbox.join("haproxy.cfg"), "validate": false,
            "backends": [{"name": "cp1", "address": "10.0.0.1"}, {"name": "cp2", "address": "cp2.example"}],
            "stats_port": 9000, "stats_user": "admin", "stats_password": "pw"}),
        fixed: fuzz::nothing,
    },
    file: haproxy(),
    also: [backup, secret, validator],
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"frontend_port": "8443", "backup": "yes", "bind_addresses": "0.0.0.0"});
    assert!(haproxy()
        .write(dir.path(), options)
        .contains("bind 0.0.0.0:8443"));
}
