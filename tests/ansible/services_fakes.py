"""A fake host for the `services` module, so that real ansible-core can run it on this machine
without touching its services: a directory the module is pointed at with the environment
variable KUBEHA_SERVICES_TEST_ROOT (modules/services/src/host.rs, for tests only). It holds the
fakes of modules/services/tests/fakes (systemctl, update-rc.d, init scripts) and their state;
every call the fakes get is appended to <root>/log."""

import os
import shutil
from pathlib import Path

from kubeha_test import REPO

FAKES = REPO / "modules" / "services" / "tests" / "fakes"
ROOT_VAR = "KUBEHA_SERVICES_TEST_ROOT"


class FakeHost:
    def __init__(self, root: Path, systemd: bool):
        self.root = root
        for sub in ("bin", "units", "state", "etc/init.d", "sbin"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for tool in ("systemctl", "update-rc.d"):
            link = root / "bin" / tool
            if not link.exists():
                link.symlink_to(FAKES / tool)
        if systemd:
            (root / "run/systemd/system").mkdir(parents=True, exist_ok=True)
        (root / "log").touch()

    @property
    def environment(self) -> dict:
        return {ROOT_VAR: str(self.root)}

    def unit(self, name: str, **properties: str) -> None:
        """A unit <name>.service; properties: load, active, sub, file, source, on_start."""
        unit = self.root / "units" / f"{name}.service"
        unit.mkdir(parents=True, exist_ok=True)
        for key, value in properties.items():
            (unit / key.replace("_", "-")).write_text(value)

    def prop(self, name: str, key: str) -> str:
        path = self.root / "units" / f"{name}.service" / key
        return path.read_text() if path.exists() else ""

    def script(self, name: str, *flags: str) -> None:
        """/etc/init.d/<name>, with flags of tests/fakes/init-script (no-status, daemon, ...)."""
        shutil.copy(FAKES / "init-script", self.root / "etc/init.d" / name)
        state = self.state(name)
        state.mkdir(parents=True, exist_ok=True)
        for flag in flags:
            (state / flag).touch()

    def state(self, name: str) -> Path:
        return self.root / "state" / name

    def running(self, name: str) -> bool:
        return (self.state(name) / "running").exists()

    def daemon(self, name: str) -> Path:
        """The script's start runs a real process: a copy of sleep at /sbin/<name>d here."""
        exe = self.root / "sbin" / f"{name}d"
        shutil.copy("/bin/sleep", exe)
        (self.state(name) / "daemon").write_text(str(exe))
        return exe

    def rc_links(self, name: str) -> list:
        etc = self.root / "etc"
        return sorted(
            f"{d.name}/{link.name}"
            for d in etc.glob("rc?.d")
            for link in d.iterdir()
            if link.name[3:] == name
        )

    def log(self) -> list:
        return (self.root / "log").read_text().splitlines()

    def changes(self) -> list:
        """The calls that change something (no show, status)."""
        return [
            line for line in self.log()
            if not line.startswith(("systemctl show", "systemctl status")) and not line.endswith(" status")
        ]

    def stop_daemons(self) -> None:
        """Stops the processes the fake scripts started, by their PID."""
        for pid_file in (self.root / "state").glob("*/pid"):
            try:
                os.kill(int(pid_file.read_text()), 15)
            except (ValueError, ProcessLookupError):
                pass


def example_host(workdir: Path) -> dict:
    """A systemd host with the services the sidecar's EXAMPLES name (haproxy, keepalived, nginx,
    etcd), for test_examples.py; returns the environment that points the module at it."""
    host = FakeHost(workdir / "services-host", systemd=True)
    host.unit("haproxy", active="active", file="enabled")
    host.unit("keepalived")
    host.unit("nginx", active="active", file="enabled")
    host.unit("etcd", active="active", file="enabled")
    return host.environment
