//! Helpers for modules' own tests (feature `testing`).
//!
//! [`Binary`] runs a module's built binary as Ansible does and reads its one JSON answer;
//! [`contract`] holds the tests every module binary, and every module writing a file, must pass,
//! which [`module_tests!`](crate::module_tests) stamps into each module's tests.
//!
//! [`check_sidecar`] fails when a module's ansible-doc sidecar, its argument spec and its
//! `Params` struct disagree: option names, types, element types, defaults, choices, `required`,
//! `no_log` and suboptions; and that a module's file options are documented in the shared words
//! of `modules/runtime/file_options.yml`. Docs are thereby checked against the code that
//! implements them.

mod binary;
pub mod contract;

pub use binary::{ansible_args, merge, mode_of, tree, Binary, Run};

use crate::file::FileOptions;
use crate::spec::{Kind, Opt};
use crate::{Failure, Module};
use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Every disagreement between the sidecar YAML text and module `M`, or `Ok`.
pub fn check_sidecar<M: Module>(sidecar_yaml: &str) -> Result<(), String> {
    let doc: Value = serde_norway::from_str(sidecar_yaml).map_err(|e| format!("sidecar: {e}"))?;
    let mut problems = Vec::new();
    let documentation = &doc["DOCUMENTATION"];
    if documentation["module"].as_str() != Some(M::NAME) {
        problems.push(format!(
            "DOCUMENTATION.module is {}, expected {}",
            documentation["module"],
            M::NAME
        ));
    }
    for key in ["short_description", "description", "author"] {
        if documentation.get(key).is_none() {
            problems.push(format!("DOCUMENTATION.{key} is missing"));
        }
    }
    if !doc["EXAMPLES"].is_string() {
        problems.push("EXAMPLES must be a string".into());
    }
    if !doc["RETURN"].is_object() {
        problems.push("RETURN must be a mapping".into());
    }
    compare_options(
        &crate::spec_of::<M>(),
        &documentation["options"],
        "options",
        &mut problems,
    );
    if let Some(file) = M::FILE {
        compare_file_words(&file, &documentation["options"], &mut problems);
    }

    let mut fields: Vec<&str> = struct_fields::<M::Params>().to_vec();
    let mut names: Vec<&str> = crate::spec_of::<M>()
        .iter()
        .map(|o| o.group.unwrap_or(o.name))
        .collect();
    fields.sort_unstable();
    names.sort_unstable();
    names.dedup();
    if fields != names {
        problems.push(format!(
            "Params fields {fields:?} differ from the spec's options {names:?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The shared file options' documentation (see `file::FileOptions`).
const FILE_OPTIONS_DOC: &str = include_str!("../file_options.yml");

/// Every file option a sidecar documents in other words than the shared ones.
fn compare_file_words(file: &FileOptions, docs: &Value, problems: &mut Vec<String>) {
    let shared: Value = match serde_norway::from_str(FILE_OPTIONS_DOC) {
        Ok(shared) => shared,
        Err(e) => return problems.push(format!("file_options.yml: {e}")),
    };
    for opt in file.opts() {
        let words = &shared[opt.name]["description"];
        if !words.is_null() && docs[opt.name]["description"] != *words {
            problems.push(format!(
                "options.{}: the description must be the shared one of \
                 modules/runtime/file_options.yml: {words}",
                opt.name
            ));
        }
    }
}

fn compare_options(spec: &[Opt], docs: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(docs) = docs.as_object() else {
        problems.push(format!("{path} must be a mapping"));
        return;
    };
    for name in docs.keys() {
        if !spec.iter().any(|o| o.name == name.as_str()) {
            problems.push(format!("{path}.{name} is documented but not in the spec"));
        }
    }
    for opt in spec {
        let here = format!("{path}.{}", opt.name);
        let Some(doc) = docs.get(opt.name) else {
            problems.push(format!("{here} is in the spec but not documented"));
            continue;
        };
        if doc.get("description").is_none() {
            problems.push(format!("{here} has no description"));
        }
        let doc_type = doc["type"].as_str().unwrap_or("str");
        if doc_type != opt.kind.doc_name() {
            problems.push(format!(
                "{here}: type is {doc_type} in the docs, {} in the spec",
                opt.kind.doc_name()
            ));
        }
        let doc_elements = doc["elements"].as_str();
        let spec_elements = opt.elements.map(Kind::doc_name);
        if opt.kind == Kind::List && doc_elements != spec_elements {
            problems.push(format!(
                "{here}: elements is {doc_elements:?} in the docs, {spec_elements:?} in the spec"
            ));
        }
        let doc_required = doc["required"].as_bool().unwrap_or(false);
        if doc_required != opt.required {
            problems.push(format!(
                "{here}: required is {doc_required} in the docs, {} in the spec",
                opt.required
            ));
        }
        let doc_default = doc.get("default").cloned().unwrap_or(Value::Null);
        if doc_default != opt.default.to_value() {
            problems.push(format!(
                "{here}: default is {doc_default} in the docs, {} in the spec",
                opt.default.to_value()
            ));
        }
        if let crate::spec::DefaultValue::Json(text) = opt.default {
            if serde_json::from_str::<Value>(text).is_err() {
                problems.push(format!("{here}: the spec's JSON default does not parse"));
            }
        }
        let doc_choices: Vec<String> = doc["choices"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if doc_choices != opt.choices {
            problems.push(format!(
                "{here}: choices are {doc_choices:?} in the docs, {:?} in the spec",
                opt.choices
            ));
        }
        if opt.keep_order && opt.kind != Kind::Dict {
            problems.push(format!("{here}: keep_order is for dicts only"));
        }
        let doc_no_log = doc["no_log"].as_bool().unwrap_or(false);
        if doc_no_log != opt.no_log {
            problems.push(format!(
                "{here}: no_log is {doc_no_log} in the docs, {} in the spec",
                opt.no_log
            ));
        }
        match (doc.get("suboptions"), opt.suboptions.is_empty()) {
            (Some(sub), false) => compare_options(opt.suboptions, sub, &here, problems),
            (None, true) => {}
            (Some(_), true) => {
                problems.push(format!("{here}: suboptions documented, none in spec"))
            }
            (None, false) => problems.push(format!("{here}: suboptions in spec, not documented")),
        }
    }
}

/// The field names of a `#[derive(Deserialize)]` struct, read from what serde passes to
/// `deserialize_struct`.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldCatcher {
        fields: &mut fields,
    });
    fields
}

struct FieldCatcher<'a> {
    fields: &'a mut &'static [&'static str],
}

#[derive(Debug)]
struct Caught;

impl std::fmt::Display for Caught {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fields caught")
    }
}

impl std::error::Error for Caught {}

impl de::Error for Caught {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Caught
    }
}

impl<'de> de::Deserializer<'de> for FieldCatcher<'_> {
    type Error = Caught;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Caught> {
        Err(Caught)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Caught> {
        *self.fields = fields;
        Err(Caught)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Options as a task would give them (JSON) → `M::Params`, through the same validation,
/// coercion and defaults as a real run.
pub fn params<M: Module>(options: Value) -> Result<M::Params, crate::Failure> {
    let Value::Object(map) = options else {
        return Err(crate::Failure::new("options must be a JSON object"));
    };
    let (normalized, _) = crate::spec::normalize(&crate::spec_of::<M>(), map, M::NAME, false)?;
    crate::typed::<M>(normalized, &crate::order::KeyOrders::new())
}

/// Like [`params`], from the arguments' JSON text as Ansible sends it, so that the dicts of
/// options declared [`keep_order`](crate::Opt::keep_order) keep the order the text gives them
/// ([`params`] sorts them, as a `Value` holds them).
pub fn params_text<M: Module>(text: &str) -> Result<M::Params, crate::Failure> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| crate::Failure::new(format!("the arguments are not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(crate::Failure::new("options must be a JSON object"));
    };
    let (normalized, _) = crate::spec::normalize(&crate::spec_of::<M>(), map, M::NAME, false)?;
    let orders = crate::order::key_orders(text, &crate::ordered_options::<M>());
    crate::typed::<M>(normalized, &orders)
}

/// The SHA-1 of `bytes` in hex, as `ansible.builtin.stat` reports it (computed here, not by the
/// code under test).
pub fn sha1(bytes: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Three control-plane hosts, as the golden configs name them.
pub fn control_plane() -> Value {
    json!([
        {"name": "cp1", "address": "10.199.0.11"},
        {"name": "cp2", "address": "10.199.0.12"},
        {"name": "cp3", "address": "10.199.0.13"},
    ])
}

/// Two control-plane hosts, one of them IPv6, as the dual-stack golden configs name them.
pub fn dual_stack_control_plane() -> Value {
    json!([
        {"name": "cp1", "address": "10.199.0.11"},
        {"name": "cp2", "address": "fd00:199::12"},
    ])
}

/// `options` rendered by `render` and compared with the reviewed file `tests/golden/<name>` of
/// the module's crate (see [`assert_golden`]). Returns the params, the text and the golden file.
pub fn golden<M: Module>(
    name: &str,
    options: Value,
    render: impl FnOnce(&M::Params) -> Result<String, Failure>,
) -> (M::Params, String, PathBuf) {
    let params = params::<M>(options).unwrap_or_else(|e| panic!("{name}: {}", e.msg));
    let text = render(&params).unwrap_or_else(|e| panic!("{name} does not render: {}", e.msg));
    // cargo test runs a crate's tests in the crate's directory.
    let path = Path::new("tests/golden").join(name);
    assert_golden(&path, &text);
    (params, text, path)
}

/// Asserts `text` contains each of `parts`, naming the first it lacks.
pub fn assert_has(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is not in:\n{text}");
    }
}

/// Asserts a real daemon's check of `what` passed, showing its output when it did not.
pub fn assert_accepted(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} is rejected ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The message module `M` refuses `options` with: from validating them, or from `check` on
/// the valid params (its rendering, say). Panics when both accept them.
pub fn refusal<M: Module, T>(
    options: &Value,
    check: impl FnOnce(&M::Params) -> Result<T, Failure>,
) -> String {
    match params::<M>(options.clone()).and_then(|p| check(&p)) {
        Err(e) => e.msg,
        Ok(_) => panic!("accepted: {options}"),
    }
}

/// Each case (options on top of `base`) is refused with a message containing its text.
pub fn assert_refusals(refusal: impl Fn(&Value) -> String, base: &Value, cases: &[(Value, &str)]) {
    for (patch, expected) in cases {
        let mut options = base.clone();
        merge(&mut options, patch);
        let msg = refusal(&options);
        assert!(
            msg.contains(expected),
            "for {options}:\n  got: {msg}\n  want: {expected}"
        );
    }
}

/// Compares `actual` with the golden file at `path`; `UPDATE_GOLDEN=1` rewrites the file.
pub fn assert_golden(path: &std::path::Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Err(e) = std::fs::write(path, actual) {
            panic!("writing {}: {e}", path.display());
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendered output (UPDATE_GOLDEN=1 rewrites it after review):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Finds a real daemon binary for validation tests. Returns `None` (the test then skips)
/// unless `KUBEHA_REQUIRE_TOOLS` is set, as in CI, where a missing tool fails the test.
pub fn real_tool(name: &str) -> Option<std::path::PathBuf> {
    match crate::tool::find(name) {
        Ok(path) => Some(path),
        Err(e) if std::env::var_os("KUBEHA_REQUIRE_TOOLS").is_some() => {
            panic!("{} (KUBEHA_REQUIRE_TOOLS is set)", e.msg)
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Example {
        dest: String,
        port: Option<i64>,
    }

    #[test]
    fn catches_struct_fields() {
        assert_eq!(struct_fields::<Example>(), &["dest", "port"]);
    }
}
