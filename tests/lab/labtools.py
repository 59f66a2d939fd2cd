"""Helpers for the lab tests: run tests/lab/lab, and Ansible, ssh and curl from `ctl`."""

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tests" / "lab" / "lab"
LAB_DIR = Path(os.environ.get("LAB_DIR", REPO / ".lab")).resolve()
INVENTORY = REPO / "inventory" / "lab" / "inventory.ini"
APISERVER_PORT = int(os.environ.get("LAB_APISERVER_PORT", "6443"))

# Ad-hoc Ansible prints `host | STATUS => {json}` (or `| rc=N >>` for command output).
RESULT = re.compile(r"^(\S+) \| (SUCCESS|CHANGED|FAILED!|UNREACHABLE!)", re.M)


def run(argv, *, check=True, timeout=300, env=None, **kwargs):
    """Runs argv; on failure (check) the assertion shows everything it printed."""
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def ini_section(path, name):
    """The non-comment lines of one section of an Ansible ini inventory."""
    lines, current = [], None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == name:
            lines.append(line)
    return lines


def read_inventory(path):
    """{host: address} from [all], and the control-plane host names."""
    hosts = {}
    for line in ini_section(path, "all"):
        name, *pairs = line.split()
        fields = dict(p.split("=", 1) for p in pairs)
        hosts[name] = fields.get("ip", fields.get("ansible_host"))
    control_plane = [line.split()[0] for line in ini_section(path, "kube_control_plane")]
    return hosts, control_plane


def read_inits(path):
    """{host: "systemd" or "tini"}: each host's `lab_init=`, else LAB_INIT, else systemd (as
    tests/lab/lab reads them)."""
    default = os.environ.get("LAB_INIT", "systemd")
    inits = {}
    for line in ini_section(path, "all"):
        name, *pairs = line.split()
        inits[name] = dict(p.split("=", 1) for p in pairs).get("lab_init", default)
    return inits


def wait_until(predicate, timeout, interval=0.1):
    """Polls predicate until it returns something truthy; bounded, returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Lab:
    """The lab as tests use it: tests/lab/lab, plus Ansible, ssh and curl from `ctl`."""

    def __init__(self, inventory=INVENTORY):
        self.inventory = Path(inventory)
        self.hosts, self.control_plane = read_inventory(self.inventory)
        self.env = dict(os.environ, LAB_DIR=str(LAB_DIR), LAB_INVENTORY=str(self.inventory),
                        ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        # Ansible's controller-side state stays in the checkout (as the repo's ansible.cfg says).
        self.env.setdefault("ANSIBLE_HOME", str(REPO / ".ansible"))

    def cmd(self, *args, **kwargs):
        kwargs.setdefault("env", self.env)
        return run([LAB, *args], **kwargs)

    def exec(self, host, *argv, **kwargs):
        return self.cmd("exec", host, *argv, **kwargs)

    def sh(self, host, script, **kwargs):
        return self.exec(host, "sh", "-c", script, **kwargs)

    def ctl(self, *argv, **kwargs):
        return self.cmd("ctl", *argv, **kwargs)

    def ansible(self, pattern, module, module_args=None, *extra, check=True):
        """Ad-hoc Ansible from the controller namespace; returns {host: status}, output."""
        argv = ["ansible", "-i", self.inventory.relative_to(REPO), pattern, "-m", module]
        if module_args:
            argv += ["-a", module_args]
        proc = self.ctl(*argv, *extra, check=check, timeout=120)
        return {m.group(1): m.group(2).rstrip("!") for m in RESULT.finditer(proc.stdout)}, proc

    def ssh(self, host, command, **kwargs):
        return self.ctl("ssh", "-F", LAB_DIR / "ssh" / "ssh_config", host, command, **kwargs)

    def curl(self, url, **kwargs):
        """HTTPS GET from the controller: (status code, body)."""
        proc = self.ctl("curl", "-sk", "--max-time", "3", "-w", "\n%{http_code}", url, **kwargs)
        body, _, code = proc.stdout.rpartition("\n")
        return int(code), body

    def served_by(self, url):
        code, body = self.curl(url)
        assert code == 200, body
        return json.loads(body)["host"]

    def pid1(self, host):
        """Global PID of the host's PID 1, as the lab saved it."""
        return int((LAB_DIR / "hosts" / host / "init.pid").read_text())

    def init(self, host):
        """What the host boots: "systemd", or "tini" (lab_init=tini: Debian's init scripts)."""
        return "systemd" if Path(f"/proc/{self.pid1(host)}/comm").read_text().strip() == "systemd" else "tini"

    def disk(self, host, trees=("/etc", "/var/lib", "/usr/local", "/opt", "/root", "/srv"),
             skip=("/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd", "/var/lib/ucf", "/root/.ansible")):
        """{path: "kind digest mode"} for what the host sees under trees (its merged root, read
        from the machine through its PID 1), without the package manager's, systemd's and
        Ansible's own bookkeeping (skip)."""
        root = f"/proc/{self.pid1(host)}/root"
        seen = {}
        for tree in trees:
            for top, dirs, files in os.walk(root + tree):
                dirs[:] = [d for d in dirs if not os.path.join(top, d)[len(root):].startswith(skip)]
                for name in dirs + files:
                    path = os.path.join(top, name)
                    mode = oct(os.lstat(path).st_mode & 0o7777)
                    if os.path.islink(path):
                        kind = "link " + os.readlink(path)
                    elif os.path.isfile(path):
                        kind = "file " + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
                    else:
                        kind = "dir" if os.path.isdir(path) else "special"
                    seen[path[len(root):]] = f"{kind} {mode}"
        return seen

    def reboot(self, host):
        """A power cut (`lab crash`), then `lab up`: the host boots again on its own disk, with
        nothing but its init to start its services."""
        self.cmd("crash", host)
        self.cmd("up")


def keeps_lab():
    """LAB_REUSE/LAB_KEEP: the user wants the lab left up."""
    return os.environ.get("LAB_REUSE") == "1" or os.environ.get("LAB_KEEP") == "1"


needs_teardown_rights = pytest.mark.skipif(
    keeps_lab(), reason="LAB_REUSE/LAB_KEEP: not taking down a lab you asked to keep")


def haproxy_status(lab, host, backend="apiserver"):
    """{server: status} of a backend of haproxy on host, from its stats socket (`show stat`)."""
    script = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); "
              "s.sendall(b'show stat\\n'); print(b''.join(iter(lambda: s.recv(65536), b'')).decode())")
    out = lab.exec(host, "python3", "-c", script).stdout.lstrip("# ")
    return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(out))
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")}
