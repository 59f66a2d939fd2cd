"""cluster.yml on the lab: converges, is idempotent (also in check mode), gives exactly one VIP
holder that serves every apiserver, writes schema-valid static pods, and fails over under load.

The failover tests run a bounded client loop through the VIP (tests/lab/client.py, in `ctl`) and
record the seconds until it serves again and the failed requests in .lab/results/failover.json.
"""

import json
import subprocess
import time

import pytest

from clustertools import PRIVATE_KEY, SECRETS, converged, playbook, record
from labtools import REPO, wait_until

pytestmark = pytest.mark.lab

VIP = "10.199.0.100"
VIP_PORT = 8443
LBS = ("lb1", "lb2")
def holders(lab, lbs=LBS):
    """The LB hosts holding the VIP (a host that is down holds nothing)."""
    return [h for h in lbs if f" {VIP}/" in lab.exec(h, "ip", "-o", "-4", "addr", "show", check=False).stdout]


def pidof(lab, host, name):
    return lab.exec(host, "pidof", name, check=False).stdout.split()


def kill_haproxy(lab, host):
    """SIGKILLs every haproxy process on host. Under systemd it runs as a master and a worker, and
    the master can exit on its own between the two kills: kill then says "No such process" (exit
    1), so what counts is that none of them survives."""
    pids = pidof(lab, host, "haproxy")
    assert pids, f"no haproxy on {host}"
    lab.exec(host, "kill", "-9", *pids, check=False)
    assert not set(pids) & set(pidof(lab, host, "haproxy")), "a killed haproxy survived"


class Load:
    """The client loop running in `ctl` while a test breaks something."""

    def __init__(self, lab, duration, path="/whoami"):
        self.proc = subprocess.Popen(
            [str(REPO / "tests" / "lab" / "lab"), "ctl", "python3", "tests/lab/client.py", "--host", VIP,
             "--port", str(VIP_PORT), "--path", path, "--duration", str(duration)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env)
        self.started = time.monotonic()

    def result(self):
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err
        return json.loads(out)


def test_cluster_yml_converges(cluster):
    proc, recap = cluster
    assert set(recap) >= {"lb1", "lb2", "cp1", "cp2", "cp3", "node1"}, recap
    assert sum(r["changed"] for r in recap.values()) > 0


def test_second_run_changes_nothing(lab, cluster):
    proc, recap = playbook(lab, "cluster.yml")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}, proc.stdout[-6000:]


def test_check_diff_at_vvvv_changes_nothing_and_never_shows_a_secret(lab, cluster):
    proc, recap = playbook(lab, "cluster.yml", "--check", "--diff", "-vvvv")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}
    first_run = cluster[0]
    for output in (proc.stdout + proc.stderr, first_run.stdout + first_run.stderr):
        for secret in SECRETS:
            assert secret not in output, f"a secret appears in the output: {secret[:3]}..."
        assert not PRIVATE_KEY.search(output)


def test_secrets_stay_on_their_hosts_in_root_only_files(lab, cluster):
    for host in LBS:
        modes = lab.exec(host, "stat", "-c", "%a %U %n", "/etc/keepalived/keepalived.conf",
                         "/etc/haproxy/haproxy.cfg").stdout.split("\n")
        assert all(m.startswith("640 root") for m in modes if m), modes
    # The control-plane hosts' keepalived (static pod, VRRP v2 in the lab) holds the VRRP password.
    for host in lab.control_plane:
        conf = "/etc/keepalived/keepalived.conf"
        assert " auth_pass vrrp-7Qx\n" in lab.exec(host, "cat", conf).stdout, f"{host}: no password"
        assert lab.exec(host, "stat", "-c", "%a %U", conf).stdout.strip() == "640 root"
    # The host's logs never saw them either.
    for host in (*LBS, *lab.control_plane):
        logs = lab.sh(host, "cat /var/log/*.log /var/log/*/*.log 2>/dev/null || true").stdout
        assert not any(s in logs for s in SECRETS)


def test_exactly_one_lb_holds_the_vip_and_it_serves_every_apiserver(lab, cluster):
    assert holders(lab) == ["lb1"], "the first host of the loadbalancer group is MASTER"
    served = {lab.served_by(f"https://{VIP}:{VIP_PORT}/whoami") for _ in range(9)}
    assert served == set(lab.control_plane)


SETTLE_TASK = "TASK [kubeha_lb : Apiserver LB | Let the VRRP election settle]"


def test_a_vip_still_moving_is_looked_at_again_once_the_election_settles(lab, cluster):
    """A second holder at the first look (a handover caught between two hosts' answers) is not a
    split brain if it is gone once the election has had time to finish: the play passes."""
    assert holders(lab) == ["lb1"]
    lab.exec("lb2", "ip", "addr", "add", f"{VIP}/24", "dev", "eth0")
    # Task banners printed when a task starts (the lab's ansible.cfg defers them to the first
    # result shown, which for the wait is when it ends), so the second holder goes during the wait.
    proc = subprocess.Popen(
        [str(REPO / "tests" / "lab" / "lab"), "ctl", "env", "ANSIBLE_DISPLAY_SKIPPED_HOSTS=true",
         "ansible-playbook", "-i", lab.inventory.relative_to(REPO), "cluster.yml", "--tags", "apiserver-lb"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=lab.env)
    output = []
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith(SETTLE_TASK):
                # The first look has seen two holders; the handover ends during the wait.
                lab.exec("lb2", "ip", "addr", "del", f"{VIP}/24", "dev", "eth0")
        proc.wait(timeout=300)
    finally:
        lab.exec("lb2", "ip", "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(output)
    assert proc.returncode == 0, text[-6000:]
    assert SETTLE_TASK in text and "lb1 holds 10.199.0.100/24" in text, text[-3000:]


def test_a_split_brain_that_outlasts_an_election_fails_the_play(lab, cluster):
    """Two holders at both looks fail the play after the settle wait, naming both hosts. Once
    the second holder is gone the play passes again, without waiting (one holder at first look)."""
    assert holders(lab) == ["lb1"]
    lab.exec("lb2", "ip", "addr", "add", f"{VIP}/24", "dev", "eth0")
    try:
        proc, recap = playbook(lab, "cluster.yml", "--tags", "apiserver-lb")
    finally:
        lab.exec("lb2", "ip", "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)
    assert proc.returncode != 0
    assert SETTLE_TASK in proc.stdout
    assert "Split brain: lb1, lb2 all hold the VIP (10.199.0.100/24)" in proc.stdout, proc.stdout[-3000:]
    proc, recap = playbook(lab, "cluster.yml", "--tags", "apiserver-lb")
    converged(proc, recap)
    assert SETTLE_TASK not in proc.stdout, "a healthy pair has nothing to wait for"
    assert holders(lab) == ["lb1"]


def test_static_pods_are_schema_valid_and_carry_the_config_checksum(lab, cluster):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    import yaml

    expected = {"node1": ("nginx-proxy", "/etc/nginx/nginx.conf", "nginx-cfg-checksum")}
    expected.update({cp: ("keepalived", "/etc/keepalived/keepalived.conf", "keepalived-cfg-checksum")
                     for cp in lab.control_plane})
    for host, (pod, config, annotation) in expected.items():
        manifest = yaml.safe_load(lab.exec(host, "cat", f"/etc/kubernetes/manifests/{pod}.yml").stdout)
        kubernetes_validate.validate(manifest, "1.29", strict=True)
        checksum = lab.exec(host, "sha1sum", config).stdout.split()[0]
        assert manifest["metadata"]["annotations"][annotation] == checksum
    assert lab.exec("node1", "test", "-e", "/etc/kubernetes/manifests/haproxy.yml", check=False).returncode == 1


@pytest.mark.path_independent
def test_a_failing_apiserver_is_routed_around_without_failed_requests(lab, cluster):
    lab.cmd("apiserver", "cp2", "fail")
    try:
        load = Load(lab, duration=10)
        result = load.result()
    finally:
        lab.cmd("apiserver", "cp2", "ok")
    # haproxy checks every 2 s and takes a server out after 2 failures: from 5 s on, cp2 serves nothing.
    late = {r.get("host") for r in result["results"] if r["t"] > 5 and r["ok"]}
    record("apiserver /healthz fails", {"failed": result["failed"], "requests": result["requests"]})
    assert result["failed"] == 0, result
    assert "cp2" not in late and late, late


@pytest.mark.path_independent
def test_a_config_change_reloads_without_dropping_connections(lab, cluster):
    before = pidof(lab, "lb1", "haproxy")
    load = Load(lab, duration=25)
    proc, recap = playbook(lab, "cluster.yml", "--tags", "apiserver-lb", "-e", "kubeha_lb_check_inter=3s")
    result = load.result()
    converged(proc, recap)
    assert recap["lb1"]["changed"] >= 1
    assert pidof(lab, "lb1", "haproxy") != before, "haproxy was not reloaded"
    record("config change + reload", {"failed": result["failed"], "requests": result["requests"]})
    assert result["failed"] == 0, result
    converged(*playbook(lab, "cluster.yml", "--tags", "apiserver-lb"))


# The goal for every failover event: the VIP serves again within 2 s, and at most one request is
# lost to it. Requests whose connection was accepted and then cut (the ones in flight in a
# SIGKILLed haproxy) are recorded apart: no failover can save those.
GOAL_SECONDS, GOAL_LOST = 2.0, 1


def failover(lab, name, breaker, restore, after="lb2", duration=8):
    """Breaks the VIP holder (lb1) under load; the VIP must move and serve again within the goal,
    and be held by `after` when the load ends. Records and returns the figures."""
    assert wait_until(lambda: holders(lab) == ["lb1"], 15), holders(lab)
    load = Load(lab, duration=duration)
    time.sleep(1.5)
    breaker("lb1")
    result = load.result()
    try:
        figures = {k: result[k] for k in ("outage_seconds", "failed", "cut", "delayed", "max_latency", "requests")}
        figures["holder after"] = ",".join(holders(lab)) or None
        record(name, figures)
        assert figures["holder after"] == after, figures
        assert result["results"][-1]["ok"], "the VIP does not serve again"
        lost = figures["failed"] - figures["cut"]
        assert figures["outage_seconds"] <= GOAL_SECONDS and lost <= GOAL_LOST, figures
        return figures
    finally:
        restore("lb1")
        assert wait_until(lambda: holders(lab) == ["lb1"], 30), f"lb1 did not take the VIP back: {holders(lab)}"


@pytest.mark.path_independent
def test_failover_when_haproxy_dies(lab, cluster):
    """On systemd, the unit's Restart=always brings haproxy back at once, but the track script has
    already moved the VIP: once the probe passes again (rise 2), lb1 takes it back, within the same
    load and within the same goal for each of the two handovers. An init script leaves haproxy
    dead: the VIP stays on lb2."""
    init = lab.init("lb1")
    failover(lab, f"haproxy killed on the VIP holder ({init})",
             lambda h: kill_haproxy(lab, h),
             lambda h: lab.exec(h, "service", "haproxy", "start"),
             after="lb1" if init == "systemd" else "lb2", duration=12 if init == "systemd" else 8)


@pytest.mark.path_independent
def test_a_rebooted_vip_holder_takes_the_vip_back_and_needs_no_run(lab, cluster):
    """A power cut on lb1 (the VIP holder), then a boot: systemd starts haproxy and keepalived,
    keepalived takes the VIP back from lb2, and cluster.yml then finds nothing to change (the
    configs were on disk)."""
    if lab.init("lb1") != "systemd":
        pytest.skip("lb1 boots tini, which starts no service")
    assert wait_until(lambda: holders(lab) == ["lb1"], 15), holders(lab)
    lab.reboot("lb1")

    def active():
        return lab.exec("lb1", "systemctl", "is-active", "haproxy", "keepalived", check=False).stdout.split()

    assert wait_until(lambda: active() == ["active", "active"], 30), active()
    assert wait_until(lambda: holders(lab) == ["lb1"], 15), holders(lab)
    proc, recap = playbook(lab, "cluster.yml", "--limit", "lb1", "--tags", "apiserver-lb")
    converged(proc, recap)
    assert recap["lb1"]["changed"] == 0, proc.stdout[-3000:]


@pytest.mark.path_independent
def test_failover_when_keepalived_stops(lab, cluster):
    failover(lab, "keepalived stopped on the VIP holder",
             lambda h: lab.exec(h, "service", "keepalived", "stop"),
             lambda h: lab.exec(h, "service", "keepalived", "start"))


@pytest.mark.path_independent
def test_failover_when_the_whole_host_dies(lab, cluster):
    """A power cut (`lab crash`: the cable, then every process): lb2 notices the missing adverts."""
    def bring_back(host):
        lab.cmd("up")
        converged(*playbook(lab, "cluster.yml", "--limit", host, "--tags", "apiserver-lb"))

    failover(lab, "VIP holder dies (power cut)", lambda h: lab.cmd("crash", h), bring_back)


FOREIGN = """\
global_defs {{
    router_id other-cluster-{host}
}}
vrrp_instance other {{
    state {state}
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        10.199.0.150/24 dev eth0
    }}
}}
"""


def test_a_router_id_another_cluster_uses_is_refused(lab, cluster):
    """Another cluster's keepalived pair (cp3 and node1, multicast) takes our VRRP router id:
    cluster.yml refuses to deploy, naming the id and the foreign source, and changes nothing."""
    conf = lab.exec("lb1", "cat", "/etc/keepalived/keepalived.conf").stdout
    vrid = next(int(line.split()[1]) for line in conf.splitlines() if line.split()[:1] == ["virtual_router_id"])
    before = {h: lab.exec(h, "sha1sum", "/etc/keepalived/keepalived.conf").stdout for h in LBS}
    pair = {"cp3": ("MASTER", 120), "node1": ("BACKUP", 110)}
    try:
        for host, (state, priority) in pair.items():
            lab.exec(host, "sh", "-c", "mkdir -p /run/other && cat > /run/other/keepalived.conf",
                     input=FOREIGN.format(host=host, state=state, vrid=vrid, priority=priority))
            lab.exec(host, "keepalived", "-f", "/run/other/keepalived.conf", "-p", "/run/other/keepalived.pid",
                     "-r", "/run/other/vrrp.pid")
        assert wait_until(lambda: "10.199.0.150/" in lab.exec("cp3", "ip", "-o", "addr").stdout, 10)
        proc, recap = playbook(lab, "cluster.yml", "--tags", "apiserver-lb", "-e", "kubeha_lb_verify=false")
        assert proc.returncode != 0
        assert f"VRID {vrid} is already in use" in proc.stdout, proc.stdout[-3000:]
        assert lab.hosts["cp3"] in proc.stdout
        assert {h: lab.exec(h, "sha1sum", "/etc/keepalived/keepalived.conf").stdout for h in LBS} == before
    finally:
        for host in pair:
            lab.exec(host, "sh", "-c", "kill $(cat /run/other/keepalived.pid) 2>/dev/null; true")
    assert wait_until(lambda: "10.199.0.150/" not in lab.exec("cp3", "ip", "-o", "addr").stdout, 10)
    converged(*playbook(lab, "cluster.yml", "--tags", "apiserver-lb"))
