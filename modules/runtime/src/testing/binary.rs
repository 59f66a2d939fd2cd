//! A module's built binary run as Ansible runs it, and its one JSON answer read back.

use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `options` as ansible-core 2.19 sends them to `module`: with the `_ansible_*` keys it adds to
/// every task, any of which `options` may override.
pub fn ansible_args(module: &str, options: &Value) -> Value {
    let mut args = json!({
        "_ansible_check_mode": false,
        "_ansible_diff": false,
        "_ansible_no_log": false,
        "_ansible_verbosity": 4,
        "_ansible_version": "2.19.14",
        "_ansible_module_name": module,
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
    merge(&mut args, options);
    args
}

/// `patch`'s keys set on `target` (both JSON objects).
pub fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        panic!("not a JSON object: {patch}");
    };
    for (k, v) in patch {
        target[k] = v.clone();
    }
}

/// A module binary (`env!("CARGO_BIN_EXE_<name>")`), optionally run behind a prefix such as
/// `unshare --net` or `ip netns exec NS`, with extra environment.
#[derive(Debug, Clone)]
pub struct Binary {
    path: PathBuf,
    prefix: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    never_says: Vec<String>,
}

impl Binary {
    pub fn new(path: impl Into<PathBuf>) -> Binary {
        Binary {
            path: path.into(),
            prefix: Vec::new(),
            env: Vec::new(),
            never_says: Vec::new(),
        }
    }

    /// The module's name: the binary's file name.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs it as the last words of `prefix` (e.g. `["ip", "netns", "exec", "ns1"]`).
    pub fn behind<S: Into<OsString>>(mut self, prefix: impl IntoIterator<Item = S>) -> Binary {
        self.prefix = prefix.into_iter().map(Into::into).collect();
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Binary {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Text no run may print, whatever its options (such as `PRIVATE KEY`).
    pub fn never_says(mut self, text: &str) -> Binary {
        self.never_says.push(text.to_owned());
        self
    }

    /// The command line that runs the binary, before its own arguments.
    pub fn command(&self) -> Command {
        let mut cmd = match self.prefix.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(&self.path);
                cmd
            }
            None => Command::new(&self.path),
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Ansible's standard path: `options` and the `_ansible_*` keys in an args file.
    pub fn run(&self, options: &Value) -> Run {
        self.run_text(&ansible_args(&self.name(), options).to_string())
    }

    /// An args file holding exactly `text`.
    pub fn run_text(&self, text: &str) -> Run {
        let scratch = Scratch::new();
        let args = scratch.dir.path().join("args");
        std::fs::write(&args, text).unwrap_or_else(|e| panic!("writing {}: {e}", args.display()));
        let mut cmd = self.command();
        cmd.arg(&args);
        self.check(scratch.finish(cmd, None))
    }

    /// kubeha's fast path: `options` and the `_ansible_*` keys on stdin, no argument.
    pub fn run_stdin(&self, options: &Value) -> Run {
        let input = ansible_args(&self.name(), options).to_string();
        self.check(Scratch::new().finish(self.command(), Some(input)))
    }

    fn check(&self, run: Run) -> Run {
        for text in &self.never_says {
            assert!(
                !run.stdout.contains(text),
                "{text} in the output: {}",
                run.stdout
            );
        }
        run
    }
}

/// Where a run keeps its args file, and its own empty `TMPDIR`, which must be empty again after
/// the run: whatever a module writes to scratch (a validator's twin config) it removes.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        std::fs::create_dir(dir.path().join("tmp")).unwrap_or_else(|e| panic!("temp dir: {e}"));
        Scratch { dir }
    }

    fn finish(self, mut cmd: Command, stdin: Option<String>) -> Run {
        let tmp = self.dir.path().join("tmp");
        cmd.env("TMPDIR", &tmp)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("writing stdin: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stdout.lines().count() == 1 && stdout.starts_with('{'),
            "not exactly one JSON object on one line of stdout: {stdout}\nstderr: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "the run left {left:?} in TMPDIR: {stdout}");
        Run {
            answer: serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}")),
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// One run of a module: its answer, stdout and stderr as text, and exit status.
#[derive(Debug)]
pub struct Run {
    pub answer: Value,
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    pub fn changed(&self) -> bool {
        self.answer["changed"] == json!(true)
    }

    pub fn msg(&self) -> &str {
        self.answer["msg"].as_str().unwrap_or_default()
    }

    /// Asserts it succeeded (exit 0).
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "the run failed: {}", self.stdout);
        self
    }

    /// Asserts it failed as a module fails: exit 1, `failed: true`.
    pub fn failed(self) -> Run {
        assert_eq!(self.code, 1, "the run should fail: {}", self.stdout);
        assert_eq!(self.answer["failed"], json!(true), "{}", self.stdout);
        self
    }

    /// Asserts it failed, changed nothing and said `expect`.
    pub fn refused(self, expect: &str) -> Run {
        let run = self.failed();
        assert_eq!(run.answer["changed"], json!(false), "{}", run.stdout);
        assert!(
            run.msg().contains(expect),
            "\n  got: {}\n want: {expect}",
            run.msg()
        );
        run
    }
}

/// The paths under `root`, relative and sorted (directories too).
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A file's permission bits.
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}
