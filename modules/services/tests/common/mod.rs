//! A fake host for the tests: a temp directory the module is pointed at with
//! `KUBEHA_SERVICES_TEST_ROOT` (see `services::host`), holding the fakes of `tests/fakes`
//! (systemctl, update-rc.d, init scripts) and their state. Processes started by a fake init
//! script's `daemon` are real; they are killed by PID when the host is dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::{Binary, Run};
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

pub const BIN: &str = env!("CARGO_BIN_EXE_services");

pub fn fakes() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes")
}

#[derive(Debug)]
pub struct FakeHost {
    dir: tempfile::TempDir,
}

impl FakeHost {
    /// A host systemd runs (`run/systemd/system` is a directory).
    pub fn systemd() -> FakeHost {
        let host = FakeHost::bare();
        std::fs::create_dir_all(host.root().join("run/systemd/system")).unwrap();
        host
    }

    /// A host with init scripts and no systemd.
    pub fn sysvinit() -> FakeHost {
        FakeHost::bare()
    }

    fn bare() -> FakeHost {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["bin", "units", "state", "etc/init.d", "sbin"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for tool in ["systemctl", "update-rc.d"] {
            symlink(fakes().join(tool), root.join("bin").join(tool)).unwrap();
        }
        std::fs::write(root.join("log"), "").unwrap();
        FakeHost { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Shorter time limits than the module's (see `services::host`).
    pub fn limits(&self, text: &str) {
        std::fs::write(self.root().join("limits"), text).unwrap();
    }

    /// A systemd unit `<name>.service` with these properties (files: load, active, sub, file,
    /// source, on-start).
    pub fn unit(&self, name: &str, properties: &[(&str, &str)]) {
        let dir = self.root().join("units").join(format!("{name}.service"));
        std::fs::create_dir_all(&dir).unwrap();
        for (key, value) in properties {
            std::fs::write(dir.join(key), value).unwrap();
        }
    }

    /// `<alias>.service` names the unit `<name>.service`.
    pub fn alias(&self, alias: &str, name: &str) {
        symlink(
            format!("{name}.service"),
            self.root().join("units").join(format!("{alias}.service")),
        )
        .unwrap();
    }

    /// A unit's property as the fake keeps it ("" when unset).
    pub fn property(&self, name: &str, key: &str) -> String {
        std::fs::read_to_string(
            self.root()
                .join("units")
                .join(format!("{name}.service"))
                .join(key),
        )
        .unwrap_or_default()
    }

    /// An init script `/etc/init.d/<name>` with these flags (see tests/fakes/init-script).
    pub fn script(&self, name: &str, flags: &[&str]) {
        let script = self.root().join("etc/init.d").join(name);
        std::fs::copy(fakes().join("init-script"), &script).unwrap();
        let state = self.state(name);
        std::fs::create_dir_all(&state).unwrap();
        for flag in flags {
            std::fs::write(state.join(flag), "").unwrap();
        }
    }

    pub fn state(&self, name: &str) -> PathBuf {
        self.root().join("state").join(name)
    }

    /// The service of an init script runs (the fake's own record).
    pub fn running(&self, name: &str) -> bool {
        self.state(name).join("running").exists()
    }

    pub fn set_running(&self, name: &str) {
        std::fs::write(self.state(name).join("running"), "").unwrap();
    }

    /// The script's start runs a real process: a copy of `sleep` at `/sbin/<name>d` of the
    /// fake host. Returns that executable's path.
    pub fn daemon(&self, name: &str) -> PathBuf {
        let exe = self.root().join("sbin").join(format!("{name}d"));
        std::fs::copy("/bin/sleep", &exe).unwrap();
        std::fs::write(self.state(name).join("daemon"), exe.to_str().unwrap()).unwrap();
        exe
    }

    /// The PID of the script's real process, while the fake knows one.
    pub fn daemon_pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.state(name).join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    /// `/etc/<dir>/<link>` → `../init.d/<name>`, as update-rc.d makes them.
    pub fn link(&self, dir: &str, link: &str, name: &str) {
        let dir = self.root().join("etc").join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        symlink(format!("../init.d/{name}"), dir.join(link)).unwrap();
    }

    /// Every `/etc/rc?.d` entry for `name`, as `rc2.d/S01name`, sorted.
    pub fn rc_links(&self, name: &str) -> Vec<String> {
        let mut found = Vec::new();
        let etc = self.root().join("etc");
        for dir in std::fs::read_dir(&etc).unwrap().flatten() {
            let dir_name = dir.file_name().to_string_lossy().into_owned();
            if !dir_name.starts_with("rc") {
                continue;
            }
            for link in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let link = link.file_name().to_string_lossy().into_owned();
                if link.get(3..) == Some(name) {
                    found.push(format!("{dir_name}/{link}"));
                }
            }
        }
        found.sort();
        found
    }

    /// What the fakes were asked, one call a line.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("log")).unwrap()
    }

    /// The calls that change something (no `show`, `status`).
    pub fn changes(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| !l.starts_with("systemctl show") && !l.starts_with("systemctl status"))
            .filter(|l| !l.ends_with(" status"))
            .map(str::to_owned)
            .collect()
    }

    pub fn clear_log(&self) {
        std::fs::write(self.root().join("log"), "").unwrap();
    }

    pub fn binary(&self) -> Binary {
        Binary::new(BIN).env(services::host::TEST_ROOT_VAR, self.root())
    }

    /// The module with `args` (and Ansible's keys), on this host.
    pub fn run(&self, args: &Value) -> Run {
        self.binary().run(args)
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        // Only the processes the fake scripts started, by their PID.
        let Ok(services) = std::fs::read_dir(self.root().join("state")) else {
            return;
        };
        for service in services.flatten() {
            let pid = std::fs::read_to_string(service.path().join("pid")).unwrap_or_default();
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = kill_pid(pid);
            }
        }
    }
}

fn kill_pid(pid: i32) -> std::io::Result<std::process::ExitStatus> {
    std::process::Command::new("kill")
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
}
