//! The argument spec: what options a module takes, and how raw task values become typed ones.
//!
//! Ansible validates no arguments for binary modules, so this does what Python's `AnsibleModule`
//! does with its `argument_spec`: reject unknown options, coerce strings the way ad-hoc `-a k=v`
//! sends them, fill defaults, check `required` and `choices`, recurse into suboptions. The
//! result is a JSON object that deserialises straight into the module's `Params`.

use serde_json::{Map, Value};

/// The type of an option, named as in Ansible's `DOCUMENTATION` (`type:` and `elements:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// A string naming a path on the host (documented as `type: path`).
    Path,
    Bool,
    Int,
    Float,
    List,
    Dict,
    /// Any JSON value, unchanged.
    Raw,
}

impl Kind {
    /// The name Ansible's docs use for this kind.
    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Path => "path",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::Raw => "raw",
        }
    }
}

/// A default value; kept as plain data so specs can be `const`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// No default: the option is null (or absent from `Params` as `None`) when not given.
    Null,
    Str(&'static str),
    Int(i64),
    Bool(bool),
    /// Any other value, written as JSON text (e.g. a list).
    Json(&'static str),
}

impl DefaultValue {
    pub fn to_value(self) -> Value {
        match self {
            DefaultValue::Null => Value::Null,
            DefaultValue::Str(s) => Value::String(s.to_owned()),
            DefaultValue::Int(i) => Value::from(i),
            DefaultValue::Bool(b) => Value::Bool(b),
            DefaultValue::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        }
    }
}

/// One option of a module.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    /// For lists: the type of each element.
    pub elements: Option<Kind>,
    pub required: bool,
    pub default: DefaultValue,
    pub choices: &'static [&'static str],
    /// A secret: its value is scrubbed from every string the module emits.
    pub no_log: bool,
    /// For dicts and lists of dicts: the spec of their keys.
    pub suboptions: &'static [Opt],
    /// Options declared once for several modules come in groups: a module's `Params` has each
    /// group as one field of this name, holding the group's options (see `file::FileOptions`).
    pub group: Option<&'static str>,
    /// For dicts: `Params` gets the dict as a list of `(key, value)` pairs in the order the task
    /// wrote its keys (see `crate::order`).
    pub keep_order: bool,
}

impl Opt {
    pub const fn new(name: &'static str, kind: Kind) -> Opt {
        Opt {
            name,
            kind,
            elements: None,
            required: false,
            default: DefaultValue::Null,
            choices: &[],
            no_log: false,
            suboptions: &[],
            group: None,
            keep_order: false,
        }
    }
    pub const fn str(name: &'static str) -> Opt {
        Opt::new(name, Kind::Str)
    }
    pub const fn path(name: &'static str) -> Opt {
        Opt::new(name, Kind::Path)
    }
    pub const fn bool(name: &'static str) -> Opt {
        Opt::new(name, Kind::Bool)
    }
    pub const fn int(name: &'static str) -> Opt {
        Opt::new(name, Kind::Int)
    }
    pub const fn list(name: &'static str, elements: Kind) -> Opt {
        Opt {
            elements: Some(elements),
            ..Opt::new(name, Kind::List)
        }
    }
    pub const fn dict(name: &'static str) -> Opt {
        Opt::new(name, Kind::Dict)
    }
    pub const fn required(self) -> Opt {
        Opt {
            required: true,
            ..self
        }
    }
    pub const fn default(self, default: DefaultValue) -> Opt {
        Opt { default, ..self }
    }
    pub const fn choices(self, choices: &'static [&'static str]) -> Opt {
        Opt { choices, ..self }
    }
    pub const fn no_log(self) -> Opt {
        Opt {
            no_log: true,
            ..self
        }
    }
    pub const fn suboptions(self, suboptions: &'static [Opt]) -> Opt {
        Opt { suboptions, ..self }
    }
    /// A dict whose keys keep the order the task wrote them in (see `crate::order`): the
    /// module's `Params` gets it as a list of `(key, value)` pairs.
    pub const fn keep_order(self) -> Opt {
        Opt {
            keep_order: true,
            ..self
        }
    }
    pub const fn in_group(self, group: &'static str) -> Opt {
        Opt {
            group: Some(group),
            ..self
        }
    }
}

/// A rejected argument, with a message that names the option and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// Validates and normalises raw options against `spec`.
///
/// `context` names the module (top level) or the parent option (suboptions) in messages.
/// Unknown keys are an error unless `ignore_unknown` is set, in which case they are dropped
/// and returned so the caller can warn about them.
pub fn normalize(
    spec: &[Opt],
    raw: Map<String, Value>,
    context: &str,
    ignore_unknown: bool,
) -> Result<(Map<String, Value>, Vec<String>), ArgError> {
    let mut raw = raw;
    let mut unknown: Vec<String> = raw
        .keys()
        .filter(|k| !spec.iter().any(|o| o.name == k.as_str()))
        .cloned()
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        if !ignore_unknown {
            let mut names: Vec<&str> = spec.iter().map(|o| o.name).collect();
            names.sort_unstable();
            return Err(ArgError(format!(
                "Unsupported parameters for ({context}): {}. Supported parameters include: {}.",
                unknown.join(", "),
                names.join(", ")
            )));
        }
        for key in &unknown {
            raw.remove(key);
        }
    }

    let mut out = Map::new();
    let mut missing = Vec::new();
    for opt in spec {
        let value = match raw.remove(opt.name) {
            Some(Value::Null) | None => opt.default.to_value(),
            Some(v) => v,
        };
        if value.is_null() {
            if opt.required {
                missing.push(opt.name);
            }
            out.insert(opt.name.to_owned(), Value::Null);
            continue;
        }
        let value = coerce(opt, value, context)?;
        out.insert(opt.name.to_owned(), value);
    }
    if !missing.is_empty() {
        return Err(ArgError(format!(
            "missing required arguments: {} (in {context})",
            missing.join(", ")
        )));
    }
    Ok((out, unknown))
}

fn coerce(opt: &Opt, value: Value, context: &str) -> Result<Value, ArgError> {
    let value = coerce_kind(opt.kind, value).map_err(|why| {
        ArgError(format!(
            "option '{}' (in {context}) expects {}: {why}",
            opt.name,
            article(opt.kind)
        ))
    })?;
    let value = match (opt.kind, value) {
        (Kind::List, Value::Array(items)) => {
            let elements = opt.elements.unwrap_or(Kind::Raw);
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let item = coerce_kind(elements, item).map_err(|why| {
                    ArgError(format!(
                        "option '{}[{i}]' (in {context}) expects {}: {why}",
                        opt.name,
                        article(elements)
                    ))
                })?;
                let item = match item {
                    Value::Object(map) if !opt.suboptions.is_empty() => {
                        let inner = format!("{}[{i}]", opt.name);
                        Value::Object(normalize(opt.suboptions, map, &inner, false)?.0)
                    }
                    other => other,
                };
                out.push(item);
            }
            Value::Array(out)
        }
        (Kind::Dict, Value::Object(map)) if !opt.suboptions.is_empty() => {
            Value::Object(normalize(opt.suboptions, map, opt.name, false)?.0)
        }
        (_, value) => value,
    };
    if !opt.choices.is_empty() {
        let as_text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !opt.choices.contains(&as_text.as_str()) {
            return Err(ArgError(format!(
                "option '{}' (in {context}) must be one of: {}; got: {as_text}",
                opt.name,
                opt.choices.join(", ")
            )));
        }
    }
    Ok(value)
}

fn article(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Path => "a path",
        Kind::Bool => "a boolean",
        Kind::Int => "an integer",
        Kind::Float => "a number",
        Kind::List => "a list",
        Kind::Dict => "a dictionary",
        Kind::Raw => "any value",
    }
}

/// One value → `kind`, with `AnsibleModule`'s conversions.
pub fn coerce_kind(kind: Kind, value: Value) -> Result<Value, String> {
    match kind {
        Kind::Raw => Ok(value),
        Kind::Str | Kind::Path => match value {
            Value::String(_) => Ok(value),
            Value::Bool(b) => Ok(Value::String(if b { "True" } else { "False" }.into())),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            other => Err(format!("got {}", describe(&other))),
        },
        Kind::Bool => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" | "on" | "1" | "true" | "t" => Ok(Value::Bool(true)),
                "n" | "no" | "off" | "0" | "false" | "f" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "got {} (use yes/no or true/false)",
                    describe(&value)
                )),
            },
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            other => Err(format!("got {}", describe(other))),
        },
        Kind::Int => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                _ => Err(format!("got {}", describe(&value))),
            },
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("got {}", describe(&value))),
            other => Err(format!("got {}", describe(other))),
        },
        Kind::Float => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("got {}", describe(&value))),
            other => Err(format!("got {}", describe(other))),
        },
        Kind::List => match value {
            Value::Array(_) => Ok(value),
            // `-a 'names=a,b'` sends a string: Ansible splits it on commas. A string that is a
            // JSON list is taken as that list (as Ansible takes a JSON string for a dict).
            Value::String(s) if s.is_empty() => Ok(Value::Array(vec![])),
            Value::String(s) if s.trim_start().starts_with('[') => {
                match serde_json::from_str::<Value>(&s) {
                    Ok(v @ Value::Array(_)) => Ok(v),
                    _ => Err("got a string that starts with '[' but is not a JSON list".into()),
                }
            }
            Value::String(s) => Ok(Value::Array(
                s.split(',')
                    .map(|p| Value::String(p.trim().to_owned()))
                    .collect(),
            )),
            Value::Number(n) => Ok(Value::Array(vec![Value::String(n.to_string())])),
            other => Err(format!("got {}", describe(&other))),
        },
        Kind::Dict => match value {
            Value::Object(_) => Ok(value),
            Value::String(s) if s.trim_start().starts_with('{') => {
                match serde_json::from_str::<Value>(&s) {
                    Ok(v @ Value::Object(_)) => Ok(v),
                    _ => Err("got a string that is not a JSON object".into()),
                }
            }
            Value::String(s) => parse_key_values(&s).map(Value::Object),
            other => Err(format!("got {}", describe(&other))),
        },
    }
}

/// `"a=1 b=2"` or `"a=1, b=2"` → `{a: "1", b: "2"}`, as `AnsibleModule` accepts for dicts.
fn parse_key_values(text: &str) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for field in text.split([',', ' ']).filter(|f| !f.trim().is_empty()) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("got a string with '{field}', expected key=value pairs"))?;
        map.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
    }
    Ok(map)
}

/// A short description of a value for error messages (strings quoted, long ones cut).
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let mut out = String::from("string '");
            for (i, c) in s.chars().enumerate() {
                if i == 60 {
                    out.push('…');
                    break;
                }
                out.push(c);
            }
            out.push('\'');
            out
        }
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "a dictionary".into(),
    }
}

/// Every secret value found in normalised options (for scrubbing), recursing into suboptions.
pub fn secret_values(spec: &[Opt], params: &Map<String, Value>, out: &mut Vec<String>) {
    for opt in spec {
        let Some(value) = params.get(opt.name) else {
            continue;
        };
        if opt.no_log {
            collect_strings(value, out);
        } else if !opt.suboptions.is_empty() {
            match value {
                Value::Object(map) => secret_values(opt.suboptions, map, out),
                Value::Array(items) => {
                    for item in items {
                        if let Value::Object(map) = item {
                            secret_values(opt.suboptions, map, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// The options as Ansible shows them in `invocation.module_args`: secrets replaced.
pub fn censor(spec: &[Opt], params: &Map<String, Value>) -> Map<String, Value> {
    let mut out = params.clone();
    for opt in spec {
        let Some(value) = out.get_mut(opt.name) else {
            continue;
        };
        if opt.no_log && !value.is_null() {
            *value = Value::String(crate::secrets::NO_LOG_PLACEHOLDER.into());
        } else if !opt.suboptions.is_empty() {
            match value {
                Value::Object(map) => *map = censor(opt.suboptions, map),
                Value::Array(items) => {
                    for item in items {
                        if let Value::Object(map) = item {
                            *map = censor(opt.suboptions, map);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUB: &[Opt] = &[Opt::str("name").required(), Opt::int("port")];
    const SPEC: &[Opt] = &[
        Opt::int("port").default(DefaultValue::Int(6443)),
        Opt::bool("backup").default(DefaultValue::Bool(false)),
        Opt::str("balance")
            .choices(&["leastconn", "roundrobin"])
            .default(DefaultValue::Str("leastconn")),
        Opt::list("binds", Kind::Str).default(DefaultValue::Json(r#"["127.0.0.1"]"#)),
        Opt::list("servers", Kind::Dict).suboptions(SUB),
        Opt::str("password").no_log(),
        Opt::dict("labels"),
        Opt::str("name").required(),
    ];

    fn run(raw: Value) -> Result<Map<String, Value>, ArgError> {
        let Value::Object(map) = raw else { panic!() };
        normalize(SPEC, map, "test", false).map(|(m, _)| m)
    }

    #[test]
    fn defaults_fill_missing_options() {
        let out = run(json!({"name": "x"})).unwrap();
        assert_eq!(out["port"], json!(6443));
        assert_eq!(out["backup"], json!(false));
        assert_eq!(out["binds"], json!(["127.0.0.1"]));
        assert_eq!(out["password"], Value::Null);
    }

    #[test]
    fn adhoc_strings_are_coerced_like_ansible() {
        let out = run(json!({"name": "x", "port": "8443", "backup": "yes",
                             "binds": "0.0.0.0, ::", "labels": "a=1 b=2"}))
        .unwrap();
        assert_eq!(out["port"], json!(8443));
        assert_eq!(out["backup"], json!(true));
        assert_eq!(out["binds"], json!(["0.0.0.0", "::"]));
        assert_eq!(out["labels"], json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn bool_words_match_ansible() {
        for t in ["yes", "Y", "on", "1", "true", "True", "t"] {
            assert_eq!(coerce_kind(Kind::Bool, json!(t)), Ok(json!(true)), "{t}");
        }
        for f in ["no", "N", "off", "0", "false", "F"] {
            assert_eq!(coerce_kind(Kind::Bool, json!(f)), Ok(json!(false)), "{f}");
        }
        assert!(coerce_kind(Kind::Bool, json!("maybe")).is_err());
        assert!(coerce_kind(Kind::Int, json!(true)).is_err());
        assert_eq!(coerce_kind(Kind::Int, json!(3.0)), Ok(json!(3)));
        assert!(coerce_kind(Kind::Int, json!(3.5)).is_err());
        assert_eq!(coerce_kind(Kind::Str, json!(5)), Ok(json!("5")));
        assert_eq!(
            coerce_kind(Kind::Dict, json!(r#"{"a":1}"#)),
            Ok(json!({"a": 1}))
        );
    }

    #[test]
    fn unknown_option_names_key_and_lists_valid_ones() {
        let err = run(json!({"name": "x", "colour": "red"})).unwrap_err();
        assert!(err.0.contains("colour"), "{err}");
        assert!(err.0.contains("backup, balance, binds"), "{err}");
        let Value::Object(map) = json!({"name": "x", "colour": "red"}) else {
            panic!()
        };
        let (out, dropped) = normalize(SPEC, map, "test", true).unwrap();
        assert_eq!(dropped, vec!["colour"]);
        assert!(!out.contains_key("colour"));
    }

    #[test]
    fn wrong_type_names_option_and_expectation() {
        let err = run(json!({"name": "x", "port": "http"})).unwrap_err();
        assert_eq!(
            err.0,
            "option 'port' (in test) expects an integer: got string 'http'"
        );
    }

    #[test]
    fn required_and_choices() {
        let err = run(json!({})).unwrap_err();
        assert!(
            err.0.starts_with("missing required arguments: name"),
            "{err}"
        );
        let err = run(json!({"name": "x", "balance": "random"})).unwrap_err();
        assert!(err
            .0
            .contains("must be one of: leastconn, roundrobin; got: random"));
    }

    #[test]
    fn suboptions_are_validated_with_their_path() {
        let err = run(json!({"name": "x", "servers": [{"name": "a"}, {"port": 1}]})).unwrap_err();
        assert!(
            err.0
                .contains("missing required arguments: name (in servers[1])"),
            "{err}"
        );
        let err = run(json!({"name": "x", "servers": [{"name": "a", "bogus": 1}]})).unwrap_err();
        assert!(
            err.0.contains("(servers[0])") && err.0.contains("bogus"),
            "{err}"
        );
        let out = run(json!({"name": "x", "servers": [{"name": "a", "port": "80"}]})).unwrap();
        assert_eq!(out["servers"], json!([{"name": "a", "port": 80}]));
    }

    #[test]
    fn secrets_are_collected_and_censored() {
        let out = run(json!({"name": "x", "password": "s3cret"})).unwrap();
        let mut secrets = vec![];
        secret_values(SPEC, &out, &mut secrets);
        assert_eq!(secrets, vec!["s3cret"]);
        let shown = censor(SPEC, &out);
        assert_eq!(
            shown["password"],
            json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
        );
        assert_eq!(shown["name"], json!("x"));
    }
}
