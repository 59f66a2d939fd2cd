//! `etcd_config`: writes etcd's settings as the environment file its service reads (`KEY=value`
//! lines of `ETCD_*` flags: kubespray's `/etc/etcd.env`, Debian's `/etc/default/etcd`), and says
//! whether a running member must restart to run with them.
//!
//! etcd reads the `ETCD_INITIAL_*` settings only when it creates its data, so a change to those
//! alone needs no restart of a member that has data; nor does a change to comments, order, mode
//! or owner. `changed_settings` names the settings whose values differ from what the old file
//! set (read as systemd reads it), and `restart_needed` says whether any of them is outside
//! `restart_ignore`. The values are written so that systemd's `EnvironmentFile=` and a shell
//! sourcing the file read the same (see [`env`]).

pub mod env;

use kubeha_runtime::file::{self, FileOptions};
use kubeha_runtime::spec::describe;
use kubeha_runtime::{DefaultValue, Failure, Kind, Module, Opt, Plan};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The file's first two lines: kubeha's marker (reset.yml takes a file whose first line starts
/// with `# Managed by kubeha` for one cluster.yml wrote), then what reads the file.
pub const HEADER: &str = "# Managed by kubeha etcd_config: changes made by hand are overwritten.\n\
     # Read by the etcd service (systemd's EnvironmentFile=, or sourced by its init script); \
     each ETCD_* setting is an etcd flag.\n";

/// How a diff shows the value of a secret setting.
const MASKED: &str = "********";

/// The module.
#[derive(Debug)]
pub struct EtcdConfig;

impl Module for EtcdConfig {
    const NAME: &'static str = "etcd_config";
    // `dest` is the module's own option: required, since the two homes of the file (kubespray's
    // /etc/etcd.env, Debian's /etc/default/etcd) leave no default right for everyone. Nothing
    // checks the file before it is written: etcd has no check for its environment.
    const FILE: Option<FileOptions> = Some(FileOptions {
        dest: None,
        backup: true,
        validate: false,
        ..FileOptions::config("")
    });
    const SPEC: &'static [Opt] = &[
        Opt::path("dest").required(),
        Opt::dict("settings").required().keep_order(),
        Opt::dict("secret_settings").keep_order().no_log(),
        Opt::list("restart_ignore", Kind::Str).default(DefaultValue::Json(r#"["ETCD_INITIAL_"]"#)),
    ];
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        let settings = check(&params)?;
        let mut plan = params.file.spec(&params.dest, render(&settings))?.plan()?;
        let old = match std::fs::read(&params.dest) {
            Ok(bytes) => env::parse(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Failure::io("reading", Path::new(&params.dest), e)),
        };
        let changed = changed_settings(&old, &settings);
        let restart = changed
            .iter()
            .any(|key| !params.restart_ignore.iter().any(|p| key.starts_with(p)));
        let secret_keys: Vec<&str> = settings
            .iter()
            .filter(|s| s.secret)
            .map(|s| s.key.as_str())
            .collect();
        if !secret_keys.is_empty() {
            // The runtime scrubs the secrets' values from everything the module says, but the
            // old file may hold values that are no longer secret options: mask the lines.
            for diff in &mut plan.diffs {
                diff.before = mask(&diff.before, &secret_keys);
                diff.after = mask(&diff.after, &secret_keys);
            }
        }
        plan.set("changed_settings", changed);
        plan.set("restart_needed", restart);
        Ok(plan)
    }
}

/// The options, typed (see the sidecar `etcd_config.yml` for their meaning).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub file: file::FileParams,
    pub dest: String,
    /// In the order the task gave them.
    pub settings: Vec<(String, Value)>,
    pub secret_settings: Option<Vec<(String, Value)>>,
    pub restart_ignore: Vec<String>,
}

/// One setting, checked: its name, its value as text, and whether it is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub secret: bool,
}

/// Every option checked, each error naming its option: `dest`, `restart_ignore`, and the
/// settings, returned as `settings` then `secret_settings`, each in its order.
pub fn check(params: &Params) -> Result<Vec<Setting>, Failure> {
    if !Path::new(&params.dest).is_absolute() {
        return Err(Failure::new(format!(
            "option 'dest' must be an absolute path, got '{}'",
            params.dest
        )));
    }
    if let Some(bad) = params
        .restart_ignore
        .iter()
        .find(|p| !env::is_setting_name(p))
    {
        return Err(Failure::new(format!(
            "option 'restart_ignore' must list setting name prefixes such as ETCD_INITIAL_, \
             got '{bad}'"
        )));
    }
    checked_settings(params)
}

/// `settings` then `secret_settings`, each in its order, checked (names, types, one line).
fn checked_settings(params: &Params) -> Result<Vec<Setting>, Failure> {
    if params.settings.is_empty() {
        return Err(Failure::new(
            "option 'settings' must hold at least one setting, such as ETCD_NAME",
        ));
    }
    let mut out: Vec<Setting> = Vec::new();
    let secret = params.secret_settings.iter().flatten();
    let given = params.settings.iter().map(|s| ("settings", s, false));
    for (option, (key, value), secret) in given.chain(secret.map(|s| ("secret_settings", s, true)))
    {
        if !env::is_setting_name(key) {
            return Err(Failure::new(format!(
                "option '{option}': '{key}' is not a setting name: capitals, digits and '_', \
                 starting with a capital (such as ETCD_NAME)"
            )));
        }
        if out.iter().any(|s| s.key == *key) {
            return Err(Failure::new(format!(
                "option 'secret_settings': {key} is in 'settings' too; give each setting once"
            )));
        }
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            other => {
                let got = if secret {
                    "another type".to_owned()
                } else {
                    describe(other)
                };
                return Err(Failure::new(format!(
                    "option '{option}': the value of {key} must be a string, an integer or a \
                     boolean, got {got}"
                )));
            }
        };
        if !value.chars().all(env::allowed_in_value) {
            return Err(Failure::new(format!(
                "option '{option}': the value of {key} must be one line: no line break, NUL or \
                 other control character (tab aside)"
            )));
        }
        out.push(Setting {
            key: key.clone(),
            value,
            secret,
        });
    }
    Ok(out)
}

/// The file's text: the header, then one `KEY=value` line per setting, in order.
pub fn render(settings: &[Setting]) -> String {
    let mut text = String::from(HEADER);
    for setting in settings {
        text.push_str(&env::line(&setting.key, &setting.value));
    }
    text
}

/// The names whose values differ between the `old` file's settings and the new ones (added,
/// removed or changed), sorted.
pub fn changed_settings(old: &BTreeMap<String, String>, new: &[Setting]) -> Vec<String> {
    let new: BTreeMap<&str, &str> = new
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    let mut changed: Vec<String> = old
        .iter()
        .filter(|(key, value)| new.get(key.as_str()) != Some(&value.as_str()))
        .map(|(key, _)| key.clone())
        .collect();
    changed.extend(
        new.keys()
            .filter(|key| !old.contains_key(**key))
            .map(|key| (*key).to_owned()),
    );
    changed.sort();
    changed
}

/// `text` with the value of every line setting one of `keys` masked.
fn mask(text: &str, keys: &[&str]) -> String {
    text.split_inclusive('\n')
        .map(|line| match env::key_of(line) {
            Some(key) if keys.contains(&key) => format!("{key}={MASKED}\n"),
            _ => line.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<Setting> {
        pairs
            .iter()
            .map(|(k, v)| Setting {
                key: (*k).into(),
                value: (*v).into(),
                secret: false,
            })
            .collect()
    }

    fn old(text: &str) -> BTreeMap<String, String> {
        env::parse(text)
    }

    #[test]
    fn changed_settings_compare_values_not_lines() {
        let new = settings(&[
            ("ETCD_NAME", "etcd1"),
            ("ETCD_INITIAL_CLUSTER_STATE", "new"),
        ]);
        assert_eq!(
            changed_settings(&old(""), &new),
            ["ETCD_INITIAL_CLUSTER_STATE", "ETCD_NAME"]
        );
        let same = "# other comments\nETCD_INITIAL_CLUSTER_STATE=new\n\nETCD_NAME=\"etcd1\"\n";
        assert!(changed_settings(&old(same), &new).is_empty());
        let other = "ETCD_NAME=etcd2\nETCD_INITIAL_CLUSTER_STATE=new\nETCD_GONE=1\n";
        assert_eq!(
            changed_settings(&old(other), &new),
            ["ETCD_GONE", "ETCD_NAME"]
        );
    }

    #[test]
    fn secret_lines_are_masked_whole() {
        let text = "# x\nETCD_A=1\nETCD_PW=old secret\n  ETCD_PW = \"new\"\n";
        assert_eq!(
            mask(text, &["ETCD_PW"]),
            "# x\nETCD_A=1\nETCD_PW=********\nETCD_PW=********\n"
        );
    }

    #[test]
    fn the_header_is_kubehas_marker_then_what_reads_the_file() {
        let mut lines = HEADER.lines();
        assert!(lines.next().unwrap().starts_with("# Managed by kubeha"));
        assert!(lines.next().unwrap().contains("EnvironmentFile="));
        assert!(lines.next().is_none());
    }
}
