//! Black-box tests of the binary as Ansible runs it: `nginx_proxy_config <args file>`, one JSON
//! object on stdout, exit 0/1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nginx_proxy_config");

struct Run {
    answer: Value,
    stdout: String,
    code: i32,
}

/// A test directory: `work/` for args and scratch (`TMPDIR`), `etc/` for the files.
struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        fs::create_dir_all(root.join("work/tmp")).unwrap();
        Sandbox { _dir: dir, root }
    }

    fn dest(&self) -> PathBuf {
        self.root.join("etc/nginx/nginx.conf")
    }

    fn run(&self, args: Value) -> Run {
        self.run_with(args, &[])
    }

    /// Runs the binary, optionally through a wrapper such as `unshare --net`.
    fn run_with(&self, args: Value, wrapper: &[&str]) -> Run {
        let args_file = self.root.join("work/args");
        fs::write(&args_file, args.to_string()).unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let out = cmd
            .arg(&args_file)
            .env("TMPDIR", self.root.join("work/tmp"))
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout}");
        assert!(stdout.starts_with('{'));
        assert_eq!(
            fs::read_dir(self.root.join("work/tmp")).unwrap().count(),
            0,
            "the nginx -t scratch directory is removed"
        );
        Run {
            answer: serde_json::from_str(&stdout).unwrap(),
            stdout,
            code: out.status.code().unwrap(),
        }
    }

    /// Options plus the keys ansible-core 2.19 sends; `validate` off unless nginx is installed.
    fn task(&self, extra: Value) -> Value {
        let mut args = json!({
            "dest": self.dest(),
            "backends": [
                {"name": "cp1", "address": "10.199.0.11"},
                {"name": "cp2", "address": "10.199.0.12"},
            ],
            "healthcheck_port": 8081,
            // Paths nginx -t would create: the module must keep it away from them.
            "pid_file": self.root.join("run/nginx/nginx.pid"),
            "error_log": self.root.join("log/nginx/error.log"),
            "stream_access_log": self.root.join("log/nginx/access.log"),
            "validate": has_nginx(),
            "_ansible_check_mode": false,
            "_ansible_diff": false,
            "_ansible_no_log": false,
            "_ansible_verbosity": 4,
            "_ansible_version": "2.19.14",
            "_ansible_module_name": "nginx_proxy_config",
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

    /// Everything under the sandbox except `work/`.
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.retain(|p| !p.starts_with("work"));
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.strip_prefix(root).unwrap().display().to_string());
        if path.is_dir() {
            walk(root, &path, out);
        }
    }
}

fn has_nginx() -> bool {
    kubeha_runtime::testing::real_tool("nginx").is_some()
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn sha1_of(path: &Path) -> String {
    kubeha_runtime::file::sha1_hex(&fs::read(path).unwrap())
}

#[test]
fn writes_then_is_idempotent() {
    let sb = Sandbox::new();
    let first = sb.run(sb.task(json!({})));
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(first.answer["changed"], json!(true));
    assert_eq!(first.answer["checksum"], json!(sha1_of(&sb.dest())));
    assert_eq!(first.answer["mode"], json!("0640"));
    assert_eq!(mode_of(&sb.dest()), 0o640);
    assert_eq!(
        mode_of(sb.dest().parent().unwrap()),
        0o700,
        "kubespray's nginx_config_dir mode"
    );
    // nginx -t checked a twin: the pid and log paths of the real config were never created.
    assert_eq!(sb.files(), ["etc", "etc/nginx", "etc/nginx/nginx.conf"]);

    let second = sb.run(sb.task(json!({})));
    assert_eq!(second.answer["changed"], json!(false), "{}", second.stdout);
    assert_eq!(second.answer["checksum"], first.answer["checksum"]);
    assert_eq!(second.answer["msg"], json!("nothing to change"));
}

#[test]
fn check_mode_changes_nothing_and_reports_changed() {
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({"_ansible_check_mode": true})));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.answer["changed"], json!(true));
    assert!(sb.files().is_empty(), "check mode created {:?}", sb.files());

    fs::create_dir_all(sb.dest().parent().unwrap()).unwrap();
    fs::write(sb.dest(), "old content\n").unwrap();
    fs::set_permissions(sb.dest(), fs::Permissions::from_mode(0o600)).unwrap();
    let r = sb.run(sb.task(json!({"_ansible_check_mode": true, "_ansible_diff": true})));
    assert_eq!(r.answer["changed"], json!(true));
    assert_eq!(fs::read_to_string(sb.dest()).unwrap(), "old content\n");
    assert_eq!(mode_of(&sb.dest()), 0o600);
    let diff = &r.answer["diff"][0];
    assert_eq!(diff["before"], json!("old content\n"));
    assert!(diff["after"]
        .as_str()
        .unwrap()
        .contains("server 10.199.0.12:6443 max_fails=1 fail_timeout=10s;  # cp2"));
    assert_eq!(sb.files(), ["etc", "etc/nginx", "etc/nginx/nginx.conf"]);
}

#[test]
fn diff_only_when_asked() {
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({})));
    assert!(r.answer.get("diff").is_none());
    let r = sb.run(sb.task(json!({"_ansible_diff": true, "balance": "round_robin"})));
    let diff = &r.answer["diff"][0];
    assert!(diff["before"]
        .as_str()
        .unwrap()
        .contains("        least_conn;\n"));
    assert!(!diff["after"].as_str().unwrap().contains("least_conn"));
    assert_eq!(diff["after_header"], json!(sb.dest().to_str().unwrap()));
}

#[test]
fn mode_change_alone_is_a_change() {
    let sb = Sandbox::new();
    assert_eq!(sb.run(sb.task(json!({}))).code, 0);
    let r = sb.run(sb.task(json!({"mode": "0600"})));
    assert_eq!(r.answer["changed"], json!(true), "{}", r.stdout);
    assert_eq!(mode_of(&sb.dest()), 0o600);
}

/// nginx rejects what the module cannot know is wrong (here: a user missing on this host);
/// the old file stays byte-identical, in real runs and in check mode.
#[test]
fn nginx_rejection_keeps_the_old_file() {
    if !has_nginx() {
        return;
    }
    let sb = Sandbox::new();
    assert_eq!(sb.run(sb.task(json!({}))).code, 0);
    let before = fs::read(sb.dest()).unwrap();
    for check_mode in [false, true] {
        let r = sb.run(
            sb.task(json!({"user": "no-such-user-kubeha", "_ansible_check_mode": check_mode})),
        );
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert_eq!(r.answer["failed"], json!(true));
        if !check_mode {
            assert_eq!(r.answer["changed"], json!(false));
        }
        let msg = r.answer["msg"].as_str().unwrap();
        assert!(
            msg.contains("rejected by `") && msg.contains(" -t "),
            "{msg}"
        );
        assert!(
            msg.contains("no-such-user-kubeha"),
            "nginx's own words: {msg}"
        );
        assert!(msg.contains("hint: option 'user'"), "{msg}");
        let dest = sb.dest().display().to_string();
        assert!(
            msg.contains(&format!("in {dest}:")),
            "points at dest's line: {msg}"
        );
        assert!(r.answer["validate_output"].is_string());
        assert_eq!(
            fs::read(sb.dest()).unwrap(),
            before,
            "old file byte-identical"
        );
        assert_eq!(sb.files(), ["etc", "etc/nginx", "etc/nginx/nginx.conf"]);
    }
}

/// A backend name nginx cannot resolve fails validation clearly. Run in a private network
/// namespace (root only) so the failed lookup sends nothing anywhere.
#[test]
fn unresolvable_backend_name_fails_clearly() {
    if !has_nginx() || !unshare_works() {
        return;
    }
    let sb = Sandbox::new();
    let r = sb.run_with(
        sb.task(json!({"backends": [{"name": "cp1", "address": "cp1.kubeha.invalid"}]})),
        &["unshare", "--net"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(
        msg.contains("host not found in upstream \"cp1.kubeha.invalid:6443\""),
        "{msg}"
    );
    assert!(
        msg.contains("hint: nginx resolves upstream host names"),
        "{msg}"
    );
    assert!(sb.files().is_empty());
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
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({"stream_module_path": ""})));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(!fs::read_to_string(sb.dest())
        .unwrap()
        .contains("load_module"));
}

#[test]
fn missing_module_file_gets_a_hint() {
    if !has_nginx() {
        return;
    }
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({"stream_module_path": "/nonexistent/ngx_stream_module.so"})));
    assert_eq!(r.code, 1);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(msg.contains("dlopen()"), "{msg}");
    assert!(msg.contains("libnginx-mod-stream"), "{msg}");
    assert!(sb.files().is_empty());
}

#[test]
fn missing_nginx_is_a_clear_failure_unless_validation_is_off() {
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({"validate": true, "nginx_path": "no-such-nginx"})));
    assert_eq!(r.code, 1);
    let msg = r.answer["msg"].as_str().unwrap();
    assert!(msg.contains("'no-such-nginx' was not found"), "{msg}");
    assert!(msg.contains("validate: false"), "{msg}");
    assert!(sb.files().is_empty());

    let r = sb.run(sb.task(json!({"validate": false, "nginx_path": "no-such-nginx"})));
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn bad_input_fails_and_changes_nothing() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.dest().parent().unwrap()).unwrap();
    fs::write(sb.dest(), "valid old config\n").unwrap();
    for (extra, expect) in [
        (
            json!({"colour": "red"}),
            "Unsupported parameters for (nginx_proxy_config module): colour",
        ),
        (json!({"frontend_port": "x"}), "option 'frontend_port'"),
        (
            json!({"bind_addresses": ["1.2.3"]}),
            "option 'bind_addresses' must list IP addresses",
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
        let r = sb.run(sb.task(extra.clone()));
        assert_eq!(r.code, 1, "{extra}");
        assert_eq!(r.answer["failed"], json!(true));
        assert_eq!(r.answer["changed"], json!(false));
        let msg = r.answer["msg"].as_str().unwrap();
        assert!(msg.contains(expect), "for {extra}: {msg}");
        assert_eq!(fs::read_to_string(sb.dest()).unwrap(), "valid old config\n");
    }
}

#[test]
fn unknown_options_ignored_when_ansible_says_so() {
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({"colour": "red", "_ansible_ignore_unknown_opts": true})));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.answer["warnings"][0],
        json!("option 'colour' is not supported by nginx_proxy_config and was ignored")
    );
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({
        "frontend_port": "8443",
        "backup": "yes",
        "stub_status": "no",
        "bind_addresses": "127.0.0.1, ::1",
        "worker_processes": 4,
    })));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let text = fs::read_to_string(sb.dest()).unwrap();
    assert!(text.contains("listen 127.0.0.1:8443;\n        listen [::1]:8443;"));
    assert!(text.contains("worker_processes 4;"));
    assert!(!text.contains("stub_status"));
}

#[test]
fn backup_is_reported() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.dest().parent().unwrap()).unwrap();
    fs::write(sb.dest(), "old\n").unwrap();
    let r = sb.run(sb.task(json!({"backup": true})));
    let backup = r.answer["backup_file"].as_str().unwrap();
    assert_eq!(fs::read_to_string(backup).unwrap(), "old\n");
}

#[test]
fn invocation_follows_inject_flag_and_no_ansible_keys_leak() {
    let sb = Sandbox::new();
    let r = sb.run(sb.task(json!({"_ansible_inject_invocation": false})));
    assert!(r.answer.get("invocation").is_none());
    let r = sb.run(sb.task(json!({})));
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
