"""The etcd role on the lab's etcd hosts (cp1..cp3): a healthy 3-member TLS cluster whose keys were
made where they are used, that survives losing its leader, and renews its certificates with a
rolling restart that loses no acknowledged write."""

import json
import re
import subprocess
import time

import pytest

from labtools import REPO, wait_until
from clustertools import PRIVATE_KEY, converged, playbook, record

pytestmark = pytest.mark.lab

MEMBERS = ("cp1", "cp2", "cp3")
CERT_DIR = "/etc/ssl/etcd/ssl"


def etcdctl(lab, host, *args, check=True, timeout=30, members=MEMBERS):
    endpoints = ",".join(f"https://{lab.hosts[m]}:2379" for m in members)
    return lab.exec(host, "etcdctl", f"--endpoints={endpoints}", f"--cacert={CERT_DIR}/ca.pem",
                    f"--cert={CERT_DIR}/admin-{etcd_name(host)}.pem",
                    f"--key={CERT_DIR}/admin-{etcd_name(host)}-key.pem", "--command-timeout=2s", *args,
                    check=check, timeout=timeout)


def healthy(lab, host):
    """How many members answer `endpoint health` (etcdctl prints it on stderr)."""
    proc = etcdctl(lab, host, "endpoint", "health", check=False)
    return (proc.stdout + proc.stderr).count("is healthy")


def etcd_name(host):
    return {"cp1": "etcd1", "cp2": "etcd2", "cp3": "etcd3"}[host]


@pytest.fixture(scope="module")
def etcd(cluster):
    """cluster.yml's first run, at -vvvv: etcd is its first play."""
    return cluster[0]


def test_three_members_are_healthy_over_tls(lab, etcd):
    assert healthy(lab, "cp1") == 3
    members = json.loads(etcdctl(lab, "cp2", "member", "list", "-w", "json").stdout)["members"]
    assert sorted(m["name"] for m in members) == ["etcd1", "etcd2", "etcd3"]
    assert all(url.startswith("https://") for m in members for url in m["peerURLs"] + m["clientURLs"])
    # Without a client certificate etcd refuses the client.
    plain = lab.exec("cp1", "etcdctl", f"--endpoints=https://{lab.hosts['cp1']}:2379",
                     f"--cacert={CERT_DIR}/ca.pem", "--command-timeout=2s", "endpoint", "health", check=False)
    assert plain.returncode != 0


def test_keys_are_0600_and_were_made_on_their_host(lab, etcd):
    for host in MEMBERS:
        listing = lab.sh(host, f"stat -c '%a %U %n' {CERT_DIR}/*-key.pem").stdout.splitlines()
        keys = {line.split()[2].rsplit("/", 1)[1]: line.split()[:2] for line in listing}
        assert all(mode == ["600", "etcd"] for mode in keys.values()), keys
        # Only its own keys (and the CA's on the CA host) exist on a host.
        own = {f"{kind}-{etcd_name(host)}-key.pem" for kind in ("member", "admin", "node")}
        assert set(keys) == own | ({"ca-key.pem"} if host == "cp1" else set()), keys
        # Each certificate holds the public half of the key beside it: the key never moved.
        for kind in ("member", "admin"):
            cert_pub = lab.sh(host, f"openssl x509 -noout -pubkey -in {CERT_DIR}/{kind}-{etcd_name(host)}.pem").stdout
            key_pub = lab.sh(host, f"openssl pkey -pubout -in {CERT_DIR}/{kind}-{etcd_name(host)}-key.pem").stdout
            assert cert_pub == key_pub


def test_no_private_key_in_the_output_even_at_vvvv(etcd):
    assert not PRIVATE_KEY.search(etcd.stdout + etcd.stderr)
    assert "CERTIFICATE REQUEST" in etcd.stdout, "-vvvv shows the CSRs that travelled, and only those"


def test_a_second_run_changes_nothing(lab, etcd):
    proc, recap = playbook(lab, "cluster.yml", "--tags", "etcd")
    converged(proc, recap)
    assert {h: recap[h]["changed"] for h in MEMBERS} == {h: 0 for h in MEMBERS}, proc.stdout[-4000:]


WRITER = """
i=0; end=$(( $(date +%s) + {seconds} ))
while [ "$(date +%s)" -lt "$end" ]; do
  i=$((i+1))
  if etcdctl {flags} put kubeha-{tag}-$i $i >/dev/null 2>&1; then echo "ok $i $(date +%s.%N)";
  else echo "fail $i $(date +%s.%N)"; fi
  sleep 0.05
done
"""


def writer(lab, host, tag, seconds, members=MEMBERS):
    """Starts a bounded write loop on host, to members; returns the Popen of `lab exec`."""
    endpoints = ",".join(f"https://{lab.hosts[m]}:2379" for m in members)
    flags = (f"--endpoints={endpoints} --cacert={CERT_DIR}/ca.pem --cert={CERT_DIR}/admin-{etcd_name(host)}.pem "
             f"--key={CERT_DIR}/admin-{etcd_name(host)}-key.pem --command-timeout=1s --dial-timeout=1s")
    return subprocess.Popen([str(REPO / "tests" / "lab" / "lab"), "exec", host,
                             "sh", "-c", WRITER.format(seconds=seconds, flags=flags, tag=tag)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env)


def writes(proc):
    out, _ = proc.communicate(timeout=300)
    return [(status, int(i), float(t)) for status, i, t in (line.split() for line in out.splitlines())]


def acknowledged_present(lab, tag, rows, host="cp3"):
    """The acknowledged writes that host's view of the cluster lacks (none, when nothing was lost)."""
    keys = set(etcdctl(lab, host, "get", f"kubeha-{tag}-", "--prefix", "--keys-only").stdout.split())
    acked = {f"kubeha-{tag}-{i}" for status, i, _ in rows if status == "ok"}
    return acked - keys


@pytest.mark.path_independent
def test_writes_resume_after_the_leader_is_killed(lab, etcd):
    status = json.loads(etcdctl(lab, "cp1", "endpoint", "status", "-w", "json").stdout)
    leader_id = status[0]["Status"]["leader"]
    members = json.loads(etcdctl(lab, "cp1", "member", "list", "-w", "json").stdout)["members"]
    leader = {m["ID"]: m["name"] for m in members}[leader_id]
    host = {etcd_name(h): h for h in MEMBERS}[leader]
    survivor = next(h for h in MEMBERS if h != host)
    loop = writer(lab, survivor, "leader", 8)
    time.sleep(2)
    killed_at = time.time()
    lab.sh(host, "kill -9 $(pidof etcd)")
    rows = writes(loop)
    try:
        after = [r for r in rows if r[2] >= killed_at]
        first_ok = next((t for s, _, t in after if s == "ok"), None)
        assert first_ok is not None, rows[-10:]
        failed = sum(1 for s, _, _ in after if s == "fail")
        record("etcd leader SIGKILLed", {"seconds_until_writes_resume": round(first_ok - killed_at, 2),
                                         "failed_writes": failed})
        assert not acknowledged_present(lab, "leader", rows)
    finally:
        lab.exec(host, "service", "etcd", "start")
        assert wait_until(lambda: healthy(lab, host) == 3, 30)


# The path carries the same arguments to the same binaries: the deploy and the second run above
# prove etcd_certs on both paths; this measures the daemons, once.
@pytest.mark.path_independent
def test_renewal_rolls_the_restart_and_loses_no_write(lab, etcd):
    before = {h: lab.sh(h, f"openssl x509 -noout -serial -in {CERT_DIR}/member-{etcd_name(h)}.pem").stdout
              for h in MEMBERS}
    loop = writer(lab, "cp1", "renew", 40)
    # Renew everything that expires within 400 days: every leaf (valid 365 days), not the CA.
    proc, recap = playbook(lab, "cluster.yml", "--tags", "etcd", "-e", "etcd_cert_renew_before_days=400")
    rows = writes(loop)
    converged(proc, recap)
    after = {h: lab.sh(h, f"openssl x509 -noout -serial -in {CERT_DIR}/member-{etcd_name(h)}.pem").stdout
             for h in MEMBERS}
    assert all(before[h] != after[h] for h in MEMBERS), "every member certificate was renewed"
    restarts = re.findall(r"TASK \[etcd : Etcd \| Restart (cp\d)\]", proc.stdout)
    assert restarts == list(MEMBERS), restarts
    assert not acknowledged_present(lab, "renew", rows), "an acknowledged write was lost"
    record("etcd certificate renewal, rolling restart",
           {"writes": len(rows), "failed_writes": sum(1 for s, _, _ in rows if s == "fail"), "lost_writes": 0})
    # Back to the normal policy: nothing changes.
    proc, recap = playbook(lab, "cluster.yml", "--tags", "etcd")
    converged(proc, recap)
    assert {h: recap[h]["changed"] for h in MEMBERS} == {h: 0 for h in MEMBERS}


@pytest.mark.path_independent
def test_a_rebooted_member_starts_etcd_by_itself_and_rejoins(lab, etcd):
    """A power cut on a systemd member, then a boot: etcd starts from its unit, with no Ansible,
    and the cluster is whole again."""
    host = next(h for h in MEMBERS if lab.init(h) == "systemd" and h != "cp1")
    lab.reboot(host)
    assert wait_until(lambda: healthy(lab, "cp1") == 3, 60), etcdctl(lab, "cp1", "endpoint", "health", check=False)
    assert lab.exec(host, "systemctl", "is-enabled", "etcd").stdout.strip() == "enabled"


def test_an_initial_setting_is_rewritten_without_a_restart(lab, etcd):
    """etcd reads ETCD_INITIAL_* only when it creates its data: a member with data that only sees
    those change (as when a host joins or leaves the etcd group) keeps running."""
    pids = {h: lab.exec(h, "pidof", "etcd").stdout.strip() for h in MEMBERS}
    try:
        proc, recap = playbook(lab, "cluster.yml", "--tags", "etcd", "-e", "etcd_initial_cluster_token=kubeha-other")
        converged(proc, recap)
        assert all(recap[h]["changed"] == 1 for h in MEMBERS), proc.stdout[-4000:]
        assert all("ETCD_INITIAL_CLUSTER_TOKEN=kubeha-other" in lab.exec(h, "cat", "/etc/default/etcd").stdout
                   for h in MEMBERS)
        assert {h: lab.exec(h, "pidof", "etcd").stdout.strip() for h in MEMBERS} == pids
    finally:
        converged(*playbook(lab, "cluster.yml", "--tags", "etcd"))
    assert {h: lab.exec(h, "pidof", "etcd").stdout.strip() for h in MEMBERS} == pids


def test_the_signing_hosts_ca_key_is_never_lost_or_replaced(lab, etcd):
    """remove-node.yml refuses to remove the first etcd host (it holds the CA key, which reset
    would delete), and cluster.yml refuses to make a new CA where that key is gone while members
    have data (the members would not trust it)."""
    proc, _ = playbook(lab, "remove-node.yml", "-e", "node=cp1")
    assert proc.returncode != 0
    assert "cp1 is the first etcd host: it holds the etcd CA key" in proc.stdout, proc.stdout[-3000:]
    lab.exec("cp1", "mv", f"{CERT_DIR}/ca-key.pem", "/root/kubeha-ca-key.pem.aside")
    try:
        proc, _ = playbook(lab, "cluster.yml", "--tags", "etcd")
        assert proc.returncode != 0
        assert "a new CA would not be trusted by them" in proc.stdout, proc.stdout[-3000:]
        assert lab.exec("cp1", "test", "-e", f"{CERT_DIR}/ca-key.pem", check=False).returncode == 1
    finally:
        lab.exec("cp1", "mv", "/root/kubeha-ca-key.pem.aside", f"{CERT_DIR}/ca-key.pem")
    converged(*playbook(lab, "cluster.yml", "--tags", "etcd"))
