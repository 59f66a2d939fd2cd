//! A small YAML emitter for JSON values: block style, two-space indentation, sequences indented
//! under their key (as yamllint's default style wants), mapping keys sorted, so the same value
//! always gives the same bytes.
//!
//! The reader of a manifest is the kubelet, whose YAML library follows YAML 1.1, where `yes`,
//! `on`, `0640`, `1:30` or `2001-12-14` are not strings. So a string is written plain only when
//! no YAML 1.1 or 1.2 resolver could take it for anything but that string, and double-quoted
//! otherwise; multi-line text is written as a literal block when that is exact. Numbers and
//! booleans are written so that both YAML versions read them back as the same type.
//!
//! Why not serde_norway (the maintained serde_yaml fork, used by the tests to read YAML): it
//! quotes only what YAML 1.2 would mistype and writes `on`, `yes`, `1_000`, `2001-12-14` and
//! `<<` plain, which the kubelet reads as booleans, numbers, dates or a merge key, so an env
//! value `"on"` would make the pod invalid. JSON (also YAML) would be safe but unkind to the
//! people who read manifests.

use serde_json::{Map, Number, Value};

/// `value` as a YAML document (no `---` marker), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        Value::String(s) if literal_ok(s) => write_literal(&mut out, s, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// Implicit keys may be at most 1024 characters; longer ones use the explicit `? key` form.
const MAX_IMPLICIT_KEY: usize = 1000;

fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, inline_first: bool) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        let key_text = string_scalar(key, true);
        if key_text.chars().count() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key_text);
            out.push('\n');
            pad(out, indent);
        } else {
            out.push_str(&key_text);
        }
        out.push(':');
        write_value(out, &map[key.as_str()], indent, false);
    }
}

/// A value after `key:` (or `? key` + `:`), or after a sequence's `-` (`after_dash`, where a
/// nested collection starts on the same line), at `indent`.
fn write_value(out: &mut String, value: &Value, indent: usize, after_dash: bool) {
    let nested = if after_dash { ' ' } else { '\n' };
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push(nested);
            write_map(out, map, indent + 2, after_dash);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push(nested);
            write_seq(out, items, indent + 2, after_dash);
        }
        Value::String(s) if literal_ok(s) => {
            out.push(' ');
            write_literal(out, s, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize, inline_first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push('-');
        write_value(out, item, indent, true);
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar or empty collection on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string_scalar(s, false),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Integers as they are; floats always with a `.` and a signed exponent, which YAML 1.1
/// (`1e5` is a string there) and 1.2 both read as floats.
fn number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let text = n.to_string();
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_owned(), Some(e.to_owned())),
        None => (text, None),
    };
    let mut out = mantissa;
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(e) = exponent {
        out.push('e');
        if !e.starts_with(['-', '+']) {
            out.push('+');
        }
        out.push_str(&e);
    }
    out
}

/// A string on one line: plain when that is unambiguous, else double-quoted.
fn string_scalar(s: &str, is_key: bool) -> String {
    if plain_ok(s, is_key) {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

/// Words YAML 1.1 reads as booleans or null (compared case-insensitively, to be safe).
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
];

/// Whether `s` can be written without quotes and read back as this string by YAML 1.1 and 1.2
/// parsers. Deliberately conservative: quoting a string that did not need it costs nothing.
pub fn plain_ok(s: &str, is_key: bool) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    if !s.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return false;
    }
    // Indicators that mean something at the start of a scalar, and `.`, `+`, `<`, `=` which
    // start YAML 1.1 floats (`.5`, `.inf`), signed numbers, the merge key `<<` and the value
    // key `=`.
    if first == ' ' || "?:,[]{}#&*!|>'\"%@`.+<=~\\".contains(first) || last == ' ' {
        return false;
    }
    if first == '-' && !option_like(s) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || last == ':' {
        return false;
    }
    if s.contains(|c: char| ",[]{}'\"\\`".contains(c)) || (is_key && s.contains(':')) {
        return false;
    }
    if RESERVED.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return false;
    }
    !looks_numeric(s)
}

/// Command-line options (`-f`, `--dont-fork`): a `-` followed by a letter, or `--` and a
/// letter. Never a sequence entry (`- x`), a number (`-1`, `-.5`), `-.inf` or `---`.
fn option_like(s: &str) -> bool {
    let rest = s.strip_prefix("--").or_else(|| s.strip_prefix('-'));
    rest.is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// Anything a YAML 1.1 or 1.2 resolver might take for an integer, float, sexagesimal number or
/// timestamp: starts with a digit and uses only digits, hex letters, the base prefixes `x o b`,
/// `_ . : + -`, spaces, and the timestamp letters `t z`.
fn looks_numeric(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoObBtTzZ_.:+- ".contains(c))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            // C0 and C1 controls, DEL (not printable in YAML; NEL is a line break in 1.1).
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            // Line and paragraph separators (line breaks in 1.1), the byte order mark and
            // the non-characters YAML does not allow.
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Multi-line text that a literal block (`|` or `|-`) reproduces exactly and readably:
/// printable ASCII lines, no trailing spaces, no leading space or blank first line (which
/// would need an indentation indicator), at most one final newline.
fn literal_ok(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    body.contains('\n')
        && !body.ends_with('\n')
        && !s.starts_with([' ', '\n'])
        && s.chars()
            .all(|c| c == '\n' || c == ' ' || c.is_ascii_graphic())
        && body.split('\n').all(|line| !line.ends_with(' '))
}

/// `|` (one final newline) or `|-` (none), then the lines at `indent + 2`; blank lines empty.
fn write_literal(out: &mut String, s: &str, indent: usize) {
    let (body, header) = match s.strip_suffix('\n') {
        Some(body) => (body, "|"),
        None => (s, "|-"),
    };
    out.push_str(header);
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, indent + 2);
            out.push_str(line);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_layout() {
        let v = json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "haproxy", "labels": {"k8s-app": "kube-haproxy"}},
            "spec": {
                "hostNetwork": true,
                "containers": [{"name": "haproxy", "args": ["-f", "/x"], "ports": []}],
                "volumes": [{"name": "a", "hostPath": {"path": "/etc/haproxy"}}],
                "nested": [["a", "b"], [], {}],
            },
        });
        assert_eq!(
            to_yaml(&v),
            "apiVersion: v1\n\
             kind: Pod\n\
             metadata:\n\
             \x20 labels:\n\
             \x20   k8s-app: kube-haproxy\n\
             \x20 name: haproxy\n\
             spec:\n\
             \x20 containers:\n\
             \x20   - args:\n\
             \x20       - -f\n\
             \x20       - /x\n\
             \x20     name: haproxy\n\
             \x20     ports: []\n\
             \x20 hostNetwork: true\n\
             \x20 nested:\n\
             \x20   - - a\n\
             \x20     - b\n\
             \x20   - []\n\
             \x20   - {}\n\
             \x20 volumes:\n\
             \x20   - hostPath:\n\
             \x20       path: /etc/haproxy\n\
             \x20     name: a\n"
        );
    }

    #[test]
    fn strings_yaml_would_mistype_are_quoted() {
        for s in [
            "",
            "yes",
            "Yes",
            "NO",
            "on",
            "Off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "Null",
            "~",
            "0640",
            "640",
            "1.0",
            "1e5",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "12:30",
            "190:20:30.15",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            ".inf",
            "-.inf",
            ".NaN",
            ".5",
            "+1",
            "-1",
            "<<",
            "=",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "end:",
            "- item",
            "? key",
            "[x]",
            "{y}",
            "a,b",
            "*alias",
            "&anchor",
            "!tag",
            "|",
            ">",
            "%dir",
            "@at",
            "`tick",
            "'single'",
            "\"double\"",
            "back\\slash",
            "tab\tx",
            "line\nbreak",
            "caf\u{e9}",
            "---",
            "...",
            "#comment",
        ] {
            assert!(!plain_ok(s, false), "{s:?} must be quoted");
        }
        for s in [
            "v1",
            "Pod",
            "kube-system",
            "25m",
            "32M",
            "64Mi",
            "1Gi",
            "IfNotPresent",
            "/healthz",
            "docker.io/library/nginx:1.25.2-alpine",
            "kubernetes.io/os",
            "k8s-app",
            "a#b",
            "a:b",
            "NET_ADMIN",
            "system-node-critical",
            "ClusterFirstWithHostNet",
            "hello world",
            "6443/TCP",
            "yesterday",
            "note",
            "offline",
            "nullable",
            "x1",
            "e5",
            "-f",
            "--dont-fork",
            "--log-console",
        ] {
            assert!(plain_ok(s, false), "{s:?} may be plain");
        }
        assert!(!plain_ok("a:b", true), "keys with ':' are quoted");
    }

    #[test]
    fn double_quoting_escapes_what_yaml_cannot_print() {
        assert_eq!(double_quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(double_quoted("\u{7}\u{7f}\u{85}"), r#""\x07\x7F\x85""#);
        assert_eq!(double_quoted("\u{2028}\u{feff}"), r#""\u2028\uFEFF""#);
        assert_eq!(
            double_quoted("caf\u{e9} \u{1f600}"),
            "\"caf\u{e9} \u{1f600}\""
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(to_yaml(&json!(null)), "null\n");
        assert_eq!(to_yaml(&json!(true)), "true\n");
        assert_eq!(to_yaml(&json!(-42)), "-42\n");
        assert_eq!(to_yaml(&json!(u64::MAX)), "18446744073709551615\n");
        assert_eq!(to_yaml(&json!(1.0)), "1.0\n");
        assert_eq!(to_yaml(&json!(1e100)), "1.0e+100\n");
        assert_eq!(to_yaml(&json!(1.5e-7)), "1.5e-7\n");
        assert_eq!(to_yaml(&json!("0640")), "\"0640\"\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!([])), "[]\n");
    }

    #[test]
    fn multi_line_text_as_literal_blocks() {
        let v = json!({"script": "set -e\nexec haproxy\n", "cmd": ["a\n  b", "x\n\ny"]});
        assert_eq!(
            to_yaml(&v),
            "cmd:\n  - |-\n    a\n      b\n  - |-\n    x\n\n    y\nscript: |\n  set -e\n  exec haproxy\n"
        );
        // Not exact as a literal block: double-quoted instead.
        for s in [
            "a\n\n", " a\nb", "\na", "a \nb", "a\r\nb", "a\tb\nc", "single\n",
        ] {
            assert!(!literal_ok(s), "{s:?}");
        }
    }

    #[test]
    fn long_keys_use_the_explicit_form() {
        let key = "k".repeat(1500);
        let v = json!({ key.clone(): {"a": 1} });
        assert_eq!(to_yaml(&v), format!("? {key}\n:\n  a: 1\n"));
    }
}
