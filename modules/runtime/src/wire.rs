//! The wire format between ansible-core and a binary module.
//!
//! In: `argv[1]` names a file holding ONE flat JSON object, the task's options plus `_ansible_*`
//! keys (which change between releases, so unknown ones are ignored). With no `argv[1]` the same
//! object is read from stdin (the one-round-trip fast path).
//!
//! Out: exactly one JSON object on one line of stdout, nothing else. Always `changed`; on failure
//! `failed: true` and `msg`; `warnings` as a list; `diff` only when asked for and something
//! changes; `invocation.module_args` (secrets censored) unless `_ansible_inject_invocation` is
//! false. Never a key starting with `_ansible_`. Exit status 0 on success, 1 on failure. Every
//! string passes the secret scrubber first. This file holds the only stdout writer.

use crate::plan::Plan;
use crate::secrets::Secrets;
use crate::Failure;
use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The `_ansible_*` keys a module acts on.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub check_mode: bool,
    pub diff: bool,
    pub ignore_unknown_opts: bool,
    /// `None` when the key is absent: older ansible-core always wanted `invocation`.
    pub inject_invocation: Option<bool>,
}

impl Meta {
    fn from_keys(keys: &Map<String, Value>) -> Meta {
        let flag = |k: &str| keys.get(k).map(truthy).unwrap_or(false);
        Meta {
            check_mode: flag("_ansible_check_mode"),
            diff: flag("_ansible_diff"),
            ignore_unknown_opts: flag("_ansible_ignore_unknown_opts"),
            inject_invocation: keys.get("_ansible_inject_invocation").map(truthy),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on" | "y" | "t"
        ),
        _ => false,
    }
}

/// The args file (or stdin) as text.
pub(crate) fn read_input(args_path: Option<std::ffi::OsString>) -> Result<String, Failure> {
    match args_path {
        Some(path) => std::fs::read_to_string(&path).map_err(|e| {
            Failure::new(format!(
                "reading the arguments file {}: {e}",
                PathBuf::from(path).display()
            ))
        }),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::new(format!("reading arguments from stdin: {e}")))?;
            if text.trim().is_empty() {
                return Err(Failure::new(
                    "no arguments: pass the path of a JSON arguments file, or the JSON on stdin",
                ));
            }
            Ok(text)
        }
    }
}

/// JSON text → (`_ansible_*` keys, task options).
pub(crate) fn parse_args(text: &str) -> Result<(Meta, Map<String, Value>), Failure> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Failure::new(format!("the arguments are not valid JSON: {e}")))?;
    let Value::Object(mut all) = value else {
        return Err(Failure::new("the arguments must be one JSON object"));
    };
    // Ansible's legacy wrapping, accepted for hand-written args files.
    if let Some(Value::Object(inner)) = all.remove("ANSIBLE_MODULE_ARGS") {
        all.extend(inner);
    }
    let (meta_keys, options): (Map<_, _>, Map<_, _>) = all
        .into_iter()
        .partition(|(k, _)| k.starts_with("_ansible_"));
    Ok((Meta::from_keys(&meta_keys), options))
}

/// Secrets of the running module, for the panic hook.
static SECRETS: OnceLock<Secrets> = OnceLock::new();
/// How many actions have been applied (a panic after one means something changed).
static APPLIED: AtomicUsize = AtomicUsize::new(0);
static ANSWERED: AtomicBool = AtomicBool::new(false);

/// The answer being built.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub meta: Meta,
    pub changed: bool,
    pub failed: bool,
    pub msg: Option<String>,
    pub warnings: Vec<String>,
    pub diffs: Vec<crate::plan::Diff>,
    pub fields: Map<String, Value>,
    pub invocation: Option<Map<String, Value>>,
    secrets: Secrets,
}

impl Answer {
    pub fn set_secrets(&mut self, secrets: Secrets) {
        let _ = SECRETS.set(secrets.clone());
        self.secrets = secrets;
    }

    pub fn fail(&mut self, failure: Failure) {
        self.failed = true;
        self.msg = Some(failure.msg);
        self.fields.extend(failure.fields);
    }

    /// Applies a plan (or rehearses it in check mode) and records the outcome.
    pub fn apply(&mut self, plan: Plan) -> Result<(), Failure> {
        self.fields.extend(plan.fields);
        self.warnings.extend(plan.warnings);
        self.changed = !plan.actions.is_empty();
        self.diffs = plan.diffs;
        let described: Vec<String> = plan.actions.iter().map(|a| a.describe()).collect();
        self.msg = plan.msg.or_else(|| {
            Some(match (described.is_empty(), self.meta.check_mode) {
                (true, _) => "nothing to change".to_owned(),
                (false, true) => format!("would {}", described.join("; ")),
                (false, false) => described.join("; "),
            })
        });
        if self.meta.check_mode {
            return plan.actions.iter().try_for_each(|a| a.rehearse());
        }
        for (done, action) in plan.actions.iter().enumerate() {
            if let Err(failure) = action.apply(&mut self.fields) {
                // Earlier actions did change the host; say so.
                self.changed = done > 0;
                return Err(failure);
            }
            APPLIED.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The final JSON object, scrubbed.
    pub fn finish(self) -> Value {
        let mut out = self.fields;
        out.retain(|k, _| !k.starts_with("_ansible_"));
        out.insert("changed".into(), Value::Bool(self.changed));
        if self.failed {
            out.insert("failed".into(), Value::Bool(true));
        }
        if let Some(msg) = self.msg {
            out.insert("msg".into(), Value::String(msg));
        }
        if !self.warnings.is_empty() {
            out.insert("warnings".into(), serde_json::json!(self.warnings));
        }
        if self.meta.diff && self.changed && !self.diffs.is_empty() {
            out.insert("diff".into(), serde_json::json!(self.diffs));
        }
        if self.meta.inject_invocation != Some(false) {
            if let Some(args) = self.invocation {
                out.insert(
                    "invocation".into(),
                    serde_json::json!({ "module_args": args }),
                );
            }
        }
        let mut value = Value::Object(out);
        self.secrets.scrub(&mut value);
        value
    }
}

/// Prints the answer (once per process) and returns the exit status to use.
pub(crate) fn emit(answer: &Value) -> i32 {
    let failed = answer
        .get("failed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if ANSWERED.swap(true, Ordering::SeqCst) {
        return i32::from(failed);
    }
    // serde_json escapes nothing it need not; the line starts with `{` as Ansible looks for.
    let line = serde_json::to_string(answer).unwrap_or_else(|_| {
        r#"{"failed": true, "changed": false, "msg": "could not serialise the result"}"#.into()
    });
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(line.as_bytes());
    let _ = stdout.write_all(b"\n");
    let _ = stdout.flush();
    i32::from(failed)
}

/// Prints what a module's own command line produced (no JSON: not Ansible's path) and
/// returns its exit status.
pub(crate) fn emit_cli(exit: &crate::CliExit) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(exit.stdout.as_bytes());
    let _ = stdout.flush();
    let _ = std::io::stderr().write_all(exit.stderr.as_bytes());
    exit.code
}

/// A panic still answers with one failed JSON object (release builds abort on panic, so this
/// hook is the last code that runs).
pub(crate) fn install_panic_hook(module: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let secrets = SECRETS.get().cloned().unwrap_or_default();
        let detail = secrets.scrub_str(&info.to_string());
        let _ = writeln!(std::io::stderr(), "{module}: {detail}");
        let mut answer = serde_json::json!({
            "failed": true,
            "changed": APPLIED.load(Ordering::SeqCst) > 0,
            "msg": format!("{module} crashed (this is a bug, please report it): {detail}"),
        });
        secrets.scrub(&mut answer);
        std::process::exit(emit(&answer).max(1));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ansible_keys_are_split_off_and_unknown_ones_ignored() {
        let (meta, opts) = parse_args(
            r#"{"name": "x", "_ansible_check_mode": true, "_ansible_diff": true,
                "_ansible_verbosity": 4, "_ansible_tmpdir": null,
                "_ansible_some_future_key": {"a": 1}}"#,
        )
        .unwrap();
        assert!(meta.check_mode && meta.diff);
        assert_eq!(meta.inject_invocation, None);
        assert_eq!(Value::Object(opts), json!({"name": "x"}));
    }

    #[test]
    fn bad_json_and_non_objects_fail_clearly() {
        assert!(parse_args("{").unwrap_err().msg.contains("not valid JSON"));
        assert!(parse_args("[1]")
            .unwrap_err()
            .msg
            .contains("one JSON object"));
    }

    #[test]
    fn answer_has_changed_list_warnings_and_respects_invocation_flag() {
        let mut a = Answer::default();
        a.warnings.push("w".into());
        a.invocation = Some(Map::new());
        let v = a.finish();
        assert_eq!(v["changed"], json!(false));
        assert_eq!(v["warnings"], json!(["w"]));
        assert!(v.get("invocation").is_some());

        let mut a = Answer::default();
        a.meta.inject_invocation = Some(false);
        a.invocation = Some(Map::new());
        assert!(a.finish().get("invocation").is_none());
    }

    #[test]
    fn failure_is_scrubbed() {
        let mut a = Answer::default();
        a.set_secrets(Secrets::new(vec!["pa55word".into()]));
        a.fail(Failure::new("bad password pa55word"));
        let v = a.finish();
        assert_eq!(v["failed"], json!(true));
        assert_eq!(v["msg"], json!("bad password ********"));
    }
}
