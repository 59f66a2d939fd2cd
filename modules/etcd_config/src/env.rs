//! The environment file's format: `KEY=value` lines that both of its readers read alike.
//!
//! etcd's service reads the file in one of two ways: systemd's `EnvironmentFile=` (kubespray's
//! unit, Debian's unit), or a shell that sources it (Debian's init script runs `set -a; .
//! /etc/default/etcd` under `/bin/sh`). Their rules differ: the shell expands `$`, `` ` `` and a
//! `~` after `=`, splits at `;`, `&`, `|` and whitespace and takes ` #` as a comment, where systemd
//! takes the rest of the line literally (interior whitespace included) and expands nothing. Where
//! they agree:
//! - a value of letters, digits and `_-.,/:=@%+[]` alone (every value of the role's template:
//!   paths, URLs, `[v6]` addresses, `name=url,...` lists, `true`) means itself to both, so it is
//!   written as it is;
//! - in double quotes, both read `\"`, `\\`, `\$` and `` \` `` as the character, keep any other
//!   backslash, and keep whitespace, `#`, `'`, `~` and `;` as they are (systemd: "the same escape
//!   sequences are recognized as in POSIX shell double-quoted strings"; it expands no variable,
//!   and with the escapes the shell expands none either). So any other value is written in
//!   double quotes with those four characters escaped.
//!
//! Line breaks (a value would end at one for the shell's reading of an escaped newline, and
//! systemd joins quoted lines) and the other control characters are refused, tab aside.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// A setting's name as the module takes it: a capital, then capitals, digits and `_`
/// (`ETCD_NAME`).
pub fn is_setting_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A variable name either reader takes from an existing file: a letter or `_`, then letters,
/// digits and `_`.
fn is_variable_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a value may hold `c`: not a line break or other control character, tab aside.
pub fn allowed_in_value(c: char) -> bool {
    c == '\t' || !c.is_control()
}

/// Characters that mean themselves, unquoted, to systemd and to the shell alike.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.,/:=@%+[]".contains(c)
}

/// `value` as the file holds it (see the module docs): as it is when every character is plain,
/// else in double quotes with `"`, `\`, `$` and `` ` `` escaped.
pub fn quote(value: &str) -> Cow<'_, str> {
    if value.chars().all(is_plain) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Cow::Owned(out)
}

/// One `KEY=value` line.
pub fn line(key: &str, value: &str) -> String {
    format!("{key}={}\n", quote(value))
}

/// The name a `KEY=value` line sets, if it is one (comments, blank lines and other lines are
/// not).
pub fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start_matches([' ', '\t']);
    if line.starts_with(['#', ';']) {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim_end_matches([' ', '\t']);
    is_variable_name(key).then_some(key)
}

/// The settings an existing file holds, as systemd's `EnvironmentFile=` reads them: blank lines,
/// lines starting with `#` or `;` and lines without a variable name before `=` are skipped;
/// quotes and backslashes are read as systemd reads them (for the forms this module writes, the
/// shell reads the same); the last of a repeated name wins. One line at a time: a quoted value
/// spanning lines (which this module never writes) is read up to its line's end.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for line in text.lines() {
        let Some(key) = key_of(line) else { continue };
        let Some((_, raw)) = line.split_once('=') else {
            continue;
        };
        settings.insert(key.to_owned(), read_value(raw));
    }
    settings
}

/// One value, read with systemd's rules (`src/basic/env-file.c`): leading whitespace skipped;
/// quotes open only where a value (or a quoted part) starts, elsewhere they are literal; a
/// backslash outside quotes keeps the next character; in double quotes it escapes `"\`$` and is
/// kept before anything else; trailing unquoted whitespace dropped.
fn read_value(raw: &str) -> String {
    #[derive(Clone, Copy)]
    enum State {
        Start,
        Plain,
        Escape,
        Single,
        Double,
        DoubleEscape,
    }
    let mut out = String::new();
    // `out`'s length without trailing unquoted whitespace.
    let mut keep = 0;
    let mut state = State::Start;
    for c in raw.chars() {
        state = match (state, c) {
            (State::Start, ' ' | '\t') => State::Start,
            (State::Start, '\'') => State::Single,
            (State::Start, '"') => State::Double,
            (State::Start | State::Plain, '\\') => State::Escape,
            (State::Start | State::Plain, c) => {
                out.push(c);
                if c != ' ' && c != '\t' {
                    keep = out.len();
                }
                State::Plain
            }
            (State::Escape, c) => {
                out.push(c);
                keep = out.len();
                State::Plain
            }
            (State::Single, '\'') | (State::Double, '"') => {
                keep = out.len();
                State::Start
            }
            (State::Double, '\\') => State::DoubleEscape,
            (State::Single | State::Double, c) => {
                out.push(c);
                keep = out.len();
                state
            }
            (State::DoubleEscape, c) => {
                if !matches!(c, '"' | '\\' | '`' | '$') {
                    out.push('\\');
                }
                out.push(c);
                keep = out.len();
                State::Double
            }
        };
    }
    out.truncate(keep);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_are_written_as_they_are_and_others_quoted() {
        for plain in [
            "",
            "https://10.0.0.1:2379,https://127.0.0.1:2379",
            "https://[fd00::1]:2380",
            "etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380",
            "/etc/ssl/etcd/ssl/member-cp1.pem",
            "true",
            "k8s_etcd",
            "100%+a@b",
        ] {
            assert_eq!(quote(plain), plain);
        }
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(
            quote(r#"say "hi" \ $HOME `id`"#),
            r#""say \"hi\" \\ \$HOME \`id\`""#
        );
        assert_eq!(quote("x #y"), "\"x #y\"");
        assert_eq!(quote("~/data"), "\"~/data\"");
        assert_eq!(quote("it's"), "\"it's\"");
        assert_eq!(quote("a;b&c|d"), "\"a;b&c|d\"");
        assert_eq!(quote("é"), "\"é\"");
        assert_eq!(quote(" lead"), "\" lead\"");
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        for value in [
            "",
            "plain",
            "a b",
            "  both ends  ",
            r#"say "hi" \ $HOME `id` \n"#,
            "tab\there",
            "it's # not a comment",
            "~/x;y&z|w*?{a,b}",
            "\\",
            "\"",
            "ü ✓",
        ] {
            let text = line("ETCD_X", value);
            assert_eq!(
                parse(&text).get("ETCD_X").map(String::as_str),
                Some(value),
                "{text}"
            );
        }
    }

    #[test]
    fn files_are_read_as_systemd_reads_them() {
        let text = "\
# Managed by someone else
  ; a comment too

ETCD_NAME=etcd1
ETCD_DATA_DIR = /var/lib/etcd   
export ETCD_SKIPPED=1
lower_case=ok
1BAD=x
no equals sign
ETCD_S='single $quoted \\ kept'
ETCD_D=\"a \\x \\$b\"  \"c\"
ETCD_L=x\"y\" z
ETCD_E=a\\ b\\
ETCD_NAME=etcd2
";
        let got = parse(text);
        let want: BTreeMap<String, String> = [
            ("ETCD_NAME", "etcd2"),
            ("ETCD_DATA_DIR", "/var/lib/etcd"),
            ("lower_case", "ok"),
            ("ETCD_S", "single $quoted \\ kept"),
            ("ETCD_D", "a \\x $bc"),
            ("ETCD_L", "x\"y\" z"),
            ("ETCD_E", "a b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn names_and_values() {
        assert!(is_setting_name("ETCD_NAME") && is_setting_name("E") && is_setting_name("A1_"));
        for bad in [
            "",
            "etcd_name",
            "_ETCD",
            "1ETCD",
            "ETCD-NAME",
            "ETCD NAME",
            "ÉTCD",
        ] {
            assert!(!is_setting_name(bad), "{bad}");
        }
        assert!(allowed_in_value('\t') && allowed_in_value('é'));
        for bad in ['\n', '\r', '\0', '\x1b', '\x7f', '\u{85}'] {
            assert!(!allowed_in_value(bad), "{bad:?}");
        }
        assert_eq!(key_of("ETCD_A=1\n"), Some("ETCD_A"));
        assert_eq!(key_of("# ETCD_A=1\n"), None);
        assert_eq!(key_of("\n"), None);
    }
}
