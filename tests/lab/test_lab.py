"""The lab itself: real hosts that Ansible reaches over SSH, isolated from each other and from
the machine, with an offline package repository and stand-in apiservers that a real haproxy
health-checks. The last tests take the lab down (and up again) and prove nothing is left."""

import os
import signal
import uuid
from pathlib import Path

import pytest

from labtools import APISERVER_PORT, LAB_DIR, haproxy_status, needs_teardown_rights, read_inits, run, wait_until

# The lab itself: no kubeha module runs here.
pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

LAB_NET = "10.199.0."


def test_ansible_reaches_every_host(lab):
    results, proc = lab.ansible("all", "ansible.builtin.ping")
    assert results == {h: "SUCCESS" for h in lab.hosts}, proc.stdout + proc.stderr


def test_ssh_config_and_known_hosts_work_for_humans(lab):
    # StrictHostKeyChecking=yes in the generated ssh_config: this fails on any key mismatch.
    assert lab.ssh("cp2", "hostname").stdout.strip() == "cp2"


def test_up_preinstalls_the_inventorys_packages_on_its_group_only(lab):
    """inventory/lab: lab_preinstall on k8s_cluster (the nodes validate configs they run as static
    pods); the dedicated load balancers get only what cluster.yml installs (haproxy, keepalived)."""
    def installed(host):
        out = lab.sh(host, "dpkg-query -W -f='${Package}=${db:Status-Status} ' 2>/dev/null; true").stdout
        return {p for p, _, state in (w.partition("=") for w in out.split()) if state == "installed"}
    daemons = {"haproxy", "nginx", "libnginx-mod-stream", "keepalived"}
    for host in ("cp1", "cp2", "cp3", "node1"):
        assert daemons <= installed(host), host
    for host in ("lb1", "lb2"):
        assert "nginx" not in installed(host), host


def test_systemd_hosts_boot_clean_and_touch_nothing_the_machine_shares(lab):
    """systemd as PID 1 of a lab host: every unit it wants runs (`running`, not `degraded`), the
    units that would change kernel settings or machine-wide mounts are masked, and its cgroups are
    the host's own, below the lab's cgroup, with memory accounted there."""
    inits = read_inits(lab.inventory)
    for host in lab.hosts:
        assert lab.init(host) == inits[host], host
        if inits[host] == "tini":
            continue
        state = lab.exec(host, "systemctl", "is-system-running", "--wait", check=False, timeout=60)
        failed = lab.exec(host, "systemctl", "--failed", "--no-legend", "--plain").stdout
        assert state.stdout.strip() == "running", failed
        assert lab.exec(host, "systemctl", "is-enabled", "systemd-sysctl.service", check=False).stdout.strip() == "masked"
        memory = Path(f"/sys/fs/cgroup/memory/kubeha-lab/{host}/memory.usage_in_bytes")
        assert 0 < int(memory.read_text()) < 512 << 20
        own = Path(f"/proc/{lab.pid1(host)}/cgroup").read_text()
        assert f"name=systemd:/kubeha-lab/{host}" in own or ":/\n" in own, own


def test_each_host_has_its_own_hostname_and_namespaces(lab):
    inits = read_inits(lab.inventory)
    seen = {}
    for host in lab.hosts:
        out = lab.sh(host, "hostname; cat /proc/1/comm; readlink /proc/1/ns/pid /proc/1/ns/mnt /proc/1/ns/uts; "
                           "ps -e --no-headers | wc -l").stdout.split()
        name, init, pid_ns, mnt_ns, uts_ns, nprocs = out
        assert name == host
        # systemd unless the inventory says lab_init=tini (tini, started as /sbin/init).
        assert init == {"systemd": "systemd", "tini": "init"}[inits[host]], host
        assert int(nprocs) < 40, f"{host} sees {nprocs} processes: not its own PID namespace?"
        seen[host] = (pid_ns, mnt_ns, uts_ns)
    for kind in range(3):
        values = [ns[kind] for ns in seen.values()]
        assert len(set(values)) == len(values), f"hosts share a namespace: {seen}"
    machine = [os.readlink(f"/proc/self/ns/{k}") for k in ("pid", "mnt", "uts")]
    assert not set(machine) & {v for ns in seen.values() for v in ns}


def test_a_file_written_on_one_host_exists_only_there(lab):
    marker = f"/etc/kubeha-lab-marker-{uuid.uuid4().hex[:8]}"
    lab.ssh("cp1", f"echo written-on-cp1 > {marker}")
    assert lab.exec("cp1", "cat", marker).stdout.strip() == "written-on-cp1"
    assert lab.exec("cp2", "test", "-e", marker, check=False).returncode == 1
    assert not Path(marker).exists(), "a host wrote to the machine's own /etc"
    # It lives in cp1's overlay upper dir (its "disk"), which the machine can read.
    assert (LAB_DIR / "hosts" / "cp1" / "upper" / marker.lstrip("/")).is_file()


@pytest.fixture(scope="module")
def haproxy_on_lb1(lab):
    """haproxy installed on lb1 with apt from the offline repository (no network), afresh: the
    tests before may have left it installed, and reset.yml stopped and disabled it."""
    apt = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q")
    lab.exec("lb1", *apt, "purge", "haproxy", timeout=300)
    lab.exec("lb1", *apt, "install", "haproxy", timeout=300)
    return "lb1"


def test_apt_installs_offline_and_per_host(lab, haproxy_on_lb1):
    # There is no way out of the lab: apt could only have used the local repository.
    assert lab.exec("lb1", "ip", "route", "show", "default").stdout.strip() == ""
    assert lab.exec("lb1", "cat", "/etc/apt/sources.list").stdout.strip() == \
        "deb [trusted=yes] file:/srv/lab-repo ./"
    assert lab.exec("lb1", "haproxy", "-v").stdout.startswith("HAProxy version")
    # Debian's behaviour: the package's init script started the service on install.
    assert lab.exec("lb1", "pidof", "haproxy").stdout.strip()
    # A package no role puts on the LB hosts, installed on lb1 only, is on lb1 only.
    lab.exec("lb1", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "etcd-client",
             timeout=300)
    assert lab.exec("lb1", "test", "-e", "/usr/bin/etcdctl", check=False).returncode == 0
    assert lab.exec("lb2", "test", "-e", "/usr/bin/etcdctl", check=False).returncode == 1
    assert "ii  etcd-client" not in lab.exec("lb2", "dpkg", "-l").stdout


HAPROXY_CFG = """\
global
    stats socket /run/haproxy/admin.sock mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend apiserver
    bind :8443
    default_backend apiserver

backend apiserver
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""


def test_real_haproxy_sees_the_standin_health(lab, haproxy_on_lb1):
    servers = "\n".join(
        f"    server {h} {lab.hosts[h]}:{APISERVER_PORT} check check-ssl verify none inter 1s rise 1 fall 1"
        for h in lab.control_plane)
    lab.exec("lb1", "tee", "/etc/haproxy/haproxy.cfg", input=HAPROXY_CFG.format(servers=servers))
    lab.exec("lb1", "haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg")
    lab.exec("lb1", "service", "haproxy", "restart")
    all_up = {h: "UP" for h in lab.control_plane}
    assert wait_until(lambda: haproxy_status(lab, "lb1") == all_up, 10), haproxy_status(lab, "lb1")
    frontend = f"https://{lab.hosts['lb1']}:8443/whoami"
    assert {lab.served_by(frontend) for _ in range(6)} == set(lab.control_plane)

    lab.cmd("apiserver", "cp2", "fail")
    try:
        assert lab.curl(f"https://{lab.hosts['cp2']}:{APISERVER_PORT}/healthz")[0] == 500
        assert wait_until(lambda: haproxy_status(lab, "lb1").get("cp2") == "DOWN", 10), \
            haproxy_status(lab, "lb1")
        assert {lab.served_by(frontend) for _ in range(6)} == set(lab.control_plane) - {"cp2"}
    finally:
        lab.cmd("apiserver", "cp2", "ok")
    assert wait_until(lambda: haproxy_status(lab, "lb1") == all_up, 10), haproxy_status(lab, "lb1")


def test_standin_names_the_host_that_served(lab):
    for host in lab.control_plane:
        base = f"https://{lab.hosts[host]}:{APISERVER_PORT}"
        assert lab.curl(f"{base}/healthz") == (200, "ok")
        assert lab.served_by(f"{base}/version") == host


def test_machine_network_namespace_is_untouched(lab):
    assert LAB_NET not in run(["ip", "-4", "addr"]).stdout
    assert LAB_NET not in run(["ip", "route", "show", "table", "all"]).stdout
    links = run(["ip", "-o", "link"]).stdout
    assert " br0:" not in links and " p-" not in links, links
    for ns in [*lab.hosts, "ctl", "sw"]:
        assert run(["ip", "-n", ns, "route", "show", "default"]).stdout == "", f"{ns} has a default route"
    # Nothing in the lab can leave it: the controller has no route beyond the lab subnet.
    assert "unreachable" in lab.ctl("ip", "route", "get", "192.0.2.1", check=False).stderr


def test_status_reports_every_host(lab):
    out = lab.cmd("status").stdout
    for host in lab.hosts:
        assert host in out
    assert out.count("healthy (200)") == len(lab.control_plane)


def test_up_again_keeps_running_hosts(lab):
    before = {h: lab.pid1(h) for h in lab.hosts}
    out = lab.cmd("up").stdout
    assert f"started 0, kept {len(lab.hosts)}" in out
    assert {h: lab.pid1(h) for h in lab.hosts} == before


# --- the tests below take hosts (and finally the whole lab) down -------------------------------


def pid_alive(pid, netns_ino=None):
    """True if pid runs (not a zombie) and, when given, sits in that network namespace."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return False
        return netns_ino is None or os.stat(f"/proc/{pid}/ns/net").st_ino == netns_ino
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def processes_in(netns_inodes):
    """PIDs (not zombies) whose network namespace is one of netns_inodes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino in netns_inodes and pid_alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def lab_mounts():
    return [line for line in Path("/proc/self/mounts").read_text().splitlines() if str(LAB_DIR) in line]


@needs_teardown_rights
def test_up_recovers_from_crashes_and_stale_state(lab):
    # 1. A host dies: SIGKILL its PID 1 (checked to be that host's tini first: PIDs wrap).
    pid = lab.pid1("cp3")
    assert os.readlink(f"/proc/{pid}/exe").endswith("/tini")
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid), 5)
    assert lab.cmd("status", check=False).returncode != 0

    # 2. A mount a crashed lab could have left in the machine's namespace.
    stale = LAB_DIR / "hosts" / "cp1" / "root"
    run(["mount", "-t", "tmpfs", "kubeha-lab-stale", stale])

    # 3. A namespace whose mount vanished, leaving a plain file (cp2 keeps running, orphaned).
    old_cp2 = lab.pid1("cp2")
    run(["umount", "/run/netns/cp2"])

    # 4. An `up` killed with SIGKILL right after it started cp3 again, before it saved its PID.
    crashed = lab.cmd("up", check=False, env=dict(lab.env, LAB_CRASH_AFTER="5"))
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert "start 2 hosts" in crashed.stdout

    # The next `up` puts everything right.
    recovered = lab.cmd("up")
    assert "started 2, kept 4" in recovered.stdout, recovered.stdout
    assert lab.cmd("status").returncode == 0
    assert not lab_mounts(), lab_mounts()
    assert not pid_alive(old_cp2), "the orphaned cp2 still runs"
    for host in ("cp2", "cp3"):
        ino = os.stat(f"/run/netns/{host}").st_ino
        inits = [p for p in processes_in({ino})
                 if Path(f"/proc/{p}/status").read_text().split("NSpid:")[1].split("\n")[0].split()[-1] == "1"]
        assert inits == [lab.pid1(host)], f"{host}: PID 1 processes {inits}"
    results, proc = lab.ansible("all", "ansible.builtin.ping")
    assert results == {h: "SUCCESS" for h in lab.hosts}, proc.stdout + proc.stderr


@needs_teardown_rights
@pytest.mark.parametrize("step, name", [(3, "keys"), (4, "network"), (6, "wait for sshd")])
def test_up_from_scratch_recovers_from_a_crash_after_any_step(lab, step, name):
    # No packages: what is tested is `up` itself, and each preinstall would cost 15 s.
    env = dict(lab.env, LAB_PREINSTALL="")
    lab.cmd("down")
    crashed = lab.cmd("up", check=False, env=dict(env, LAB_CRASH_AFTER=str(step)))
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert crashed.stdout.rstrip().splitlines()[-1].startswith(f"lab:   {name}"), crashed.stdout
    recovered = lab.cmd("up", env=env)
    assert f"{len(lab.hosts)} hosts ready" in recovered.stdout, recovered.stdout
    assert lab.cmd("status").returncode == 0
    assert not lab_mounts(), lab_mounts()


@needs_teardown_rights
def test_down_leaves_nothing_behind(lab):
    lab.ansible("all", "ansible.builtin.ping")   # leaves ControlPersist masters running in ctl
    assert any(p.is_socket() for p in (LAB_DIR / "ssh" / "cp").iterdir())
    namespaces = [*lab.hosts, "ctl", "sw"]
    inodes = {os.stat(f"/run/netns/{ns}").st_ino for ns in namespaces}
    pids = [lab.pid1(h) for h in lab.hosts]
    pids += [int((LAB_DIR / "hosts" / h / "unshare.pid").read_text()) for h in lab.hosts]
    assert processes_in(inodes)

    out = lab.cmd("down").stdout
    assert "down: done" in out

    assert not any(Path(f"/run/netns/{ns}").exists() for ns in namespaces)
    assert not lab_mounts(), lab_mounts()
    assert not [p for p in pids if pid_alive(p)], "a host's PID 1 or its unshare survived"
    assert processes_in(inodes) == [], "processes survive in lab namespaces"
    assert not (LAB_DIR / "hosts").exists()
    assert not [p for p in (LAB_DIR / "ssh" / "cp").iterdir() if p.is_socket()]
    assert (LAB_DIR / "cache").is_dir(), "down keeps the rootfs cache"
    assert lab.cmd("status", check=False).returncode != 0
