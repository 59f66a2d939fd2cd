//! Services as Debian's init scripts, on hosts no systemd runs: `/etc/init.d/NAME`, enabled by
//! `update-rc.d`, as ansible.builtin.service's LinuxService does for Debian.
//!
//! - Running: the service's executable from the `processes` option when it names one (a process
//!   of the host runs it, see [`procs`](crate::procs)), else `/etc/init.d/NAME status`: exit 0
//!   runs, 3 does not (LSB); any other answer cannot tell. The executable decides when it is
//!   given, without asking the script: Debian's keepalived script has no `status` (it prints its
//!   usage and exits 1), and without its config file it exits 0 for every action, `status` and
//!   `start` included.
//! - Enabled: a `S??NAME` link in any `/etc/rc?.d`, as Ansible's update-rc.d branch judges.
//!   Enabling runs `update-rc.d NAME defaults` first when no `K??NAME` link exists (no links at
//!   all: `enable` alone would refuse), then `update-rc.d NAME enable`; disabling runs
//!   `update-rc.d NAME disable`. Both are read back from the links.
//! - Start, stop, restart and reload run the script directly, as Debian's service(8) runs it
//!   (from `/`, in a clean environment: a standard PATH, the C locale), rather than through
//!   service(8) itself: the same, without depending on a program a minimal host may lack, and
//!   `/etc/init.d` can stand in a test root. Then the service must reach the state asked for
//!   within [`SETTLE`](crate::host::SETTLE) (a `stop` may only signal the daemon).

use crate::host::{tail, Host};
use crate::{procs, refuse, Fact, Request, Status, Step};
use kubeha_runtime::{tool, Failure};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the state is read while a service settles.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Sysv {
    host: Host,
    /// Service name → its executable.
    processes: BTreeMap<String, PathBuf>,
}

/// Whether a service runs, and how that was told.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Judged {
    running: bool,
    by: String,
}

impl Sysv {
    pub fn new(host: Host, processes: BTreeMap<String, PathBuf>) -> Sysv {
        Sysv { host, processes }
    }

    fn script(&self, name: &str) -> PathBuf {
        self.host.path(&format!("/etc/init.d/{name}"))
    }

    /// Runs or not; `Err` says why it cannot be told.
    fn judge(&self, name: &str) -> Result<Judged, String> {
        if let Some(exe) = self.processes.get(name) {
            let pids = procs::running(exe);
            let by = match pids.first() {
                Some(pid) => format!("a process runs {} (pid {pid})", exe.display()),
                None => format!("no process runs {}", exe.display()),
            };
            return Ok(Judged {
                running: !pids.is_empty(),
                by,
            });
        }
        let script = self.script(name);
        let out = self
            .host
            .init_script(&script, "status", self.host.command_timeout)
            .map_err(|f| f.msg)?;
        let by = format!(
            "`{} status` exited {}",
            script.display(),
            out.code.unwrap_or(-1)
        );
        // LSB: 0 runs; 1 (dead, a pid file left), 2 (dead, a lock file left) and 3 do not. A
        // script with no `status` action prints its usage and exits 1 too (Debian's keepalived):
        // that one cannot tell.
        let usage = out.combined().to_ascii_lowercase().contains("usage:");
        match out.code {
            Some(0) => Ok(Judged { running: true, by }),
            Some(1..=3) if !usage => Ok(Judged { running: false, by }),
            _ => Err(format!(
                "`{} status` cannot tell whether it runs ({}: {})",
                script.display(),
                out.status,
                tail(&out.combined(), 3)
            )),
        }
    }

    pub fn survey(&self, request: &Request) -> Result<Vec<Status>, Failure> {
        let mut problems = Vec::new();
        let mut not_found = Vec::new();
        let mut statuses = Vec::new();
        let mut enablement_changes = false;
        for name in &request.names {
            let script = self.script(name);
            if !is_executable_file(&script) {
                let what = if script.exists() {
                    format!("{} is not an executable file", script.display())
                } else {
                    format!("there is no init script {}", script.display())
                };
                let why = if self.host.runs_systemd() {
                    ""
                } else {
                    " (no systemd runs this host, so its services are init scripts)"
                };
                problems.push(format!("{name}: {what}{why} (option 'name')"));
                not_found.push(name.clone());
                continue;
            }
            let running = match self.judge(name) {
                Ok(judged) => Some(judged.running),
                Err(why) if request.state.is_some() => {
                    problems.push(format!(
                        "{name}: {why}; give its executable in option 'processes' (processes: {{{name}: /usr/sbin/{name}}}){}",
                        self.other_processes()
                    ));
                    None
                }
                Err(_) => None,
            };
            let enabled = start_links(&self.host, name, &[]);
            enablement_changes |= request.enabled.is_some_and(|wanted| wanted != enabled);
            statuses.push(Status {
                running,
                enabled,
                stopping: false,
            });
        }
        if enablement_changes {
            if let Err(missing) = tool::find(&self.host.program("update-rc.d")) {
                problems.push(format!(
                    "enabling or disabling an init script needs update-rc.d: {}",
                    missing.msg
                ));
            }
        }
        refuse(problems, not_found)?;
        Ok(statuses)
    }

    /// What `processes` names, for a message about a service it does not name (a typo?).
    fn other_processes(&self) -> String {
        if self.processes.is_empty() {
            return String::new();
        }
        let names: Vec<&str> = self.processes.keys().map(String::as_str).collect();
        format!("; 'processes' names only {}", names.join(", "))
    }

    fn update_rc_d(&self, name: &str, action: &str) -> Result<(), Failure> {
        let command = vec![
            self.host.program("update-rc.d"),
            name.to_owned(),
            action.to_owned(),
        ];
        let out = self
            .host
            .run(&command)
            .map_err(|f| Failure::new(format!("{name}: {}", f.msg)))?;
        if out.success {
            return Ok(());
        }
        Err(Failure::new(format!(
            "{name}: `update-rc.d {name} {action}` failed ({}): {}",
            out.status,
            tail(&out.combined(), 10)
        )))
    }

    pub fn apply(&self, name: &str, step: Step) -> Result<Fact, Failure> {
        match step {
            Step::Enable => {
                if links(&self.host, name, 'K', &[]).is_empty() {
                    self.update_rc_d(name, "defaults")?;
                }
                self.update_rc_d(name, "enable")?;
                if !start_links(&self.host, name, &[]) {
                    return Err(Failure::new(format!(
                        "{name}: `update-rc.d {name} enable` succeeded, but no /etc/rc?.d/S??{name} link exists (does the script's LSB header list Default-Start runlevels?)"
                    )));
                }
                return Ok(Fact::Enabled(true));
            }
            Step::Disable => {
                self.update_rc_d(name, "disable")?;
                let left = links(&self.host, name, 'S', &[]);
                if let Some(link) = left.first() {
                    return Err(Failure::new(format!(
                        "{name}: `update-rc.d {name} disable` succeeded, but {} is still there",
                        link.display()
                    )));
                }
                return Ok(Fact::Enabled(false));
            }
            Step::Start | Step::Stop | Step::Restart | Step::Reload => {}
        }
        let script = self.script(name);
        let out = self
            .host
            .init_script(&script, step.verb(), self.host.state_timeout)
            .map_err(|f| Failure::new(format!("{name}: {}", f.msg)))?;
        if !out.success {
            return Err(Failure::new(format!(
                "{name}: `{} {}` failed ({}): {}",
                script.display(),
                step.verb(),
                out.status,
                tail(&out.combined(), 10)
            )));
        }
        let wanted = step != Step::Stop;
        let deadline = Instant::now() + self.host.settle;
        loop {
            let judged = self.judge(name);
            if matches!(&judged, Ok(j) if j.running == wanted) {
                return Ok(Fact::Running(wanted));
            }
            if Instant::now() >= deadline {
                let how = match judged {
                    Ok(j) => j.by,
                    Err(why) => why,
                };
                return Err(Failure::new(format!(
                    "{name}: `{} {}` succeeded, but {name} is {} {} s later ({how})",
                    script.display(),
                    step.verb(),
                    if wanted {
                        "not running"
                    } else {
                        "still running"
                    },
                    self.host.settle.as_secs_f64()
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether a `S??NAME` link exists in `/etc/rc?.d` (in `dirs` only, when given: `rc5.d`).
pub fn start_links(host: &Host, name: &str, dirs: &[&str]) -> bool {
    !links(host, name, 'S', dirs).is_empty()
}

/// The `<kind>??NAME` entries of `/etc/rc?.d` (of `dirs` only, when given), as the glob
/// `/etc/rc?.d/S??NAME` finds them.
pub fn links(host: &Host, name: &str, kind: char, dirs: &[&str]) -> Vec<PathBuf> {
    let etc = host.path("/etc");
    let Ok(entries) = std::fs::read_dir(&etc) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let is_rc_dir =
            dir_name.starts_with("rc") && dir_name.ends_with(".d") && dir_name.chars().count() == 5;
        if !is_rc_dir || (!dirs.is_empty() && !dirs.contains(&dir_name.as_str())) {
            continue;
        }
        let Ok(links) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        for link in links.flatten() {
            let file_name = link.file_name().to_string_lossy().into_owned();
            let mut chars = file_name.chars();
            let matches = chars.next() == Some(kind)
                && chars.next().is_some()
                && chars.next().is_some()
                && chars.as_str() == name;
            if matches {
                found.push(link.path());
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rc(root: &Path, dir: &str, link: &str) {
        let dir = root.join("etc").join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        symlink("../init.d/x", dir.join(link)).unwrap();
    }

    #[test]
    fn links_are_found_as_ansibles_glob_finds_them() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::at(Some(root.path().to_path_buf()));
        rc(root.path(), "rc2.d", "S01nginx");
        rc(root.path(), "rc0.d", "K01nginx");
        rc(root.path(), "rc2.d", "S01nginx-debug");
        rc(root.path(), "rc2.d", "S1nginx");
        rc(root.path(), "rcS.d", "S02procps");
        std::fs::create_dir_all(root.path().join("etc/rc.local.d")).unwrap();
        assert!(start_links(&host, "nginx", &[]));
        assert!(!start_links(&host, "nginx", &["rcS.d", "rc5.d"]));
        assert!(start_links(&host, "procps", &["rcS.d", "rc5.d"]));
        assert_eq!(
            links(&host, "nginx", 'K', &[]),
            vec![root.path().join("etc/rc0.d/K01nginx")]
        );
        assert!(!start_links(&host, "nginx-debu", &[]));
        assert!(!start_links(&host, "haproxy", &[]));
    }
}
