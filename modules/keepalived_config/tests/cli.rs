//! Black-box tests of the binary as Ansible runs it: `keepalived_config <args file>`, one JSON
//! object on stdout, exit 0/1. Runs that validate with the real keepalived happen on a sandbox
//! host (a private network namespace whose eth0 has 198.51.100.2/24 and 2001:db8:5::2/64), so
//! interface detection and `keepalived -t` see a known host.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Sandbox;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_keepalived_config");
/// Refused: keepalived would read the '#' as the start of a comment.
const PASSWORD: &str = "Vr9-pw#x";
const SAFE_PASSWORD: &str = "Vr9pw_k8";
const CHECK: &str = "/etc/keepalived/check_lb.sh";

struct Run {
    answer: Value,
    stdout: String,
    code: i32,
}

fn sandbox() -> Sandbox {
    Sandbox::new()
        .link("eth0", &["198.51.100.2/24", "2001:db8:5::2/64"])
        .stub(CHECK)
}

/// Whether the real keepalived can be used in a sandbox here (always in CI).
fn real() -> bool {
    kubeha_runtime::testing::real_tool("keepalived").is_some() && Sandbox::available()
}

fn run_in(sandbox: Option<&Sandbox>, dir: &Path, args: Value) -> Run {
    let args_file = dir.join("args");
    fs::write(&args_file, args.to_string()).unwrap();
    let out = match sandbox {
        Some(s) => s.command(&[Path::new(BIN), &args_file]).output().unwrap(),
        None => Command::new(BIN).arg(&args_file).output().unwrap(),
    };
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "exactly one line on stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with('{'));
    Run {
        answer: serde_json::from_str(&stdout).unwrap(),
        stdout,
        code: out.status.code().unwrap(),
    }
}

/// On the sandbox host with validation when possible; else directly, without validation.
fn run(dir: &Path, mut args: Value) -> Run {
    if real() {
        run_in(Some(&sandbox()), dir, args)
    } else {
        args["validate"] = json!(false);
        if args.get("interface").is_none() {
            args["interface"] = json!("eth0");
        }
        run_in(None, dir, args)
    }
}

/// The seed-like task plus the keys ansible-core 2.19 sends.
fn task(dest: &Path, extra: Value) -> Value {
    let mut args = json!({
        "dest": dest,
        "vips": "198.51.100.100/24",
        "peers": ["lb1", "lb2"],
        "this_host": "lb1",
        "auth_pass": SAFE_PASSWORD,
        "scripts": [{"name": "chk_lb", "script": CHECK, "weight": -30}],
        "_ansible_check_mode": false,
        "_ansible_diff": false,
        "_ansible_no_log": false,
        "_ansible_verbosity": 4,
        "_ansible_version": "2.19.14",
        "_ansible_module_name": "keepalived_config",
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

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_then_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived/keepalived.conf");
    let first = run(dir.path(), task(&dest, json!({})));
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(first.answer["changed"], json!(true));
    assert_eq!(first.answer["checksum"], json!(sha1_of(&dest)));
    assert_eq!(first.answer["mode"], json!("0640"));
    assert_eq!(
        fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert_eq!(
        fs::metadata(dest.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    assert_eq!(
        first.answer["instances"],
        json!([{"name": "VI_1", "state": "MASTER", "priority": 150, "virtual_router_id": 148,
                "interface": "eth0", "vips": ["198.51.100.100"], "unicast_peers": []}])
    );
    let second = run(dir.path(), task(&dest, json!({})));
    assert_eq!(second.answer["changed"], json!(false), "{}", second.stdout);
    assert_eq!(second.answer["checksum"], first.answer["checksum"]);
}

#[test]
fn interface_is_detected_on_the_real_host_too() {
    // No sandbox: this machine's loopback holds 127.0.0.0/8. (keepalived cannot run VRRP on
    // lo, so no validation.)
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run_in(
        None,
        dir.path(),
        task(&dest, json!({"vips": ["127.0.0.88/8"], "validate": false})),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.answer["instances"][0]["interface"], json!("lo"));
    assert!(fs::read_to_string(&dest)
        .unwrap()
        .contains("        127.0.0.88/8 dev lo\n"));
}

#[test]
fn check_mode_changes_nothing_and_reports_changed() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run(
        dir.path(),
        task(&dest, json!({"_ansible_check_mode": true})),
    );
    assert_eq!(r.answer["changed"], json!(true), "{}", r.stdout);
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
        .contains("198.51.100.100/24 dev eth0"));
    assert_eq!(
        files_in(dir.path()),
        ["args", "keepalived.conf"],
        "no temp files left"
    );
}

#[test]
fn diff_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run(dir.path(), task(&dest, json!({})));
    assert!(r.answer.get("diff").is_none());
    let r = run(
        dir.path(),
        task(&dest, json!({"_ansible_diff": true, "this_host": "lb2"})),
    );
    let diff = &r.answer["diff"][0];
    assert!(diff["before"]
        .as_str()
        .unwrap()
        .contains("    state MASTER\n"));
    assert!(diff["after"]
        .as_str()
        .unwrap()
        .contains("    state BACKUP\n"));
    assert!(diff["after"]
        .as_str()
        .unwrap()
        .contains("    priority 140\n"));
    assert_eq!(diff["after_header"], json!(dest.to_str().unwrap()));
}

#[test]
fn auth_pass_never_appears_in_output() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    // '#' would start a comment: refused without repeating the password.
    let r = run(
        dir.path(),
        task(&dest, json!({"_ansible_diff": true, "auth_pass": PASSWORD})),
    );
    assert_eq!(r.code, 1);
    assert!(
        !r.stdout.contains(PASSWORD),
        "password leaked: {}",
        r.stdout
    );
    assert!(r.answer["msg"]
        .as_str()
        .unwrap()
        .contains("option 'auth_pass' contains a character"));

    for extra in [
        json!({"_ansible_diff": true, "auth_pass": SAFE_PASSWORD}),
        json!({"_ansible_diff": true, "auth_pass": SAFE_PASSWORD, "_ansible_check_mode": true, "this_host": "lb2"}),
        json!({"_ansible_diff": true, "auth_pass": SAFE_PASSWORD, "interface": "eth9"}),
        json!({"_ansible_diff": true, "auth_pass": SAFE_PASSWORD, "vips": ["203.0.113.9/24"]}),
        json!({"_ansible_diff": true, "auth_pass": format!("{SAFE_PASSWORD}{SAFE_PASSWORD}")}),
    ] {
        let r = run(dir.path(), task(&dest, extra));
        assert!(
            !r.stdout.contains(SAFE_PASSWORD),
            "password leaked: {}",
            r.stdout
        );
    }
    // The file itself does carry it: keepalived needs it.
    assert!(fs::read_to_string(&dest).unwrap().contains(SAFE_PASSWORD));
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"_ansible_diff": true, "auth_pass": SAFE_PASSWORD, "advert_int": 2}),
        ),
    );
    assert_eq!(
        r.answer["invocation"]["module_args"]["auth_pass"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    );
    assert!(r.answer["diff"][0]["after"]
        .as_str()
        .unwrap()
        .contains("auth_pass ********"));
}

#[test]
fn keepalived_rejection_keeps_the_old_file() {
    if !real() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let ok = run(dir.path(), task(&dest, json!({"auth_pass": SAFE_PASSWORD})));
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let before = fs::read(&dest).unwrap();
    // Passes the module's own checks; the host has no eth9, which keepalived rejects.
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "interface": "eth9"}),
        ),
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.answer["failed"], json!(true));
    assert_eq!(r.answer["changed"], json!(false));
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.contains("rejected by `") && msg.contains(" -t -e -f "),
        "{msg}"
    );
    assert!(msg.contains("exit status 5"), "{msg}");
    assert!(
        msg.contains("interface eth9"),
        "keepalived's own words are shown: {msg}"
    );
    assert!(r.answer["validate_output"]
        .as_str()
        .unwrap()
        .contains("eth9"));
    assert_eq!(fs::read(&dest).unwrap(), before, "old file byte-identical");
    assert_eq!(
        files_in(dir.path()),
        ["args", "keepalived.conf"],
        "no temp files left"
    );
    // Check mode reports the rejection too, still without touching anything.
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "interface": "eth9", "_ansible_check_mode": true}),
        ),
    );
    assert_eq!(r.answer["failed"], json!(true));
    assert_eq!(fs::read(&dest).unwrap(), before);
}

#[test]
fn ipv6_and_dual_stack_pass_the_real_keepalived() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({
                "auth_pass": null,
                "instances": [
                    {"vips": ["198.51.100.100/24", "2001:db8:5::100/64"]},
                    {"vips": ["2001:db8:5::200/64"], "advert_int": 0.5},
                ],
            }),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let text = fs::read_to_string(&dest).unwrap();
    assert!(
        text.contains("    virtual_ipaddress_excluded {\n        2001:db8:5::100/64 dev eth0\n")
    );
    assert_eq!(r.answer["instances"][1]["interface"], json!("eth0"));
}

#[test]
fn scripts_as_a_non_root_user_are_validated_despite_keepalived_2_2_7() {
    if !real() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "script_user": "nobody"}),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(fs::read_to_string(&dest)
        .unwrap()
        .contains("    script_user nobody\n"));
    // A real error is still caught through the stand-in config.
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "script_user": "nobody", "interface": "eth9"}),
        ),
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.answer["msg"].as_str().unwrap().contains("interface eth9"),
        "{}",
        r.stdout
    );
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "script_user": "no-such-user-x"}),
        ),
    );
    assert_eq!(r.code, 1);
    assert!(r.answer["msg"]
        .as_str()
        .unwrap()
        .contains("option 'script_user': there is no user 'no-such-user-x'"));
}

#[test]
fn missing_or_unusable_scripts_fail_clearly() {
    if !real() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let script = dir.path().join("check.sh");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "notify_master": format!("{} master", script.display())}),
        ),
    );
    assert_eq!(r.code, 1);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "option 'notify_master': {} does not exist on this host",
            script.display()
        )),
        "{msg}"
    );
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"auth_pass": SAFE_PASSWORD, "scripts": [{"name": "c", "script": script}]}),
        ),
    );
    assert!(
        r.answer["msg"]
            .as_str()
            .unwrap()
            .contains("option 'scripts[0].script'")
            && r.answer["msg"]
                .as_str()
                .unwrap()
                .contains("is not an executable file"),
        "{}",
        r.stdout
    );
    assert!(!dest.exists());
}

#[test]
fn missing_keepalived_is_a_clear_failure_unless_validation_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run_in(
        None,
        dir.path(),
        task(
            &dest,
            json!({"interface": "eth0", "keepalived_path": "no-such-keepalived", "auth_pass": SAFE_PASSWORD}),
        ),
    );
    assert_eq!(r.code, 1);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(msg.contains("'no-such-keepalived' was not found"), "{msg}");
    assert!(msg.contains("validate: false"), "{msg}");
    assert!(!dest.exists());
}

#[test]
fn bad_input_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    fs::write(&dest, "valid old config\n").unwrap();
    for (extra, expect) in [
        (
            json!({"colour": "red"}),
            "Unsupported parameters for (keepalived_config module): colour",
        ),
        (
            json!({"priority": "x"}),
            "option 'priority' (in keepalived_config module) expects an integer",
        ),
        (
            json!({"peers": {"a": 1}}),
            "option 'peers' (in keepalived_config module) expects a list",
        ),
        (
            json!({"vips": ["198.51.100.300/24"]}),
            "option 'vips[0]' must be an IP address",
        ),
        (
            json!({"virtual_router_id": 0}),
            "option 'virtual_router_id' must be between 1 and 255, got 0",
        ),
        (
            json!({"virtual_router_id": 256}),
            "option 'virtual_router_id' must be between 1 and 255, got 256",
        ),
        (
            json!({"vips": ["203.0.113.9/24"]}),
            "same subnet as the VIP 203.0.113.9 (instance VI_1)",
        ),
        (
            json!({"auth_pass": "123456789"}),
            "option 'auth_pass' is 9 characters long",
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
    let dest = dir.path().join("keepalived.conf");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"colour": "red", "auth_pass": SAFE_PASSWORD, "_ansible_ignore_unknown_opts": true}),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.answer["warnings"][0],
        json!("option 'colour' is not supported by keepalived_config and was ignored")
    );
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({
                "auth_pass": SAFE_PASSWORD,
                "advert_int": "2",
                "virtual_router_id": "68",
                "peers": "198.51.100.2, 198.51.100.3",
                "this_host": "198.51.100.2",
                "unicast": "yes",
                "backup": "true",
            }),
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let text = fs::read_to_string(&dest).unwrap();
    assert!(
        text.contains("    virtual_router_id 68\n    priority 150\n    advert_int 2\n"),
        "{text}"
    );
    assert!(text.contains(
        "    unicast_src_ip 198.51.100.2\n    unicast_peer {\n        198.51.100.3\n    }\n"
    ));
}

#[test]
fn invocation_follows_inject_flag_and_no_ansible_keys_leak() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("keepalived.conf");
    let r = run(
        dir.path(),
        task(
            &dest,
            json!({"_ansible_inject_invocation": false, "auth_pass": SAFE_PASSWORD}),
        ),
    );
    assert!(r.answer.get("invocation").is_none());
    let r = run(dir.path(), task(&dest, json!({"auth_pass": SAFE_PASSWORD})));
    assert_eq!(
        r.answer["invocation"]["module_args"]["priority_base"],
        json!(150)
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
    let dest = dir.path().join("keepalived.conf");
    fs::write(&dest, "old\n").unwrap();
    let r = run(
        dir.path(),
        task(&dest, json!({"backup": true, "auth_pass": SAFE_PASSWORD})),
    );
    let backup = r.answer["backup_file"].as_str().unwrap();
    assert_eq!(fs::read_to_string(backup).unwrap(), "old\n");
}
