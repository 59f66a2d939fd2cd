//! The binary as Ansible runs it: the contract every module writing a file keeps
//! (`kubeha_runtime::testing::contract`), for etcd's environment file, and what is etcd_config's
//! own: the settings' order, `changed_settings` and `restart_needed`, secret values in diffs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::{Change, FileModule, Secret, Subject};
use kubeha_runtime::testing::{ansible_args, mode_of, tree, Binary, Run};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const PROXY: &str = "http://etcd:Pr0xy-Secret-9@proxy.example.com:3128";
const HEADER: &str = "# Managed by kubeha etcd_config: changes made by hand are overwritten.\n\
    # Read by the etcd service (systemd's EnvironmentFile=, or sourced by its init script); \
    each ETCD_* setting is an etcd flag.\n";

fn settings() -> Value {
    json!({
        "ETCD_NAME": "etcd1",
        "ETCD_DATA_DIR": "/var/lib/etcd",
        "ETCD_INITIAL_CLUSTER_STATE": "new",
    })
}

fn env_file() -> FileModule {
    FileModule {
        subject: Subject {
            binary: Binary::new(env!("CARGO_BIN_EXE_etcd_config")),
            task: |root| {
                json!({
                    "dest": root.join("etc/default/etcd"),
                    "settings": settings(),
                    "secret_settings": {"HTTPS_PROXY": PROXY},
                })
            },
            shows: ("restart_ignore", json!(["ETCD_INITIAL_"])),
            changes: true,
        },
        dest: "etc/default/etcd",
        dir_mode: 0o755,
        content: "\nETCD_DATA_DIR=/var/lib/etcd\n",
        reports: json!({
            "changed_settings": ["ETCD_DATA_DIR", "ETCD_INITIAL_CLUSTER_STATE", "ETCD_NAME", "HTTPS_PROXY"],
            "restart_needed": true,
        }),
        change: Change {
            options: json!({"settings": {"ETCD_NAME": "etcd1", "ETCD_DATA_DIR": "/srv/etcd",
                "ETCD_INITIAL_CLUSTER_STATE": "new"}}),
            before: "ETCD_DATA_DIR=/var/lib/etcd",
            after: &["ETCD_DATA_DIR=/srv/etcd"],
        },
        bad: vec![
            (
                json!({"settings": {"etcd_name": "x"}}),
                "option 'settings': 'etcd_name' is not a setting name",
            ),
            (
                json!({"settings": {"ETCD_NAME": "a\nETCD_DATA_DIR=/tmp"}}),
                "option 'settings': the value of ETCD_NAME must be one line",
            ),
            (
                json!({"settings": {"ETCD_NAME": [1]}}),
                "option 'settings': the value of ETCD_NAME must be a string, an integer or a boolean, got a list of 1 items",
            ),
            (json!({"settings": {}}), "option 'settings' must hold at least one setting"),
            (
                json!({"restart_ignore": ["etcd_"]}),
                "option 'restart_ignore' must list setting name prefixes such as ETCD_INITIAL_, got 'etcd_'",
            ),
            (json!({"dest": "etc/default/etcd"}), "option 'dest' must be an absolute path"),
            (
                json!({"settings": "not pairs"}),
                "option 'settings' (in etcd_config module) expects a dictionary",
            ),
        ],
        secret: Some(Secret {
            option: "secret_settings",
            value: PROXY,
            shown_as: "HTTPS_PROXY=********",
            tries: vec![
                json!({}),
                json!({"_ansible_check_mode": true, "settings": {"ETCD_NAME": "etcd2"}}),
                json!({"secret_settings": {"HTTPS_PROXY": PROXY, "ETCD_NAME": "x"}}),
                json!({"secret_settings": {"HTTPS_PROXY": 1.5}}),
                json!({"settings": {"ETCD_NAME": 1.5}}),
            ],
        }),
        validator: None,
    }
}

kubeha_runtime::module_tests! {
    module: etcd_config::EtcdConfig,
    fuzz: fuzz::Check {
        seed: 0x6574_6364,
        base: |sandbox| json!({"dest": sandbox.join("etcd.env"),
            "settings": {"ETCD_NAME": "etcd1", "ETCD_CLIENT_CERT_AUTH": true, "ETCD_SNAPSHOT_COUNT": 10000},
            "secret_settings": {"HTTPS_PROXY": "http://u:pw@proxy:3128"}}),
        fixed: fuzz::nothing,
    },
    file: env_file(),
    also: [backup, secret],
}

fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_etcd_config"))
}

/// The role's settings for one member, in the role's template's order (not sorted).
const MEMBER: &str = r#"{
    "ETCD_NAME": "etcd1",
    "ETCD_DATA_DIR": "/var/lib/etcd",
    "ETCD_LISTEN_CLIENT_URLS": "https://10.199.0.11:2379,https://127.0.0.1:2379",
    "ETCD_ADVERTISE_CLIENT_URLS": "https://10.199.0.11:2379",
    "ETCD_LISTEN_PEER_URLS": "https://10.199.0.11:2380",
    "ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://10.199.0.11:2380",
    "ETCD_INITIAL_CLUSTER": "etcd1=https://10.199.0.11:2380,etcd2=https://10.199.0.12:2380",
    "ETCD_INITIAL_CLUSTER_STATE": "new",
    "ETCD_INITIAL_CLUSTER_TOKEN": "k8s_etcd",
    "ETCD_CLIENT_CERT_AUTH": true,
    "ETCD_SNAPSHOT_COUNT": 10000
}"#;

/// The member's lines, in that order.
const MEMBER_LINES: &str = "\
ETCD_NAME=etcd1
ETCD_DATA_DIR=/var/lib/etcd
ETCD_LISTEN_CLIENT_URLS=https://10.199.0.11:2379,https://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=https://10.199.0.11:2379
ETCD_LISTEN_PEER_URLS=https://10.199.0.11:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.199.0.11:2380
ETCD_INITIAL_CLUSTER=etcd1=https://10.199.0.11:2380,etcd2=https://10.199.0.12:2380
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd
ETCD_CLIENT_CERT_AUTH=true
ETCD_SNAPSHOT_COUNT=10000
";

/// The member's settings with `changes` (JSON object text, `"KEY": value, ...`) replacing or
/// adding some, keeping the order; a key set to null is left out.
fn member(changes: &str) -> String {
    let changes: Value = serde_json::from_str(&format!("{{{changes}}}")).unwrap();
    let mut out = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    // The order of MEMBER's text, then the new keys (serde_json's Map sorts).
    for line in MEMBER.lines().filter_map(|l| l.trim().strip_prefix('"')) {
        keys.push(line.split('"').next().unwrap().to_owned());
    }
    let base: Value = serde_json::from_str(MEMBER).unwrap();
    for key in &keys {
        match changes.get(key) {
            Some(Value::Null) => {}
            Some(value) => out.push(format!("{key:?}: {value}")),
            None => out.push(format!("{key:?}: {}", base[key])),
        }
    }
    for (key, value) in changes.as_object().unwrap() {
        if !keys.contains(key) && !value.is_null() {
            out.push(format!("{key:?}: {value}"));
        }
    }
    format!("{{{}}}", out.join(", "))
}

struct Host {
    _dir: tempfile::TempDir,
    dest: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("etc/default/etcd");
        Host { _dir: dir, dest }
    }

    /// A task whose `settings` are the JSON object text `settings` (its order kept, as Ansible
    /// sends it), with `extra` options and `_ansible_*` keys.
    fn run(&self, settings: &str, extra: Value) -> Run {
        let mut args = ansible_args("etcd_config", &json!({"dest": self.dest}));
        kubeha_runtime::testing::merge(&mut args, &extra);
        let text = args.to_string();
        let text = format!("{}, \"settings\": {settings}}}", &text[..text.len() - 1]);
        binary().run_text(&text)
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.dest).unwrap()
    }

    fn old_file(&self, text: &str) {
        std::fs::create_dir_all(self.dest.parent().unwrap()).unwrap();
        std::fs::write(&self.dest, text).unwrap();
    }
}

/// `changed`, `changed_settings` and `restart_needed` of a run.
fn outcome(r: &Run) -> (bool, Vec<String>, bool) {
    let changed: Vec<String> = serde_json::from_value(r.answer["changed_settings"].clone())
        .unwrap_or_else(|_| panic!("{}", r.stdout));
    let restart = r.answer["restart_needed"].as_bool().unwrap();
    (r.changed(), changed, restart)
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn settings_are_written_in_the_tasks_order_after_the_header() {
    let host = Host::new();
    let r = host.run(MEMBER, json!({})).ok();
    assert_eq!(host.text(), format!("{HEADER}{MEMBER_LINES}"));
    let mut all: Vec<&str> = MEMBER_LINES
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(outcome(&r), (true, names(&all), true), "a new file");

    let again = host.run(MEMBER, json!({})).ok();
    assert_eq!(outcome(&again), (false, vec![], false), "identical");
    assert_eq!(again.answer["msg"], json!("nothing to change"));
}

#[test]
fn which_changes_need_a_restart() {
    let cases: &[(&str, &[&str], bool)] = &[
        (
            r#""ETCD_INITIAL_CLUSTER_STATE": "existing""#,
            &["ETCD_INITIAL_CLUSTER_STATE"],
            false,
        ),
        (
            r#""ETCD_INITIAL_CLUSTER": "etcd1=https://10.199.0.11:2380", "ETCD_INITIAL_CLUSTER_TOKEN": "t""#,
            &["ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_TOKEN"],
            false,
        ),
        (
            r#""ETCD_SNAPSHOT_COUNT": 5000"#,
            &["ETCD_SNAPSHOT_COUNT"],
            true,
        ),
        (
            r#""ETCD_INITIAL_CLUSTER_STATE": "existing", "ETCD_CLIENT_CERT_AUTH": false"#,
            &["ETCD_CLIENT_CERT_AUTH", "ETCD_INITIAL_CLUSTER_STATE"],
            true,
        ),
        (
            r#""ETCD_SNAPSHOT_COUNT": null"#,
            &["ETCD_SNAPSHOT_COUNT"],
            true,
        ),
        (
            r#""ETCD_INITIAL_CLUSTER_TOKEN": null"#,
            &["ETCD_INITIAL_CLUSTER_TOKEN"],
            false,
        ),
        (
            r#""ETCD_HEARTBEAT_INTERVAL": 250"#,
            &["ETCD_HEARTBEAT_INTERVAL"],
            true,
        ),
    ];
    for (changes, changed, restart) in cases {
        let host = Host::new();
        host.run(MEMBER, json!({})).ok();
        let wanted = (true, names(changed), *restart);
        for check_mode in [true, false] {
            let before = host.text();
            let r = host
                .run(&member(changes), json!({"_ansible_check_mode": check_mode}))
                .ok();
            assert_eq!(outcome(&r), wanted, "{changes} (check mode {check_mode})");
            if check_mode {
                assert_eq!(host.text(), before, "check mode changed nothing");
            }
        }
        assert_eq!(
            outcome(&host.run(&member(changes), json!({})).ok()),
            (false, vec![], false)
        );
    }
}

#[test]
fn order_comments_and_attributes_alone_need_no_restart() {
    let host = Host::new();
    host.run(MEMBER, json!({})).ok();
    // Reordered: the file is rewritten, no setting changed.
    let reordered = r#"{"ETCD_SNAPSHOT_COUNT": 10000, "ETCD_CLIENT_CERT_AUTH": true, "ETCD_INITIAL_CLUSTER_TOKEN": "k8s_etcd",
        "ETCD_INITIAL_CLUSTER_STATE": "new", "ETCD_INITIAL_CLUSTER": "etcd1=https://10.199.0.11:2380,etcd2=https://10.199.0.12:2380",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://10.199.0.11:2380", "ETCD_LISTEN_PEER_URLS": "https://10.199.0.11:2380",
        "ETCD_ADVERTISE_CLIENT_URLS": "https://10.199.0.11:2379",
        "ETCD_LISTEN_CLIENT_URLS": "https://10.199.0.11:2379,https://127.0.0.1:2379", "ETCD_DATA_DIR": "/var/lib/etcd",
        "ETCD_NAME": "etcd1"}"#;
    let r = host.run(reordered, json!({})).ok();
    assert_eq!(outcome(&r), (true, vec![], false));
    assert!(host
        .text()
        .ends_with("ETCD_DATA_DIR=/var/lib/etcd\nETCD_NAME=etcd1\n"));

    // The role's template's file: other comments, values quoted another way, blank lines.
    host.old_file(&format!(
        "# Ansible managed\n# Read by the etcd service (Debian's /etc/default/etcd); every setting is an etcd flag.\n\n{}",
        MEMBER_LINES.replace("ETCD_NAME=etcd1", "ETCD_NAME=\"etcd1\"")
    ));
    let r = host.run(MEMBER, json!({"_ansible_diff": true})).ok();
    assert_eq!(outcome(&r), (true, vec![], false));
    assert_eq!(r.answer["diff"][0]["before_header"], json!(host.dest));
    assert_eq!(host.text(), format!("{HEADER}{MEMBER_LINES}"));

    // Mode alone.
    let r = host.run(MEMBER, json!({"mode": "0644"})).ok();
    assert_eq!(outcome(&r), (true, vec![], false));
    assert_eq!(mode_of(&host.dest), 0o644);
}

#[test]
fn restart_ignore_says_which_prefixes_need_no_restart() {
    let host = Host::new();
    host.run(MEMBER, json!({})).ok();
    let changes = member(r#""ETCD_INITIAL_CLUSTER_STATE": "existing", "ETCD_SNAPSHOT_COUNT": 1"#);
    let every = host.run(
        &changes,
        json!({"restart_ignore": [], "_ansible_check_mode": true}),
    );
    assert!(
        outcome(&every.ok()).2,
        "an empty list: every change restarts"
    );
    let r = host.run(
        &changes,
        json!({"restart_ignore": "ETCD_INITIAL_,ETCD_SNAP", "_ansible_check_mode": true}),
    );
    assert!(
        !outcome(&r.ok()).2,
        "ad-hoc's comma-separated string is a list"
    );
}

#[test]
fn a_file_that_is_not_ours_is_replaced_and_backed_up_when_asked() {
    let host = Host::new();
    let debians = "## etcd(1) daemon options\n## See \"/usr/share/doc/etcd-server/op-guide/configuration.md.gz\"\n#ETCD_NAME=default\n";
    host.old_file(debians);
    let r = host.run(MEMBER, json!({"backup": true})).ok();
    assert!(outcome(&r).2, "every setting is new to it");
    let backup = r.answer["backup_file"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(backup).unwrap(), debians);
    assert!(host.text().starts_with("# Managed by kubeha"));
    assert_eq!(
        tree(host.dest.parent().unwrap()).len(),
        2,
        "the file and its backup"
    );
}

#[test]
fn a_diff_masks_old_and_new_secret_values() {
    let host = Host::new();
    host.old_file(&format!(
        "{HEADER}ETCD_NAME=etcd1\nHTTPS_PROXY=http://u:0ld-Secret@p:3128\n"
    ));
    let r = host.run(
        r#"{"ETCD_NAME": "etcd1"}"#,
        json!({"secret_settings": {"HTTPS_PROXY": PROXY}, "_ansible_diff": true}),
    );
    let r = r.ok();
    assert!(
        !r.stdout.contains("0ld-Secret") && !r.stdout.contains(PROXY),
        "{}",
        r.stdout
    );
    let diff = &r.answer["diff"][0];
    assert_eq!(
        diff["before"],
        json!(format!("{HEADER}ETCD_NAME=etcd1\nHTTPS_PROXY=********\n"))
    );
    assert_eq!(diff["after"], diff["before"]);
    assert_eq!(outcome(&r), (true, names(&["HTTPS_PROXY"]), true));
    assert!(host.text().ends_with(&format!("HTTPS_PROXY={PROXY}\n")));
}

#[test]
fn values_other_than_plain_text_are_quoted_for_both_readers() {
    let host = Host::new();
    let r = host.run(
        r#"{"ETCD_NAME": "a b", "ETCD_X": "say \"hi\" $HOME", "ETCD_B": false, "ETCD_N": 18446744073709551615, "ETCD_E": ""}"#,
        json!({}),
    );
    r.ok();
    assert!(host.text().ends_with(
        "ETCD_NAME=\"a b\"\nETCD_X=\"say \\\"hi\\\" \\$HOME\"\nETCD_B=false\nETCD_N=18446744073709551615\nETCD_E=\n"
    ));
}

#[test]
fn owner_and_group_are_set() {
    let host = Host::new();
    // Whoever runs the tests owns the temp dir: an owner they can give a file.
    let meta = std::fs::metadata(host._dir.path()).unwrap();
    let (uid, gid) = (meta.uid().to_string(), meta.gid().to_string());
    let r = host
        .run(
            MEMBER,
            json!({"owner": uid, "group": gid, "mode": "u=rw,g=r,o=r"}),
        )
        .ok();
    assert_eq!(r.answer["uid"], json!(meta.uid()));
    let file = std::fs::metadata(&host.dest).unwrap();
    assert_eq!(
        (file.uid(), file.gid(), file.mode() & 0o777),
        (meta.uid(), meta.gid(), 0o644)
    );
}

#[test]
fn adhoc_key_value_settings_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("etcd.env");
    let r = binary()
        .run(&json!({"dest": dest, "settings": "ETCD_NAME=etcd1 ETCD_DATA_DIR=/d, ETCD_A=1"}));
    r.ok();
    let text = std::fs::read_to_string(&dest).unwrap();
    assert!(
        text.ends_with("ETCD_NAME=etcd1\nETCD_DATA_DIR=/d\nETCD_A=1\n"),
        "{text}"
    );
}

#[test]
fn a_directory_at_dest_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let r = binary().run(&json!({"dest": dir.path(), "settings": {"ETCD_NAME": "x"}}));
    r.refused("is a directory");
    assert_eq!(tree(Path::new(dir.path())), Vec::<String>::new());
}
