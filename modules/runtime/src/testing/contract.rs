//! The contract of a module binary, and of one that writes a file, as test functions over a
//! description of the module. [`module_tests!`](crate::module_tests) stamps them into a module's
//! test crate; a module's own test files keep only what is specific to it.

use super::binary::{merge, mode_of, tree, Binary, Run};
use serde_json::{json, Value};
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// What every module binary promises, whatever it does.
#[derive(Debug, Clone)]
pub struct Subject {
    pub binary: Binary,
    /// A valid task for a host whose files live under `root` (an empty temp dir).
    pub task: fn(&Path) -> Value,
    /// An option of that task and the value its `invocation` shows for it.
    pub shows: (&'static str, Value),
    /// Whether the task changes a fresh host.
    pub changes: bool,
}

impl Subject {
    /// The task with `extra` options on top.
    pub fn task(&self, root: &Path, extra: Value) -> Value {
        let mut task = (self.task)(root);
        merge(&mut task, &extra);
        task
    }

    pub fn run(&self, root: &Path, extra: Value) -> Run {
        self.binary.run(&self.task(root, extra))
    }
}

/// A module that writes one file (rendered, validated, written atomically).
#[derive(Debug, Clone)]
pub struct FileModule {
    pub subject: Subject,
    /// Where the task writes, relative to its root, in a directory the module creates.
    pub dest: &'static str,
    /// The mode of that directory.
    pub dir_mode: u32,
    /// A line of the file the task writes.
    pub content: &'static str,
    /// Fields of the first run's answer, beyond the file's own.
    pub reports: Value,
    /// An option change that changes the file.
    pub change: Change,
    /// Bad options this module refuses, with what its message says (on top of the ones every
    /// file module refuses: unknown options, bad `mode` and `owner`).
    pub bad: Vec<(Value, &'static str)>,
    pub secret: Option<Secret>,
    pub validator: Option<Validator>,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub options: Value,
    /// A line the file has before the change and not after it.
    pub before: &'static str,
    /// Lines it has after.
    pub after: &'static [&'static str],
}

/// A secret option: never in anything the module says, though the file carries it.
#[derive(Debug, Clone)]
pub struct Secret {
    pub option: &'static str,
    /// Its value in the task.
    pub value: &'static str,
    /// How a diff shows the line holding it.
    pub shown_as: &'static str,
    /// Tasks (on top of the task) that answer in every way: changes, check mode, the module's
    /// refusals and the validator's; none may echo the secret.
    pub tries: Vec<Value>,
}

/// The daemon that checks the file before it replaces anything.
#[derive(Debug, Clone)]
pub struct Validator {
    /// Its program: a real tool, option `<tool>_path` names it.
    pub tool: &'static str,
    /// Options that pass the module's own checks and that the daemon rejects.
    pub rejected: Value,
    /// What the failure message says (`{dest}` stands for the file's path).
    pub says: &'static [&'static str],
    /// What the daemon's own output (`validate_output`) says.
    pub output_says: &'static str,
}

impl Deref for FileModule {
    type Target = Subject;

    fn deref(&self) -> &Subject {
        &self.subject
    }
}

impl FileModule {
    pub fn dest(&self, root: &Path) -> PathBuf {
        root.join(self.dest)
    }

    /// Runs the task with `extra`, asserts success and returns the file's text.
    pub fn write(&self, root: &Path, extra: Value) -> String {
        self.run(root, extra).ok();
        read(&self.dest(root))
    }

    /// `root` holds the file and its directories, nothing else (no temp file, backup, or file a
    /// validator made).
    fn assert_only_dest(&self, root: &Path) {
        let mut expected = vec![];
        for dir in Path::new(self.dest).ancestors().skip(1) {
            if !dir.as_os_str().is_empty() {
                expected.push(dir.display().to_string());
            }
        }
        expected.push(self.dest.to_owned());
        expected.sort();
        assert_eq!(tree(root), expected, "files besides {}", self.dest);
    }

    /// An old file at dest, with `mode`.
    fn old_file(&self, root: &Path, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dest = self.dest(root);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(&dest, text).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
        dest
    }

    fn validator(&self) -> &Validator {
        self.validator
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no validator", self.binary.name()))
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

// ---- every module ---------------------------------------------------------------------------

/// The fast path's stdin works as the args file does; input that is not JSON fails clearly.
pub fn arguments_on_stdin_and_garbage_input(m: &Subject) {
    let dir = root();
    let r = m.binary.run_stdin(&m.task(dir.path(), json!({})));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.changed(), m.changes, "{}", r.stdout);
    assert_eq!(r.answer["invocation"]["module_args"][m.shows.0], m.shows.1);

    let r = m.binary.run_text("{not json").failed();
    assert!(r.msg().contains("not valid JSON"), "{}", r.stdout);
}

pub fn unknown_options_ignored_when_ansible_says_so(m: &Subject) {
    let dir = root();
    let r = m.run(
        dir.path(),
        json!({"colour": "red", "_ansible_ignore_unknown_opts": true}),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let warning = format!(
        "option 'colour' is not supported by {} and was ignored",
        m.binary.name()
    );
    assert_eq!(r.answer["warnings"][0], json!(warning));
}

pub fn invocation_follows_inject_flag_and_no_ansible_keys_leak(m: &Subject) {
    let dir = root();
    let r = m.run(dir.path(), json!({"_ansible_inject_invocation": false}));
    assert!(r.answer.get("invocation").is_none(), "{}", r.stdout);
    let r = m.run(dir.path(), json!({}));
    assert_eq!(r.answer["invocation"]["module_args"][m.shows.0], m.shows.1);
    let leaked: Vec<_> = r.answer.as_object().map_or(vec![], |o| {
        o.keys().filter(|k| k.starts_with("_ansible")).collect()
    });
    assert!(leaked.is_empty(), "{}", r.stdout);
}

// ---- every module that writes a file --------------------------------------------------------

pub fn writes_then_is_idempotent(m: &FileModule) {
    let dir = root();
    let dest = m.dest(dir.path());
    let first = m.run(dir.path(), json!({})).ok();
    assert!(first.changed(), "{}", first.stdout);
    assert_eq!(first.answer["dest"], json!(dest));
    assert_eq!(first.answer["checksum"], json!(super::sha1(&bytes(&dest))));
    assert_eq!(first.answer["mode"], json!("0640"));
    for (key, value) in m.reports.as_object().into_iter().flatten() {
        assert_eq!(&first.answer[key], value, "{key}");
    }
    assert_eq!(mode_of(&dest), 0o640);
    let parent = dest.parent().unwrap_or(dir.path());
    assert_eq!(mode_of(parent), m.dir_mode, "{}", parent.display());
    assert!(read(&dest).contains(m.content), "{}", read(&dest));
    m.assert_only_dest(dir.path());

    let content = bytes(&dest);
    let second = m.run(dir.path(), json!({})).ok();
    assert!(!second.changed(), "{}", second.stdout);
    assert_eq!(second.answer["msg"], json!("nothing to change"));
    assert_eq!(second.answer["checksum"], first.answer["checksum"]);
    assert_eq!(bytes(&dest), content);
}

pub fn check_mode_changes_nothing_and_reports_changed(m: &FileModule) {
    let check = json!({"_ansible_check_mode": true, "_ansible_diff": true});
    let dir = root();
    let r = m.run(dir.path(), check.clone()).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(
        tree(dir.path()),
        Vec::<String>::new(),
        "check mode created files"
    );

    // A real file and a change: planned and shown, not made.
    m.write(dir.path(), json!({}));
    let dest = m.dest(dir.path());
    let before = bytes(&dest);
    let mut change = check.clone();
    merge(&mut change, &m.change.options);
    let r = m.run(dir.path(), change).ok();
    assert!(r.changed(), "{}", r.stdout);
    let after = r.answer["diff"][0]["after"].as_str().unwrap_or_default();
    for line in m.change.after {
        assert!(after.contains(line), "{after}");
    }
    assert_eq!(bytes(&dest), before);

    // Another file, and another mode.
    m.old_file(dir.path(), "old content\n", 0o600);
    let r = m.run(dir.path(), check).ok();
    assert!(r.changed());
    assert_eq!(read(&dest), "old content\n");
    assert_eq!(mode_of(&dest), 0o600);
    let diff = &r.answer["diff"][0];
    assert_eq!(diff["before"], json!("old content\n"));
    assert!(diff["after"]
        .as_str()
        .unwrap_or_default()
        .contains(m.content));
    m.assert_only_dest(dir.path());
}

pub fn diff_only_when_asked(m: &FileModule) {
    let dir = root();
    let r = m.run(dir.path(), json!({})).ok();
    assert!(r.answer.get("diff").is_none(), "{}", r.stdout);
    let mut change = json!({"_ansible_diff": true});
    merge(&mut change, &m.change.options);
    let r = m.run(dir.path(), change).ok();
    assert!(r.changed());
    let diff = &r.answer["diff"][0];
    let (before, after) = (
        diff["before"].as_str().unwrap_or_default(),
        diff["after"].as_str().unwrap_or_default(),
    );
    assert!(before.contains(m.change.before), "{before}");
    assert!(!after.contains(m.change.before), "{after}");
    let text = read(&m.dest(dir.path()));
    for line in m.change.after {
        assert!(after.contains(line), "{after}");
        assert!(text.contains(line), "{text}");
    }
    assert_eq!(diff["after_header"], json!(m.dest(dir.path())));
}

pub fn mode_change_alone_is_a_change(m: &FileModule) {
    let dir = root();
    m.write(dir.path(), json!({}));
    let r = m.run(dir.path(), json!({"mode": "0600"})).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(mode_of(&m.dest(dir.path())), 0o600);
}

pub fn bad_input_fails_and_changes_nothing(m: &FileModule) {
    let dir = root();
    let dest = m.old_file(dir.path(), "valid old config\n", 0o640);
    let name = m.binary.name();
    let unsupported = format!("Unsupported parameters for ({name} module): colour");
    let every = [
        (json!({"colour": "red"}), unsupported.as_str()),
        (
            json!({"mode": "rw-r-----"}),
            "option 'mode': mode must be in octal or symbolic form",
        ),
        (
            json!({"owner": "no-such-user-x"}),
            "option 'owner': no user named 'no-such-user-x'",
        ),
    ];
    for (extra, expect) in every.iter().cloned().chain(m.bad.iter().cloned()) {
        let r = m.run(dir.path(), extra.clone());
        assert_eq!(r.code, 1, "{extra}: {}", r.stdout);
        r.refused(expect);
        assert_eq!(read(&dest), "valid old config\n", "{extra}");
        m.assert_only_dest(dir.path());
    }
}

pub fn backup_is_reported(m: &FileModule) {
    let dir = root();
    m.old_file(dir.path(), "old\n", 0o640);
    let r = m.run(dir.path(), json!({"backup": true})).ok();
    let backup = r.answer["backup_file"].as_str().unwrap_or_default();
    assert_eq!(read(Path::new(backup)), "old\n");
}

/// The secret is in the file (the daemon needs it) and nowhere in what the module says: not in
/// successes, check mode, diffs, refusals or the validator's output; the invocation censors it.
pub fn secret_never_appears_in_output(m: &FileModule) {
    let secret = m
        .secret
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no secret option", m.binary.name()));
    let dir = root();
    for extra in &secret.tries {
        let mut task = json!({"_ansible_diff": true});
        merge(&mut task, extra);
        let r = m.run(dir.path(), task);
        assert!(!r.stdout.contains(secret.value), "leaked: {}", r.stdout);
    }
    assert!(read(&m.dest(dir.path())).contains(secret.value));
    let mut change = json!({"_ansible_diff": true});
    merge(&mut change, &m.change.options);
    let r = m.run(dir.path(), change).ok();
    assert!(!r.stdout.contains(secret.value), "leaked: {}", r.stdout);
    assert_eq!(
        r.answer["invocation"]["module_args"][secret.option],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    );
    let after = r.answer["diff"][0]["after"].as_str().unwrap_or_default();
    assert!(after.contains(secret.shown_as), "{after}");
}

/// What the real daemon rejects fails the task with its own words and keeps the old file byte
/// for byte, in check mode too. Needs the daemon (CI has it): where the task turns validation
/// off, as it does on a machine without it, there is nothing to test.
pub fn validator_rejection_keeps_the_old_file(m: &FileModule) {
    let v = m.validator();
    let dir = root();
    if m.task(dir.path(), json!({}))["validate"] == json!(false) {
        return;
    }
    let dest = m.dest(dir.path());
    m.write(dir.path(), json!({}));
    let before = bytes(&dest);
    for check_mode in [false, true] {
        let mut task = v.rejected.clone();
        task["_ansible_check_mode"] = json!(check_mode);
        let r = m.run(dir.path(), task).failed();
        if !check_mode {
            assert!(!r.changed());
        }
        assert!(r.msg().contains("rejected by `"), "{}", r.msg());
        for says in v.says {
            let says = says.replace("{dest}", &dest.display().to_string());
            assert!(r.msg().contains(&says), "want {says:?} in: {}", r.msg());
        }
        let output = r.answer["validate_output"].as_str().unwrap_or_default();
        assert!(output.contains(v.output_says), "{}", r.stdout);
        assert_eq!(bytes(&dest), before, "the old file is byte-identical");
        m.assert_only_dest(dir.path());
    }
}

pub fn missing_validator_fails_clearly_unless_validation_is_off(m: &FileModule) {
    let tool = m.validator().tool;
    let (option, program) = (format!("{tool}_path"), format!("no-such-{tool}"));
    let dir = root();
    let r = m.run(
        dir.path(),
        json!({"validate": true, option.as_str(): program}),
    );
    let r = r.refused(&format!("'{program}' was not found"));
    assert!(r.msg().contains("validate: false"), "{}", r.msg());
    assert_eq!(tree(dir.path()), Vec::<String>::new());
    m.run(
        dir.path(),
        json!({"validate": false, option.as_str(): program}),
    )
    .ok();
    m.assert_only_dest(dir.path());
}

/// Stamps the shared tests into a module's test crate: its sidecar against its spec
/// ([`check_sidecar`](crate::testing::check_sidecar)), the argument fuzzer
/// ([`fuzz::check`](crate::fuzz::check)), and the contract of every module binary (`binary:` a
/// [`Subject`]) or of every module writing a file (`file:` a [`FileModule`], with the tests for
/// the parts it has: `backup`, a `secret` option, a `validator`).
///
/// ```text
/// kubeha_runtime::module_tests! {
///     module: haproxy_config::HaproxyConfig,
///     fuzz: fuzz::Check { seed: 0x4a50_7278, base: |sandbox| json!({...}), fixed: fuzz::nothing },
///     file: haproxy(),
///     also: [backup, secret, validator],
/// }
/// ```
#[macro_export]
macro_rules! module_tests {
    (
        module: $module:ty,
        $(fuzz: $fuzz:expr,)?
        file: $file:expr,
        also: [$($also:ident),* $(,)?] $(,)?
    ) => {
        $crate::module_tests!(module: $module, $(fuzz: $fuzz,)?);
        $crate::module_tests!(@tests FileModule $file; arguments_on_stdin_and_garbage_input,
            unknown_options_ignored_when_ansible_says_so,
            invocation_follows_inject_flag_and_no_ansible_keys_leak, writes_then_is_idempotent,
            check_mode_changes_nothing_and_reports_changed, diff_only_when_asked,
            mode_change_alone_is_a_change, bad_input_fails_and_changes_nothing);
        $( $crate::module_tests!(@also $file; $also); )*
    };
    (
        module: $module:ty,
        $(fuzz: $fuzz:expr,)?
        binary: $subject:expr $(,)?
    ) => {
        $crate::module_tests!(module: $module, $(fuzz: $fuzz,)?);
        $crate::module_tests!(@tests Subject $subject; arguments_on_stdin_and_garbage_input,
            unknown_options_ignored_when_ansible_says_so,
            invocation_follows_inject_flag_and_no_ansible_keys_leak);
    };
    (module: $module:ty, $(fuzz: $fuzz:expr,)?) => {
        /// The ansible-doc sidecar `<name>.yml` beside the crate's Cargo.toml (the directory
        /// cargo test runs tests in) documents exactly the options the module implements.
        #[test]
        fn sidecar_matches_spec_and_params() {
            let name = format!("{}.yml", <$module as $crate::Module>::NAME);
            let sidecar = std::fs::read_to_string(&name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Err(problems) = $crate::testing::check_sidecar::<$module>(&sidecar) {
                panic!("{name} disagrees with the code:\n{problems}");
            }
        }
        $(
            #[test]
            fn arguments_fuzz() {
                $crate::fuzz::check::<$module>(&$fuzz);
            }
        )?
    };
    (@also $file:expr; backup) => {
        $crate::module_tests!(@tests FileModule $file; backup_is_reported);
    };
    (@also $file:expr; secret) => {
        $crate::module_tests!(@tests FileModule $file; secret_never_appears_in_output);
    };
    (@also $file:expr; validator) => {
        $crate::module_tests!(@tests FileModule $file; validator_rejection_keeps_the_old_file,
            missing_validator_fails_clearly_unless_validation_is_off);
    };
    (@tests $kind:ident $spec:expr; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let spec: $crate::testing::contract::$kind = $spec;
                $crate::testing::contract::$test(&spec);
            }
        )*
    };
}
