//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use etcd_config::{check, EtcdConfig};
use kubeha_runtime::testing::{assert_refusals, refusal};
use serde_json::{json, Value};

fn error(options: &Value) -> String {
    refusal::<EtcdConfig, _>(options, check)
}

fn base() -> Value {
    json!({"dest": "/etc/default/etcd", "settings": {"ETCD_NAME": "etcd1"}})
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (json!({"dest": null}), "missing required arguments: dest"),
        (json!({"settings": null}), "missing required arguments: settings"),
        (json!({"dest": "default/etcd"}), "option 'dest' must be an absolute path, got 'default/etcd'"),
        (json!({"dest": ""}), "option 'dest' must be an absolute path, got ''"),
        (json!({"settings": {}}), "option 'settings' must hold at least one setting, such as ETCD_NAME"),
        (json!({"settings": ["ETCD_NAME=x"]}), "option 'settings' (in etcd_config) expects a dictionary: got a list of 1 items"),
        (json!({"settings": "ETCD_NAME"}), "option 'settings' (in etcd_config) expects a dictionary: got a string with 'ETCD_NAME', expected key=value pairs"),
        (json!({"settings": {"etcd_name": "x"}}), "option 'settings': 'etcd_name' is not a setting name: capitals, digits and '_', starting with a capital (such as ETCD_NAME)"),
        (json!({"settings": {"ETCD-NAME": "x"}}), "option 'settings': 'ETCD-NAME' is not a setting name"),
        (json!({"settings": {"1ETCD": "x"}}), "option 'settings': '1ETCD' is not a setting name"),
        (json!({"settings": {"": "x"}}), "option 'settings': '' is not a setting name"),
        (json!({"settings": {"ETCD_NAME": "a\nb"}}), "option 'settings': the value of ETCD_NAME must be one line: no line break, NUL or other control character (tab aside)"),
        (json!({"settings": {"ETCD_NAME": "a\rb"}}), "the value of ETCD_NAME must be one line"),
        (json!({"settings": {"ETCD_NAME": "a\u{0}b"}}), "the value of ETCD_NAME must be one line"),
        (json!({"settings": {"ETCD_NAME": "a\u{1b}[0m"}}), "the value of ETCD_NAME must be one line"),
        (json!({"settings": {"ETCD_NAME": 1.5}}), "option 'settings': the value of ETCD_NAME must be a string, an integer or a boolean, got number 1.5"),
        (json!({"settings": {"ETCD_NAME": null}}), "the value of ETCD_NAME must be a string, an integer or a boolean, got null"),
        (json!({"settings": {"ETCD_NAME": {"a": 1}}}), "the value of ETCD_NAME must be a string, an integer or a boolean, got a dictionary"),
        (json!({"secret_settings": {"ETCD_NAME": "x"}}), "option 'secret_settings': ETCD_NAME is in 'settings' too; give each setting once"),
        (json!({"secret_settings": {"http_proxy": "x"}}), "option 'secret_settings': 'http_proxy' is not a setting name"),
        (json!({"secret_settings": {"HTTPS_PROXY": "a\nb"}}), "option 'secret_settings': the value of HTTPS_PROXY must be one line"),
        (json!({"secret_settings": {"HTTPS_PROXY": [1]}}), "option 'secret_settings': the value of HTTPS_PROXY must be a string, an integer or a boolean, got another type"),
        (json!({"restart_ignore": [""]}), "option 'restart_ignore' must list setting name prefixes such as ETCD_INITIAL_, got ''"),
        (json!({"restart_ignore": ["ETCD_INITIAL_", "initial"]}), "got 'initial'"),
        (json!({"restart_ignore": {"a": 1}}), "option 'restart_ignore' (in etcd_config) expects a list"),
        (json!({"backup": "maybe"}), "option 'backup' (in etcd_config) expects a boolean"),
        (json!({"validate": true}), "Unsupported parameters for (etcd_config): validate. Supported parameters include: backup, dest, dir_mode, group, mode, owner, restart_ignore, secret_settings, settings."),
        (json!({"path": "/etc/default/etcd"}), "Unsupported parameters for (etcd_config): path."),
    ];
    assert_refusals(error, &base(), &cases);
}

#[test]
fn a_bad_secret_value_is_never_echoed() {
    let options = json!({"dest": "/etc/default/etcd", "settings": {"ETCD_NAME": "x"},
        "secret_settings": {"HTTPS_PROXY": {"password": "hunter2-secret"}}});
    let msg = error(&options);
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn values_of_every_accepted_type_are_text() {
    let options = json!({"dest": "/etc/default/etcd", "settings": {
        "ETCD_A": "text", "ETCD_B": true, "ETCD_C": false, "ETCD_D": -3, "ETCD_E": u64::MAX,
        "ETCD_F": "tab\there"}});
    let params = kubeha_runtime::testing::params::<EtcdConfig>(options).unwrap();
    let values: Vec<String> = check(&params)
        .unwrap()
        .into_iter()
        .map(|s| s.value)
        .collect();
    assert_eq!(
        values,
        [
            "text",
            "true",
            "false",
            "-3",
            "18446744073709551615",
            "tab\there"
        ]
    );
}
