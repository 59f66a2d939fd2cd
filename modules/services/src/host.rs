//! The host the module manages: where its files are, how its programs run and for how long.
//!
//! For kubeha's own tests only, the environment variable `KUBEHA_SERVICES_TEST_ROOT` names a
//! directory that stands in for the host: its `run/systemd/system`, `etc/init.d/` and
//! `etc/rc?.d/` are read instead of the real ones, and the programs the module runs are
//! `<root>/bin/systemctl` and `<root>/bin/update-rc.d` (fakes), never the machine's. Processes
//! are still the real ones (`/proc`), so the tests of `processes` start real processes. A file
//! `<root>/limits` may shorten the time limits there (`command_timeout=0.5`, `state_timeout=`,
//! `settle=`, in seconds), so the tests of a hung command or a service that never starts take
//! a second, not minutes. It is no option: users never set it.

use kubeha_runtime::tool::{Output, Program};
use kubeha_runtime::Failure;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable kubeha's tests point the module at a fake host with.
pub const TEST_ROOT_VAR: &str = "KUBEHA_SERVICES_TEST_ROOT";

/// The longest any command but a start, stop, restart or reload may take: `systemctl show`,
/// `systemctl enable`, an init script's `status`, `update-rc.d`.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a start, stop, restart or reload may take: above systemd's default start and
/// stop timeouts (90 s each), which one restart may spend both of.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an init script's service may take after its script returned to reach the state
/// asked for (a `stop` that only signals the daemon, a daemon that writes its pid file late).
pub const SETTLE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Host {
    /// `None` is the real host, `/`.
    root: Option<PathBuf>,
    pub command_timeout: Duration,
    pub state_timeout: Duration,
    pub settle: Duration,
}

impl Host {
    /// The real host, or the test root named by [`TEST_ROOT_VAR`].
    pub fn from_env() -> Host {
        let root = std::env::var_os(TEST_ROOT_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let mut host = Host::at(root.clone());
        let limits = root
            .and_then(|root| std::fs::read_to_string(root.join("limits")).ok())
            .unwrap_or_default();
        for line in limits.lines() {
            let Some((key, seconds)) = line.split_once('=') else {
                continue;
            };
            let Some(limit) = seconds
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
            else {
                continue;
            };
            match key.trim() {
                "command_timeout" => host.command_timeout = limit,
                "state_timeout" => host.state_timeout = limit,
                "settle" => host.settle = limit,
                _ => {}
            }
        }
        host
    }

    /// `root` stands in for `/` (tests); `None` is the real host.
    pub fn at(root: Option<PathBuf>) -> Host {
        Host {
            root,
            command_timeout: COMMAND_TIMEOUT,
            state_timeout: STATE_TIMEOUT,
            settle: SETTLE,
        }
    }

    /// An absolute path of the host.
    pub fn path(&self, absolute: &str) -> PathBuf {
        match &self.root {
            Some(root) => root.join(absolute.trim_start_matches('/')),
            None => PathBuf::from(absolute),
        }
    }

    /// How a program is named on the command line: found on PATH on a real host.
    pub fn program(&self, name: &str) -> String {
        match &self.root {
            Some(root) => root.join("bin").join(name).to_string_lossy().into_owned(),
            None => name.to_owned(),
        }
    }

    /// Whether systemd manages this host, as systemd's `sd_booted()` and Ansible's
    /// `service_mgr` fact tell: `/run/systemd/system` is a directory.
    pub fn runs_systemd(&self) -> bool {
        self.path("/run/systemd/system").is_dir()
    }

    /// Runs a command within [`COMMAND_TIMEOUT`].
    pub fn run(&self, argv: &[String]) -> Result<Output, Failure> {
        Program::new(argv).run_within(self.command_timeout)
    }

    /// Runs a start, stop, restart or reload within [`STATE_TIMEOUT`].
    pub fn change_state(&self, argv: &[String]) -> Result<Output, Failure> {
        Program::new(argv).run_within(self.state_timeout)
    }

    /// Runs an init script as Debian's service(8) does: from `/`, in a clean environment (a
    /// standard PATH, the C locale), so the daemon it starts inherits nothing of Ansible's.
    pub fn init_script(
        &self,
        script: &Path,
        action: &str,
        limit: Duration,
    ) -> Result<Output, Failure> {
        Program::new(&[script.to_string_lossy().into_owned(), action.to_owned()])
            .clean_env()
            .env("TERM", "dumb")
            .dir("/")
            .run_within(limit)
    }
}

/// The last `lines` lines of a command's output, trimmed, for a failure message.
pub fn tail(text: &str, lines: usize) -> String {
    let text = text.trim();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_programs_follow_the_test_root() {
        let real = Host::at(None);
        assert_eq!(real.path("/etc/init.d/x"), PathBuf::from("/etc/init.d/x"));
        assert_eq!(real.program("systemctl"), "systemctl");
        let fake = Host::at(Some(PathBuf::from("/tmp/h")));
        assert_eq!(
            fake.path("/etc/init.d/x"),
            PathBuf::from("/tmp/h/etc/init.d/x")
        );
        assert_eq!(fake.program("systemctl"), "/tmp/h/bin/systemctl");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
