//! Services as systemd units: every unit read with one `systemctl show`, changed with
//! `systemctl start|stop|restart|reload|enable|disable NAME`, read back after a change.
//!
//! Running and enabled are judged as ansible.builtin.systemd_service judges them, from the
//! properties instead of one `is-active`/`is-enabled` call per unit:
//! - running: `ActiveState` is `active`, `activating` or `reloading`; `stopped` also stops a unit
//!   that is `deactivating`;
//! - enabled: `UnitFileState` is `enabled`, `static`, `transient` or `generated` (the states
//!   `is-enabled` answers 0 for), except `enabled-runtime`, `indirect` and `alias`, which
//!   Ansible counts as not enabled so that `enabled: true` runs `systemctl enable` on them; every
//!   other state (`disabled`, `linked`, `masked`, `bad`, ...) is not enabled. A unit systemd
//!   generated from an init script (`generated`, `SourcePath=/etc/init.d/NAME`) is enabled when
//!   a `S??NAME` link is in `/etc/rcS.d` or `/etc/rc5.d`, which is what `is-enabled` answers for
//!   it through Debian's systemd-sysv-install. Asked by an alias (`sshd`), systemd reports the
//!   unit it names (`ssh.service`) and so does this module, where `is-enabled sshd` says `alias`.

use crate::host::{tail, Host};
use crate::{refuse, Fact, Request, Status, Step};
use kubeha_runtime::Failure;
use std::collections::BTreeMap;

/// What `systemctl show` is asked for.
const PROPERTIES: &str = "Id,LoadState,LoadError,ActiveState,SubState,UnitFileState,SourcePath";

#[derive(Debug, Clone)]
pub struct Systemd {
    host: Host,
}

/// A unit's properties, as `systemctl show` gives them (absent ones empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    pub id: String,
    pub load_state: String,
    pub load_error: String,
    pub active_state: String,
    pub sub_state: String,
    pub unit_file_state: String,
    pub source_path: String,
}

impl Unit {
    fn from_properties(mut p: BTreeMap<String, String>) -> Unit {
        let mut take = |key: &str| p.remove(key).unwrap_or_default();
        Unit {
            id: take("Id"),
            load_state: take("LoadState"),
            load_error: take("LoadError"),
            active_state: take("ActiveState"),
            sub_state: take("SubState"),
            unit_file_state: take("UnitFileState"),
            source_path: take("SourcePath"),
        }
    }

    pub fn running(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }

    /// `ActiveState (SubState)`, as a message shows it.
    fn state_text(&self) -> String {
        format!("{} ({})", self.active_state, self.sub_state)
    }
}

/// `systemctl show` output: one block of `Key=value` lines per unit, blank lines between.
pub fn parse_show(text: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut block = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !block.is_empty() {
                units.push(Unit::from_properties(std::mem::take(&mut block)));
            }
        } else if let Some((key, value)) = line.split_once('=') {
            block.insert(key.to_owned(), value.to_owned());
        }
    }
    if !block.is_empty() {
        units.push(Unit::from_properties(block));
    }
    units
}

impl Systemd {
    pub fn new(host: Host) -> Systemd {
        Systemd { host }
    }

    fn systemctl(&self, words: &[&str]) -> Vec<String> {
        let mut all = vec![self.host.program("systemctl")];
        all.extend(words.iter().map(|w| (*w).to_owned()));
        all
    }

    /// The units of `names`, in order, with one `systemctl show`.
    pub fn show(&self, names: &[String]) -> Result<Vec<Unit>, Failure> {
        let mut command = self.systemctl(&["show", &format!("--property={PROPERTIES}")]);
        command.extend(names.iter().cloned());
        let out = self.host.run(&command)?;
        if !out.success {
            return Err(Failure::new(format!(
                "`systemctl show {}` failed ({}): {}",
                names.join(" "),
                out.status,
                tail(&out.combined(), 10)
            )));
        }
        let units = parse_show(&out.stdout);
        if units.len() != names.len() {
            return Err(Failure::new(format!(
                "`systemctl show {}` described {} units for {} names: {}",
                names.join(" "),
                units.len(),
                names.len(),
                tail(&out.stdout, 10)
            )));
        }
        Ok(units)
    }

    /// Enabled as Ansible judges it (see the module's doc).
    pub fn enabled(&self, unit: &Unit) -> bool {
        match unit.unit_file_state.as_str() {
            "enabled" | "static" | "transient" => true,
            "generated" => match unit.source_path.strip_prefix("/etc/init.d/") {
                Some(script) => crate::sysv::start_links(&self.host, script, &["rcS.d", "rc5.d"]),
                None => true,
            },
            _ => false,
        }
    }

    pub fn survey(&self, request: &Request) -> Result<Vec<Status>, Failure> {
        let units = self.show(&request.names)?;
        let mut problems = Vec::new();
        let mut not_found = Vec::new();
        for (name, unit) in request.names.iter().zip(&units) {
            match unit.load_state.as_str() {
                "not-found" => {
                    problems.push(format!(
                        "{name}: systemd has no unit {} (option 'name')",
                        unit.id
                    ));
                    not_found.push(name.clone());
                }
                "bad-setting" | "error" => problems.push(format!(
                    "{name}: systemd cannot load {} ({}: {})",
                    unit.id, unit.load_state, unit.load_error
                )),
                "masked" if request.starts_or_enables() => problems.push(format!(
                    "{name}: {} is masked, so it cannot be started or enabled (`systemctl unmask {name}` first)",
                    unit.id
                )),
                _ => {}
            }
        }
        refuse(problems, not_found)?;
        Ok(units
            .iter()
            .map(|unit| Status {
                running: Some(unit.running()),
                enabled: self.enabled(unit),
                stopping: unit.active_state == "deactivating",
            })
            .collect())
    }

    pub fn apply(&self, name: &str, step: Step) -> Result<Fact, Failure> {
        let command = self.systemctl(&[step.verb(), name]);
        let out = match step {
            Step::Enable | Step::Disable => self.host.run(&command),
            _ => self.host.change_state(&command),
        }
        .map_err(|f| Failure::new(format!("{name}: {}", f.msg)))?;
        if !out.success {
            let status = match step {
                Step::Enable | Step::Disable => String::new(),
                _ => self.status_lines(name),
            };
            return Err(Failure::new(format!(
                "{name}: `systemctl {} {name}` failed ({}): {}{status}",
                step.verb(),
                out.status,
                tail(&out.combined(), 10)
            )));
        }
        let wants_running = match step {
            Step::Enable => return Ok(Fact::Enabled(true)),
            Step::Disable => return Ok(Fact::Enabled(false)),
            Step::Stop => false,
            Step::Start | Step::Restart | Step::Reload => true,
        };
        let unit = self.show(&[name.to_owned()])?.pop().unwrap_or_default();
        // A start that ends in `failed`, or in a crash loop (`activating (auto-restart)`), failed;
        // one that ends `inactive` ran its course (a oneshot unit) and is reported as not running.
        // A stop must leave nothing running.
        let failed = if wants_running {
            unit.active_state == "failed"
                || (unit.active_state == "activating" && unit.sub_state == "auto-restart")
        } else {
            unit.running()
        };
        if failed {
            return Err(Failure::new(format!(
                "{name}: `systemctl {} {name}` succeeded, but {} is {} right after it{}",
                step.verb(),
                unit.id,
                unit.state_text(),
                self.status_lines(name)
            )));
        }
        Ok(Fact::Running(unit.running()))
    }

    /// The head of `systemctl status` (no journal lines: those are the daemon's own output,
    /// which may hold anything), for a failure message; empty when it cannot be had.
    fn status_lines(&self, name: &str) -> String {
        let command = self.systemctl(&["status", "--no-pager", "--full", "--lines=0", name]);
        match self.host.run(&command) {
            Ok(out) if !out.stdout.trim().is_empty() => {
                format!("\n{}", tail(&out.stdout, 12))
            }
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "Id=nginx.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nSourcePath=\nUnitFileState=disabled\nLoadError=\n\nId=ssh.service\nLoadState=loaded\nActiveState=active\nSubState=running\nSourcePath=\nUnitFileState=enabled\nLoadError=\n\nId=nosuchthing.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nSourcePath=\nUnitFileState=\nLoadError=org.freedesktop.systemd1.NoSuchUnit \"Unit nosuchthing.service not found.\"\n";

    #[test]
    fn show_blocks_as_systemd_252_prints_them() {
        let units = parse_show(SHOW);
        assert_eq!(units.len(), 3);
        assert_eq!(units[0].id, "nginx.service");
        assert!(!units[0].running());
        assert!(units[1].running());
        assert_eq!(units[2].load_state, "not-found");
        assert!(units[2].load_error.contains("not found"));
    }

    #[test]
    fn enabled_as_ansible_judges_is_enabled() {
        let host = Host::at(Some(std::path::PathBuf::from("/nonexistent")));
        let systemd = Systemd::new(host);
        let unit = |state: &str| Unit {
            unit_file_state: state.into(),
            ..Unit::default()
        };
        for yes in ["enabled", "static", "transient", "generated"] {
            assert!(systemd.enabled(&unit(yes)), "{yes}");
        }
        for no in [
            "enabled-runtime",
            "indirect",
            "alias",
            "disabled",
            "linked",
            "linked-runtime",
            "masked",
            "masked-runtime",
            "bad",
            "",
        ] {
            assert!(!systemd.enabled(&unit(no)), "{no}");
        }
    }

    #[test]
    fn running_as_ansible_judges_it() {
        let unit = |state: &str| Unit {
            active_state: state.into(),
            ..Unit::default()
        };
        for yes in ["active", "activating", "reloading"] {
            assert!(unit(yes).running(), "{yes}");
        }
        for no in ["inactive", "failed", "deactivating", ""] {
            assert!(!unit(no).running(), "{no}");
        }
    }
}
