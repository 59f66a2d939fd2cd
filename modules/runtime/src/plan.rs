//! Plan, then apply.
//!
//! A module's `plan` reads the host and changes nothing: it returns the actions that would bring
//! the host to the wanted state, the diff, and the result fields. The runtime applies the actions
//! only outside check mode, so check mode is "plan only" by construction; no helper ever sees a
//! check-mode flag.

use crate::Failure;
use serde::Serialize;
use serde_json::{Map, Value};

/// One change to the host. `changed` is true exactly when a plan has at least one action.
pub trait Action: std::fmt::Debug {
    /// What it does, in a few words ("write /etc/haproxy/haproxy.cfg").
    fn describe(&self) -> String;

    /// Read-only rehearsal in check mode (e.g. validate a candidate config in a scratch
    /// directory), so `--check` reports what a real run would reject. Must not touch the target.
    fn rehearse(&self) -> Result<(), Failure> {
        Ok(())
    }

    /// Does it. May add result fields (e.g. `backup_file`).
    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure>;
}

/// One entry of Ansible's `diff` result; the callback renders it as a unified diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub before: String,
    pub after: String,
    pub before_header: String,
    pub after_header: String,
}

/// What a module would do.
#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Box<dyn Action>>,
    pub diffs: Vec<Diff>,
    /// Result fields returned whether or not anything changes (`dest`, `checksum`, ...).
    pub fields: Map<String, Value>,
    pub warnings: Vec<String>,
    /// A human summary; defaults to the list of actions.
    pub msg: Option<String>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }

    pub fn act(&mut self, action: impl Action + 'static) {
        self.actions.push(Box::new(action));
    }

    pub fn diff(&mut self, diff: Diff) {
        self.diffs.push(diff);
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// Folds another plan (e.g. one file's) into this one; its fields win on conflict.
    pub fn merge(&mut self, other: Plan) {
        self.actions.extend(other.actions);
        self.diffs.extend(other.diffs);
        self.fields.extend(other.fields);
        self.warnings.extend(other.warnings);
        if self.msg.is_none() {
            self.msg = other.msg;
        }
    }

    pub fn changed(&self) -> bool {
        !self.actions.is_empty()
    }
}
