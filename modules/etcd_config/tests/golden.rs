//! Rendered files compared with reviewed golden files, and read back by their real readers: the
//! shell that Debian's init script sources the file with (`set -a; . /etc/default/etcd` under
//! /bin/sh), and systemd's own environment-file parser (when systemd is installed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use etcd_config::{check, render, EtcdConfig};
use kubeha_runtime::testing::{assert_golden, params_text};
use std::path::Path;
use std::process::Command;

/// `settings` (JSON object text, its order kept as Ansible sends it) rendered, compared with
/// `tests/golden/<name>`; returns the file's path and the settings as (key, value) text.
fn golden(name: &str, settings: &str) -> (std::path::PathBuf, Vec<(String, String)>) {
    let text = format!(r#"{{"dest": "/etc/default/etcd", "settings": {settings}}}"#);
    let params = params_text::<EtcdConfig>(&text).unwrap_or_else(|e| panic!("{}", e.msg));
    let settings = check(&params).unwrap_or_else(|e| panic!("{}", e.msg));
    let path = Path::new("tests/golden").join(name);
    assert_golden(&path, &render(&settings));
    let pairs = settings.into_iter().map(|s| (s.key, s.value)).collect();
    (path, pairs)
}

/// What `/bin/sh` holds in each variable after `set -a; . FILE; set +a`, as the init script does.
fn read_by_sh(path: &Path, keys: &[&str]) -> Vec<String> {
    let script = format!(
        "set -a; . \"$1\"; set +a; printf '%s\\0' {}",
        keys.iter()
            .map(|k| format!("\"${k}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &script, "sh"])
        .arg(path)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_terminator('\0').map(str::to_owned).collect()
}

/// systemd's environment-file parser (the one behind `EnvironmentFile=`), as the
/// environment.d generator runs it on a copy of the file; `None` without systemd. The generator
/// then expands `$VAR` and drops empty values, which `EnvironmentFile=` does not (systemd's
/// `test_load_env_file_5`: `a=` is `a` set to ""): compare only values without `$`, not empty.
fn read_by_systemd(path: &Path, keys: &[&str]) -> Option<Vec<String>> {
    let generator = Path::new(
        "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator",
    );
    if !generator.exists() {
        eprintln!("no systemd here: {} is missing", generator.display());
        return None;
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("environment.d")).unwrap();
    std::fs::copy(path, home.path().join("environment.d/90-etcd.conf")).unwrap();
    let out = Command::new(generator)
        .env_clear()
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let read: std::collections::BTreeMap<&str, String> = printed
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key, unprint(value)))
        .collect();
    Some(
        keys.iter()
            .map(|k| read.get(k).cloned().unwrap_or_default())
            .collect(),
    )
}

/// A value as the generator prints it: as it is, or in double quotes with C escapes (`\t`,
/// `\"`, `\\`, `\$`, ...).
fn unprint(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
            other => panic!("an escape this test does not know: \\{other:?} in {value}"),
        }
    }
    out
}

/// The role's settings for the first member of a three-member TLS cluster, in the order of
/// `etcd_env_settings` (roles/etcd/vars/main.yml): the `KEY=value` lines of the template the
/// role wrote before etcd_config, below kubeha's marker instead of `# Ansible managed`.
#[test]
fn role_member() {
    let (path, settings) = golden(
        "role-member.env",
        r#"{
            "ETCD_NAME": "etcd1",
            "ETCD_DATA_DIR": "/var/lib/etcd",
            "ETCD_LISTEN_CLIENT_URLS": "https://10.199.0.11:2379,https://127.0.0.1:2379",
            "ETCD_ADVERTISE_CLIENT_URLS": "https://10.199.0.11:2379",
            "ETCD_LISTEN_PEER_URLS": "https://10.199.0.11:2380",
            "ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://10.199.0.11:2380",
            "ETCD_INITIAL_CLUSTER": "etcd1=https://10.199.0.11:2380,etcd2=https://10.199.0.12:2380,etcd3=https://10.199.0.13:2380",
            "ETCD_INITIAL_CLUSTER_STATE": "new",
            "ETCD_INITIAL_CLUSTER_TOKEN": "k8s_etcd",
            "ETCD_CLIENT_CERT_AUTH": true,
            "ETCD_TRUSTED_CA_FILE": "/etc/ssl/etcd/ssl/ca.pem",
            "ETCD_CERT_FILE": "/etc/ssl/etcd/ssl/member-etcd1.pem",
            "ETCD_KEY_FILE": "/etc/ssl/etcd/ssl/member-etcd1-key.pem",
            "ETCD_PEER_CLIENT_CERT_AUTH": true,
            "ETCD_PEER_TRUSTED_CA_FILE": "/etc/ssl/etcd/ssl/ca.pem",
            "ETCD_PEER_CERT_FILE": "/etc/ssl/etcd/ssl/member-etcd1.pem",
            "ETCD_PEER_KEY_FILE": "/etc/ssl/etcd/ssl/member-etcd1-key.pem"
        }"#,
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Managed by kubeha etcd_config"));
    assert!(text.contains("\nETCD_NAME=etcd1\nETCD_DATA_DIR=/var/lib/etcd\n"));
    assert!(!text.contains('"'), "nothing of the role's needs quoting");
    check_readers(&path, &settings);
}

/// An IPv6 member: `[v6]` URLs are plain text to both readers.
#[test]
fn ipv6_member() {
    let (path, settings) = golden(
        "ipv6-member.env",
        r#"{
            "ETCD_NAME": "cp1",
            "ETCD_LISTEN_CLIENT_URLS": "https://[fd00:199::11]:2379,https://[::1]:2379",
            "ETCD_INITIAL_CLUSTER": "cp1=https://[fd00:199::11]:2380",
            "ETCD_HEARTBEAT_INTERVAL": 250,
            "ETCD_ELECTION_TIMEOUT": 2500,
            "ETCD_ENABLE_V2": false
        }"#,
    );
    assert!(!std::fs::read_to_string(&path).unwrap().contains('"'));
    check_readers(&path, &settings);
}

/// Values either reader would take differently if written bare, written so both read them alike.
#[test]
fn values_that_need_quoting() {
    let (path, settings) = golden(
        "quoting.env",
        r#"{
            "ETCD_SPACES": "two words",
            "ETCD_ENDS": "  padded  ",
            "ETCD_QUOTES": "say \"hi\", it's",
            "ETCD_DOLLAR": "$HOME ${PATH} $(id) `id`",
            "ETCD_BACKSLASH": "C:\\etcd\\ and \\n and \\",
            "ETCD_HASH": "x #not a comment",
            "ETCD_TILDE": "~/data:~root",
            "ETCD_SHELL": "a;b&c|d<e>f(g)*?{h,i}!",
            "ETCD_TAB": "a\tb",
            "ETCD_UNICODE": "café ✓",
            "ETCD_EMPTY": ""
        }"#,
    );
    check_readers(&path, &settings);
}

fn check_readers(path: &Path, settings: &[(String, String)]) {
    let keys: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
    let values: Vec<&str> = settings.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        read_by_sh(path, &keys),
        values,
        "as /bin/sh reads {}",
        path.display()
    );
    if let Some(read) = read_by_systemd(path, &keys) {
        for ((key, want), got) in settings.iter().zip(read) {
            if !want.contains('$') && !want.is_empty() {
                assert_eq!(&got, want, "{key} as systemd reads {}", path.display());
            }
        }
    }
}
