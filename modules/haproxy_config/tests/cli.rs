//! Black-box tests of the binary as Ansible runs it: `haproxy_config <args file>`, one JSON
//! object on stdout, exit 0/1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_haproxy_config");
const PASSWORD: &str = "Sup3r-Secret-Stats";

struct Run {
    answer: Value,
    stdout: String,
    code: i32,
}

fn run(dir: &Path, args: Value) -> Run {
    let args_file = dir.join("args");
    fs::write(&args_file, args.to_string()).unwrap();
    let out = Command::new(BIN).arg(&args_file).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "exactly one line on stdout: {stdout}"
    );
    assert!(stdout.starts_with('{'));
    Run {
        answer: serde_json::from_str(&stdout).unwrap(),
        stdout,
        code: out.status.code().unwrap(),
    }
}

/// Options plus the keys ansible-core 2.19 sends; `validate` off unless haproxy is installed.
fn task(dest: &Path, extra: Value) -> Value {
    let mut args = json!({
        "dest": dest,
        "backends": [
            {"name": "cp1", "address": "10.199.0.11"},
            {"name": "cp2", "address": "10.199.0.12"},
        ],
        "stats_port": 9000,
        "stats_user": "admin",
        "stats_password": PASSWORD,
        "validate": kubeha_runtime::testing::real_tool("haproxy").is_some(),
        "_ansible_check_mode": false,
        "_ansible_diff": false,
        "_ansible_no_log": false,
        "_ansible_verbosity": 4,
        "_ansible_version": "2.19.14",
        "_ansible_module_name": "haproxy_config",
        "_ansible_tmpdir": null,
        "_ansible_remote_tmp": "~/.ansible/tmp",
        "_ansible_keep_remote_files": false,
        "_ansible_debug": false,
        "_ansible_syslog_facility": "LOG_USER",
        "_ansible_selinux_special_fs": ["fuse", "nfs"],
        "_ansible_string_conversion_action": "warn",
        "_ansible_shell_executable": "/bin/sh",
        "_ansible_ignore_unknown_opts": false,
        "_ansible_target_log_info": null,
        "_ansible_tracked_changes": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    args
}

fn sha1_of(path: &Path) -> String {
    kubeha_runtime::file::sha1_hex(&fs::read(path).unwrap())
}

#[test]
fn writes_then_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy/haproxy.cfg");
    let first = run(dir.path(), task(&dest, json!({})));
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(first.answer["changed"], json!(true));
    assert_eq!(first.answer["checksum"], json!(sha1_of(&dest)));
    assert_eq!(first.answer["mode"], json!("0640"));
    assert_eq!(
        fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let second = run(dir.path(), task(&dest, json!({})));
    assert_eq!(second.answer["changed"], json!(false), "{}", second.stdout);
    assert_eq!(second.answer["checksum"], first.answer["checksum"]);
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn check_mode_changes_nothing_and_reports_changed() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let r = run(
        dir.path(),
        task(&dest, json!({"_ansible_check_mode": true})),
    );
    assert_eq!(r.answer["changed"], json!(true));
    assert!(!dest.exists(), "check mode must not create the file");

    fs::write(&dest, "old content\n").unwrap();
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"_ansible_check_mode": true, "_ansible_diff": true}),
        ),
    );
    assert_eq!(r.answer["changed"], json!(true));
    assert_eq!(fs::read_to_string(&dest).unwrap(), "old content\n");
    assert_eq!(
        fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let diff = &r.answer["diff"][0];
    assert_eq!(diff["before"], json!("old content\n"));
    assert!(diff["after"]
        .as_str()
        .unwrap()
        .contains("server cp2 10.199.0.12:6443"));
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temp files left"
    );
}

#[test]
fn diff_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let r = run(dir.path(), task(&dest, json!({})));
    assert!(r.answer.get("diff").is_none());
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"_ansible_diff": true, "balance": "roundrobin"}),
        ),
    );
    let diff = &r.answer["diff"][0];
    assert!(diff["before"]
        .as_str()
        .unwrap()
        .contains("balance leastconn"));
    assert!(diff["after"]
        .as_str()
        .unwrap()
        .contains("balance roundrobin"));
    assert_eq!(diff["after_header"], json!(dest.to_str().unwrap()));
}

#[test]
fn stats_password_never_appears_in_output() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    for extra in [
        json!({"_ansible_diff": true}),
        json!({"_ansible_diff": true, "_ansible_check_mode": true, "balance": "source"}),
        json!({"_ansible_diff": true, "log_target": "127.0.0.1 nofacility"}),
        json!({"_ansible_diff": true, "stats_user": "ad min"}),
    ] {
        let r = run(dir.path(), task(&dest, extra));
        assert!(
            !r.stdout.contains(PASSWORD),
            "password leaked: {}",
            r.stdout
        );
    }
    // The file itself does carry it: haproxy needs it.
    assert!(fs::read_to_string(&dest).unwrap().contains(PASSWORD));
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"_ansible_diff": true, "balance": "roundrobin"}),
        ),
    );
    assert_eq!(
        r.answer["invocation"]["module_args"]["stats_password"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    );
    assert!(r.answer["diff"][0]["after"]
        .as_str()
        .unwrap()
        .contains("admin:********"));
}

#[test]
fn haproxy_rejection_keeps_the_old_file() {
    if kubeha_runtime::testing::real_tool("haproxy").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    assert_eq!(run(dir.path(), task(&dest, json!({}))).code, 0);
    let before = fs::read(&dest).unwrap();
    // Passes the module's own checks; haproxy itself rejects the facility.
    let r = run(
        dir.path(),
        task(&dest, json!({"log_target": "127.0.0.1 nofacility"})),
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.answer["failed"], json!(true));
    assert_eq!(r.answer["changed"], json!(false));
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.contains("rejected by `") && msg.contains("-c -f"),
        "{msg}"
    );
    assert!(
        msg.contains("nofacility"),
        "haproxy's own words are shown: {msg}"
    );
    assert_eq!(fs::read(&dest).unwrap(), before, "old file byte-identical");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temp files left"
    );
    // Check mode reports the rejection too, still without touching anything.
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"log_target": "127.0.0.1 nofacility", "_ansible_check_mode": true}),
        ),
    );
    assert_eq!(r.answer["failed"], json!(true));
    assert_eq!(fs::read(&dest).unwrap(), before);
}

#[test]
fn missing_haproxy_is_a_clear_failure_unless_validation_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"validate": true, "haproxy_path": "no-such-haproxy"}),
        ),
    );
    assert_eq!(r.code, 1);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(msg.contains("'no-such-haproxy' was not found"), "{msg}");
    assert!(msg.contains("validate: false"), "{msg}");
    assert!(!dest.exists());
}

#[test]
fn bad_input_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    fs::write(&dest, "valid old config\n").unwrap();
    for (extra, expect) in [
        (
            json!({"colour": "red"}),
            "Unsupported parameters for (haproxy_config module): colour",
        ),
        (json!({"frontend_port": "x"}), "option 'frontend_port'"),
        (
            json!({"bind_addresses": ["1.2.3"]}),
            "option 'bind_addresses' must be an IP address",
        ),
        (
            json!({"backends": []}),
            "option 'backends' must list at least one server",
        ),
        (
            json!({"mode": "rw-r-----"}),
            "option 'mode': mode must be in octal or symbolic form",
        ),
        (
            json!({"owner": "no-such-user-x"}),
            "option 'owner': no user named 'no-such-user-x'",
        ),
    ] {
        let r = run(dir.path(), task(&dest, extra.clone()));
        assert_eq!(r.code, 1, "{extra}");
        assert_eq!(r.answer["failed"], json!(true));
        assert_eq!(r.answer["changed"], json!(false));
        let msg = r.answer["msg"].as_str().unwrap();
        assert!(msg.contains(expect), "for {extra}: {msg}");
        assert_eq!(fs::read_to_string(&dest).unwrap(), "valid old config\n");
    }
}

#[test]
fn unknown_options_ignored_when_ansible_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"colour": "red", "_ansible_ignore_unknown_opts": true}),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.answer["warnings"][0],
        json!("option 'colour' is not supported by haproxy_config and was ignored")
    );
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"frontend_port": "8443", "backup": "yes", "bind_addresses": "0.0.0.0"}),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(fs::read_to_string(&dest)
        .unwrap()
        .contains("bind 0.0.0.0:8443"));
}

#[test]
fn invocation_follows_inject_flag_and_no_ansible_keys_leak() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let r = run(
        dir.path(),
        task(&dest, json!({"_ansible_inject_invocation": false})),
    );
    assert!(r.answer.get("invocation").is_none());
    let r = run(dir.path(), task(&dest, json!({})));
    assert_eq!(
        r.answer["invocation"]["module_args"]["frontend_port"],
        json!(6443)
    );
    assert!(r
        .answer
        .as_object()
        .unwrap()
        .keys()
        .all(|k| !k.starts_with("_ansible")));
}

#[test]
fn backup_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    fs::write(&dest, "old\n").unwrap();
    let r = run(dir.path(), task(&dest, json!({"backup": true})));
    let backup = r.answer["backup_file"].as_str().unwrap();
    assert_eq!(fs::read_to_string(backup).unwrap(), "old\n");
}

#[test]
fn arguments_on_stdin_and_garbage_input() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(task(&dest, json!({})).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["changed"], json!(true));
    assert!(dest.exists());

    let args = dir.path().join("bad");
    fs::write(&args, "{not json").unwrap();
    let out = Command::new(BIN).arg(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(answer["msg"].as_str().unwrap().contains("not valid JSON"));
}
