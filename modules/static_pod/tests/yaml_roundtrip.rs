//! The YAML emitter's output, read back by a real YAML parser (serde_norway, libyaml-based),
//! gives the same value: for hand-picked tricky strings and for thousands of generated ones.
//! (tests/ansible/test_static_pod.py reads manifests back with PyYAML, a YAML 1.1 reader.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use static_pod::yaml::to_yaml;

fn round_trip(value: &Value) {
    let text = to_yaml(value);
    let back: Value = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("parse error {e} for {value}:\n{text}"));
    assert_eq!(&back, value, "round trip changed the value:\n{text}");
}

const TRICKY: &[&str] = &[
    "",
    " ",
    "  ",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "~",
    "NULL",
    "0640",
    "0o640",
    "0x1F",
    "0b11",
    "1_000",
    "1e5",
    "1E-5",
    "1.0",
    ".5",
    "-.5",
    "+1",
    "-1",
    "12:30",
    "190:20:30",
    "2001-12-14",
    "2001-12-14T21:59:43.10Z",
    ".inf",
    "-.Inf",
    ".nan",
    "<<",
    "=",
    "- x",
    "-x",
    "? x",
    "?x",
    ": x",
    "a: b",
    "a:b",
    "a :b",
    "a:",
    "a #b",
    "a#b",
    "#x",
    "[a]",
    "{a: 1}",
    "a, b",
    "*x",
    "&x",
    "!x",
    "!!str",
    "|",
    "|-",
    ">",
    "%x",
    "@x",
    "`x",
    "'x'",
    "\"x\"",
    "x\\y",
    "\\",
    "---",
    "...",
    "--- x",
    "a\nb",
    "a\n",
    "a\n\n",
    "\na",
    " a\nb",
    "a \nb",
    "a\r\nb",
    "tab\there",
    "\t",
    "caf\u{e9}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}x",
    "\u{7f}",
    "\u{1}",
    "\0",
    "\u{1f600}",
    "#!/bin/sh\nset -e\nexec nginx\n",
    "key: value\n  - item\n",
    "ends with colon:",
    "  leading",
    "trailing  ",
    "25m",
    "32M",
    "64Mi",
    "docker.io/library/nginx:1.25.2-alpine",
    "/healthz",
    "6443",
    "6443/TCP",
];

#[test]
fn tricky_strings_as_values_keys_and_items() {
    for s in TRICKY {
        round_trip(&json!({ "k": s }));
        round_trip(&json!({ *s: "v" }));
        round_trip(&json!([s, [s], {"k": [s]}]));
        round_trip(&json!(s));
    }
}

#[test]
fn numbers_and_other_scalars() {
    for v in [
        json!(0),
        json!(-1),
        json!(6443),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(0.5),
        json!(-2.25),
        json!(1e300),
        json!(1.5e-7),
        json!(123456789.0),
        json!(true),
        json!(false),
        json!(null),
        json!({}),
        json!([]),
        json!({"a": {}, "b": [], "c": [{}], "d": [[]]}),
    ] {
        round_trip(&json!({ "v": v }));
        round_trip(&json!([v]));
    }
}

#[test]
fn deep_nesting() {
    // Each level holds the one below once (holding it twice would double the size per level).
    let mut v = json!("leaf");
    for i in 0..40 {
        v = if i % 2 == 0 {
            json!({ format!("k{i}"): v, "z": [1, "yes"] })
        } else {
            json!([{"x": v}, [], "-"])
        };
    }
    round_trip(&v);
}

#[test]
fn long_keys() {
    round_trip(&json!({ "k".repeat(1500): {"a": [1, 2]}, "x": 1 }));
    round_trip(&json!({ "k".repeat(1500): [1, {"b": 2}] }));
    round_trip(&json!({ "k".repeat(1500): "v" }));
}

/// A small deterministic generator (no extra crates): strings from an alphabet of the
/// characters YAML treats specially, in every position.
#[test]
fn generated_strings() {
    let alphabet: Vec<char> =
        "aZ019 -:#.'\"\\\n\tyexob_/{[,&*!|>%@`~+<=?\u{e9}\u{85}\u{2028}\u{7f}\u{1}\r\u{feff}t"
            .chars()
            .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    for _ in 0..20_000 {
        let len = next(9);
        let s: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
        round_trip(&json!({ s.clone(): [s.clone(), {"v": s}] }));
    }
}
