//! Black-box tests of the binary as Ansible runs it: `static_pod <args file>`, one JSON object
//! on stdout, exit 0/1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_static_pod");
const SUM_A: &str = "1111111111111111111111111111111111111111";
const SUM_B: &str = "2222222222222222222222222222222222222222";

struct Run {
    answer: Value,
    stdout: String,
    code: i32,
}

/// Runs the binary on `args` from a file outside `manifests`, so the directory holds only what
/// the module writes.
fn run(dir: &Path, args: Value) -> Run {
    let args_file = dir.join("args");
    fs::write(&args_file, args.to_string()).unwrap();
    let out = Command::new(BIN).arg(&args_file).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout}");
    assert!(stdout.starts_with('{'));
    Run {
        answer: serde_json::from_str(&stdout).unwrap(),
        stdout,
        code: out.status.code().unwrap(),
    }
}

/// Options plus some of the keys ansible-core 2.19 sends.
fn task(manifests: &Path, extra: Value) -> Value {
    let mut args = json!({
        "preset": "haproxy",
        "manifest_dir": manifests,
        "config_checksum": SUM_A,
        "healthcheck_port": 8081,
        "_ansible_check_mode": false,
        "_ansible_diff": false,
        "_ansible_no_log": false,
        "_ansible_verbosity": 4,
        "_ansible_version": "2.19.14",
        "_ansible_module_name": "static_pod",
        "_ansible_tmpdir": null,
        "_ansible_remote_tmp": "~/.ansible/tmp",
        "_ansible_ignore_unknown_opts": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    args
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn writes_then_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    let dest = manifests.join("haproxy.yml");
    let first = run(dir.path(), task(&manifests, json!({})));
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(first.answer["changed"], json!(true));
    assert_eq!(first.answer["dest"], json!(dest.to_str().unwrap()));
    assert_eq!(first.answer["name"], json!("haproxy"));
    let content = fs::read(&dest).unwrap();
    assert_eq!(
        first.answer["checksum"],
        json!(kubeha_runtime::file::sha1_hex(&content))
    );
    assert_eq!(
        fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert_eq!(listing(&manifests), ["haproxy.yml"], "no temp files left");

    let second = run(dir.path(), task(&manifests, json!({})));
    assert_eq!(second.code, 0);
    assert_eq!(second.answer["changed"], json!(false), "{}", second.stdout);
    assert_eq!(fs::read(&dest).unwrap(), content);
}

#[test]
fn a_config_change_changes_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    run(dir.path(), task(&manifests, json!({})));
    let r = run(
        dir.path(),
        task(
            &manifests,
            json!({"config_checksum": SUM_B, "_ansible_diff": true}),
        ),
    );
    assert_eq!(r.answer["changed"], json!(true));
    let diff = &r.answer["diff"][0];
    assert!(diff["before"].as_str().unwrap().contains(SUM_A));
    assert!(diff["after"]
        .as_str()
        .unwrap()
        .contains(&format!("haproxy-cfg-checksum: \"{SUM_B}\"")));
    assert!(fs::read_to_string(manifests.join("haproxy.yml"))
        .unwrap()
        .contains(SUM_B));
}

#[test]
fn check_mode_changes_nothing_and_reports_changed() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    let r = run(
        dir.path(),
        task(&manifests, json!({"_ansible_check_mode": true})),
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.answer["changed"], json!(true));
    assert!(!manifests.exists(), "check mode must not create anything");

    run(dir.path(), task(&manifests, json!({})));
    let before = fs::read(manifests.join("haproxy.yml")).unwrap();
    let r = run(
        dir.path(),
        task(
            &manifests,
            json!({"_ansible_check_mode": true, "_ansible_diff": true, "config_checksum": SUM_B}),
        ),
    );
    assert_eq!(r.answer["changed"], json!(true));
    assert!(r.answer["diff"][0]["after"]
        .as_str()
        .unwrap()
        .contains(SUM_B));
    assert_eq!(fs::read(manifests.join("haproxy.yml")).unwrap(), before);

    let r = run(
        dir.path(),
        task(
            &manifests,
            json!({"_ansible_check_mode": true, "state": "absent"}),
        ),
    );
    assert_eq!(r.answer["changed"], json!(true));
    assert_eq!(fs::read(manifests.join("haproxy.yml")).unwrap(), before);
}

#[test]
fn absent_removes_the_manifest_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    run(dir.path(), task(&manifests, json!({})));
    // The other variant's pod: removing it leaves this one alone.
    let other = run(
        dir.path(),
        json!({"preset": "nginx-proxy", "state": "absent", "manifest_dir": manifests}),
    );
    assert_eq!(other.answer["changed"], json!(false), "{}", other.stdout);
    assert_eq!(listing(&manifests), ["haproxy.yml"]);

    let r = run(
        dir.path(),
        task(
            &manifests,
            json!({"state": "absent", "_ansible_diff": true}),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.answer["changed"], json!(true));
    assert_eq!(r.answer["diff"][0]["after_header"], json!("(absent)"));
    assert!(listing(&manifests).is_empty(), "no file and no backup left");
    let again = run(dir.path(), task(&manifests, json!({"state": "absent"})));
    assert_eq!(again.answer["changed"], json!(false));
}

#[test]
fn replaces_removes_the_other_pod_first() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    let nginx =
        json!({"preset": "nginx-proxy", "manifest_dir": manifests, "config_checksum": SUM_A});
    run(dir.path(), nginx);
    assert_eq!(listing(&manifests), ["nginx-proxy.yml"]);
    let switch = json!({"replaces": ["nginx-proxy.yml"], "_ansible_diff": true});

    // Check mode: both changes reported and diffed, nothing touched.
    let mut check = switch.clone();
    check["_ansible_check_mode"] = json!(true);
    let r = run(dir.path(), task(&manifests, check));
    assert_eq!(r.answer["changed"], json!(true), "{}", r.stdout);
    let removed = manifests.join("nginx-proxy.yml");
    assert_eq!(r.answer["removed"], json!([removed]));
    assert_eq!(r.answer["diff"][0]["before_header"], json!(removed));
    assert_eq!(r.answer["diff"][0]["after_header"], json!("(absent)"));
    assert_eq!(
        r.answer["diff"][1]["after_header"],
        json!(manifests.join("haproxy.yml"))
    );
    assert_eq!(listing(&manifests), ["nginx-proxy.yml"]);

    let r = run(dir.path(), task(&manifests, switch.clone()));
    assert_eq!(r.answer["changed"], json!(true), "{}", r.stdout);
    assert_eq!(r.answer["removed"], json!([removed]));
    assert_eq!(r.answer["dest"], json!(manifests.join("haproxy.yml")));
    assert_eq!(
        listing(&manifests),
        ["haproxy.yml"],
        "no backup of the removed pod"
    );

    let again = run(dir.path(), task(&manifests, switch));
    assert_eq!(again.answer["changed"], json!(false), "{}", again.stdout);
    assert_eq!(again.answer["removed"], json!([]));
}

#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    run(dir.path(), task(&manifests, json!({})));
    let before = fs::read(manifests.join("haproxy.yml")).unwrap();
    for (extra, message) in [
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
        (
            json!({"colour": "red"}),
            "Unsupported parameters for (static_pod module): colour",
        ),
    ] {
        let r = run(dir.path(), task(&manifests, extra.clone()));
        assert_eq!(r.code, 1, "{extra}: {}", r.stdout);
        assert_eq!(r.answer["failed"], json!(true));
        assert_eq!(r.answer["changed"], json!(false));
        let msg = r.answer["msg"].as_str().unwrap();
        assert!(msg.contains(message), "{extra}: {msg}");
        assert_eq!(fs::read(manifests.join("haproxy.yml")).unwrap(), before);
        assert_eq!(listing(&manifests), ["haproxy.yml"]);
    }
}

#[test]
fn adhoc_strings_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    let r = run(
        dir.path(),
        json!({"preset": "nginx-proxy", "manifest_dir": manifests, "healthcheck_port": "8081"}),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let text = fs::read_to_string(manifests.join("nginx-proxy.yml")).unwrap();
    assert!(text.contains("        port: 8081\n"), "{text}");
}
