//! `packages`: installs, upgrades or removes OS packages with the host's own package manager
//! (apt, dnf, yum, zypper), found on the host. It asks first (`dpkg-query`, `rpm -q`, the
//! repositories' candidates), so a run that finds everything in place changes nothing, and check
//! mode reports exactly what would be installed. Non-interactive; config files the admin changed
//! are kept (`--force-confold`).

pub mod manager;

use kubeha_runtime::{Action, DefaultValue, Diff, Failure, Kind, Module, Opt, Plan};
use manager::{Manager, Versions};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The module.
#[derive(Debug)]
pub struct Packages;

/// The options, typed (see the sidecar `packages.yml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub name: Vec<String>,
    pub state: String,
    pub update_cache: bool,
    pub cache_valid_time: i64,
    pub manager: String,
    pub install_recommends: Option<bool>,
}

impl Module for Packages {
    const NAME: &'static str = "packages";
    const SPEC: &'static [Opt] = &[
        Opt::list("name", Kind::Str).required(),
        Opt::str("state")
            .choices(&["present", "latest", "absent"])
            .default(DefaultValue::Str("present")),
        Opt::bool("update_cache").default(DefaultValue::Bool(false)),
        Opt::int("cache_valid_time").default(DefaultValue::Int(0)),
        Opt::str("manager")
            .choices(&["auto", "apt", "dnf", "yum", "zypper"])
            .default(DefaultValue::Str("auto")),
        Opt::bool("install_recommends"),
    ];
    type Params = Params;

    fn prepare(params: &Params) -> Result<Map<String, Value>, Failure> {
        let mut fields = Map::new();
        if !params.update_cache {
            return Ok(fields);
        }
        let manager = manager_for(params)?;
        let max_age = Duration::from_secs(params.cache_valid_time.max(0) as u64);
        let fresh =
            params.cache_valid_time > 0 && manager.cache_age().is_some_and(|age| age < max_age);
        if !fresh {
            manager.update_cache()?;
        }
        fields.insert("cache_updated".into(), json!(!fresh));
        Ok(fields)
    }

    fn plan(params: Params) -> Result<Plan, Failure> {
        let names = checked_names(&params.name)?;
        let manager = manager_for(&params)?;
        let installed = manager.installed(&names)?;
        let mut plan = Plan::new();
        plan.set("manager", manager.name());
        plan.set("versions", versions_json(&installed));

        let missing: Vec<String> = names
            .iter()
            .filter(|n| installed[*n].is_none())
            .cloned()
            .collect();
        let present: Vec<String> = names
            .iter()
            .filter(|n| installed[*n].is_some())
            .cloned()
            .collect();
        let (install, upgrade, remove) = match params.state.as_str() {
            "absent" => (vec![], vec![], present),
            state => {
                let wanted: Vec<String> = if state == "latest" {
                    names.clone()
                } else {
                    missing.clone()
                };
                let candidates = if wanted.is_empty() {
                    Versions::new()
                } else {
                    manager.candidates(&wanted)?
                };
                let unknown: Vec<&str> = missing
                    .iter()
                    .filter(|n| candidates.get(*n).is_none_or(Option::is_none))
                    .map(String::as_str)
                    .collect();
                if !unknown.is_empty() {
                    return Err(Failure::new(format!(
                        "no package named {} is available from the {} repositories (check the name, the repository configuration, or set update_cache: true)",
                        unknown.join(", "),
                        manager.name()
                    ))
                    .with("not_found", unknown));
                }
                let upgrade: Vec<String> = if state == "latest" {
                    present
                        .iter()
                        .filter(|n| {
                            matches!((&installed[*n], candidates.get(*n)), (Some(i), Some(Some(c))) if i != c)
                        })
                        .cloned()
                        .collect()
                } else {
                    vec![]
                };
                (missing, upgrade, vec![])
            }
        };
        plan.set("install", install.clone());
        plan.set("upgrade", upgrade.clone());
        plan.set("remove", remove.clone());

        let mut commands = Vec::new();
        if !install.is_empty() {
            commands.push(manager.install_command(&install, params.install_recommends, false));
        }
        if !upgrade.is_empty() {
            commands.push(manager.install_command(&upgrade, params.install_recommends, true));
        }
        if !remove.is_empty() {
            commands.push(manager.remove_command(&remove));
        }
        if commands.is_empty() {
            return Ok(plan);
        }
        plan.diff(Diff {
            before: listing(&names, |n| installed[n].clone()),
            after: listing(&names, |n| {
                if remove.iter().any(|r| r == n) {
                    None
                } else if install.iter().chain(&upgrade).any(|i| i == n) {
                    Some("(new version)".into())
                } else {
                    installed[n].clone()
                }
            }),
            before_header: "installed packages".into(),
            after_header: "installed packages".into(),
        });
        plan.act(ChangePackages {
            manager,
            commands,
            names,
        });
        Ok(plan)
    }
}

fn manager_for(params: &Params) -> Result<Manager, Failure> {
    match Manager::from_name(&params.manager) {
        Some(m) => Ok(m),
        None => Manager::detect(),
    }
}

/// Package names must not look like options to the manager.
fn checked_names(names: &[String]) -> Result<Vec<String>, Failure> {
    if names.is_empty() {
        return Err(Failure::new("option 'name' must list at least one package"));
    }
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let ok = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-._:".contains(&b));
        if !ok {
            return Err(Failure::new(format!(
                "option 'name': '{name}' is not a package name (letters, digits and + - . _ :, starting with a letter or digit)"
            )));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

fn versions_json(v: &Versions) -> Value {
    Value::Object(
        v.iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect(),
    )
}

fn listing(names: &[String], version: impl Fn(&String) -> Option<String>) -> String {
    names
        .iter()
        .map(|n| match version(n) {
            Some(v) => format!("{n} {v}\n"),
            None => format!("{n} (not installed)\n"),
        })
        .collect()
}

/// Runs the install/upgrade/remove commands, then reports the versions now installed.
#[derive(Debug)]
struct ChangePackages {
    manager: Manager,
    commands: Vec<Vec<String>>,
    names: Vec<String>,
}

impl Action for ChangePackages {
    fn describe(&self) -> String {
        self.commands
            .iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure> {
        for command in &self.commands {
            self.manager.change(command)?;
        }
        let now = self.manager.installed(&self.names)?;
        result.insert("versions".into(), versions_json(&now));
        Ok(())
    }
}
