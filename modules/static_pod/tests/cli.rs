//! The binary as Ansible runs it: the contract every module writing a file keeps
//! (`kubeha_runtime::testing::contract`), for a manifest, and what is static_pod's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::{Change, FileModule, Subject};
use kubeha_runtime::testing::{tree, Binary};
use serde_json::{json, Value};
use std::path::Path;

const SUM_A: &str = "1111111111111111111111111111111111111111";

fn pod() -> FileModule {
    FileModule {
        subject: Subject {
            binary: Binary::new(env!("CARGO_BIN_EXE_static_pod")),
            task: |root| {
                json!({
                    "preset": "haproxy",
                    "manifest_dir": root.join("manifests"),
                    "config_checksum": SUM_A,
                    "healthcheck_port": 8081,
                })
            },
            shows: ("healthcheck_port", json!(8081)),
            changes: true,
        },
        dest: "manifests/haproxy.yml",
        dir_mode: 0o755,
        content: "haproxy-cfg-checksum: \"1111111111111111111111111111111111111111\"",
        reports: json!({"name": "haproxy"}),
        // A config change changes the manifest: what makes the kubelet recreate the pod.
        change: Change {
            options: json!({"config_checksum": "2222222222222222222222222222222222222222"}),
            before: SUM_A,
            after: &["haproxy-cfg-checksum: \"2222222222222222222222222222222222222222\""],
        },
        bad: vec![
            (
                json!({"healthcheck_port": "http"}),
                "option 'healthcheck_port' (in static_pod module) expects an integer",
            ),
            (
                json!({"config_checksum": "nope"}),
                "option 'config_checksum' must be a hex digest",
            ),
            (
                json!({"labels": {"tier": "a b"}}),
                "option 'labels': the value of 'tier'",
            ),
        ],
        secret: None,
        validator: None,
    }
}

kubeha_runtime::module_tests! {
    module: static_pod::StaticPod,
    fuzz: fuzz::Check {
        seed: 0x706f_6473,
        base: |sandbox| json!({"preset": "haproxy", "manifest_dir": sandbox.join("manifests"),
            "config_checksum": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "healthcheck_port": 8081, "labels": {"tier": "lb"}}),
        fixed: fuzz::nothing,
    },
    file: pod(),
    also: [],
}

fn run(root: &Path, extra: Value) -> kubeha_runtime::testing::Run {
    pod().run(root, extra)
}

#[test]
fn absent_removes_the_manifest_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    run(dir.path(), json!({})).ok();
    // The other variant's pod: removing it leaves this one alone.
    let other = run(
        dir.path(),
        json!({"preset": "nginx-proxy", "state": "absent"}),
    );
    assert!(!other.changed(), "{}", other.stdout);
    assert_eq!(tree(&manifests), ["haproxy.yml"]);

    let before = std::fs::read(manifests.join("haproxy.yml")).unwrap();
    let r = run(
        dir.path(),
        json!({"state": "absent", "_ansible_check_mode": true}),
    );
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(
        std::fs::read(manifests.join("haproxy.yml")).unwrap(),
        before
    );

    let r = run(
        dir.path(),
        json!({"state": "absent", "_ansible_diff": true}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.answer["diff"][0]["after_header"], json!("(absent)"));
    assert!(tree(&manifests).is_empty(), "no file and no backup left");
    let again = run(dir.path(), json!({"state": "absent"}));
    assert!(!again.changed());
}

#[test]
fn replaces_removes_the_other_pod_first() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    run(dir.path(), json!({"preset": "nginx-proxy"})).ok();
    assert_eq!(tree(&manifests), ["nginx-proxy.yml"]);
    let switch = json!({"replaces": ["nginx-proxy.yml"], "_ansible_diff": true});

    // Check mode: both changes reported and diffed, nothing touched.
    let mut check = switch.clone();
    check["_ansible_check_mode"] = json!(true);
    let r = run(dir.path(), check);
    assert!(r.changed(), "{}", r.stdout);
    let removed = manifests.join("nginx-proxy.yml");
    assert_eq!(r.answer["removed"], json!([removed]));
    assert_eq!(r.answer["diff"][0]["before_header"], json!(removed));
    assert_eq!(r.answer["diff"][0]["after_header"], json!("(absent)"));
    assert_eq!(
        r.answer["diff"][1]["after_header"],
        json!(manifests.join("haproxy.yml"))
    );
    assert_eq!(tree(&manifests), ["nginx-proxy.yml"]);

    let r = run(dir.path(), switch.clone());
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.answer["removed"], json!([removed]));
    assert_eq!(r.answer["dest"], json!(manifests.join("haproxy.yml")));
    assert_eq!(
        tree(&manifests),
        ["haproxy.yml"],
        "no backup of the removed pod"
    );

    let again = run(dir.path(), switch);
    assert!(!again.changed(), "{}", again.stdout);
    assert_eq!(again.answer["removed"], json!([]));
}

#[test]
fn adhoc_strings_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        json!({"preset": "nginx-proxy", "config_checksum": null, "healthcheck_port": "8081"});
    run(dir.path(), options).ok();
    let text = std::fs::read_to_string(dir.path().join("manifests/nginx-proxy.yml")).unwrap();
    assert!(text.contains("        port: 8081\n"), "{text}");
}
