"""remove-node.yml on the lab: cp3, an apiserver behind every load balancer and etcd member
etcd3, leaves while a client sends requests through the VIP and a writer writes to etcd. Check
mode changes nothing, a removal that would cost etcd its quorum is refused before anything
changes, and the real one loses no request and no acknowledged write: every LB config names
cp1 and cp2 only, etcd has two members, cp3 runs nothing, and a second run changes nothing.
The cluster is left without cp3: conftest.py runs this after every test that shares it.
(test_remove_dead.py removes a host that is already dead.)"""

import json
import re
import time

import pytest

from clustertools import converged, playbook, record
from labtools import wait_until
from test_cluster import Load
from test_etcd import acknowledged_present, etcdctl, healthy, writer, writes

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

STAYING = ("cp1", "cp2")
SERVER = re.compile(r"^\s*server\s+(?:\S+\s+)?(\d+\.\d+\.\d+\.\d+):6443", re.M)
CONFIGS = {"lb1": "/etc/haproxy/haproxy.cfg", "lb2": "/etc/haproxy/haproxy.cfg", "node1": "/etc/nginx/nginx.conf"}


def backends(lab):
    """{host: the apiserver addresses its load balancer config names}."""
    return {h: sorted(SERVER.findall(lab.exec(h, "cat", path).stdout)) for h, path in CONFIGS.items()}


def members(lab):
    out = etcdctl(lab, "cp1", "member", "list", "-w", "json", members=STAYING).stdout
    return sorted(m["name"] for m in json.loads(out)["members"])


def under_load(lab, tag, writing_to, *play, seconds=60, joined=None):
    """Runs ansible-playbook *play while the client sends requests through the VIP and a writer on
    cp1 writes to the etcd members writing_to, for `seconds`; returns (proc, recap, figures).
    joined: a member whose own copy of the data (a serializable read answered there alone) must
    hold every acknowledged write."""
    load = Load(lab, duration=seconds)
    loop = writer(lab, "cp1", tag, seconds, members=writing_to)
    began = time.monotonic()
    proc, recap = playbook(lab, *play)
    took = time.monotonic() - began
    result, rows = load.result(), writes(loop)
    converged(proc, recap)
    assert took < seconds - 5, f"{play[0]} took {took:.0f} s, longer than the load covers"
    figures = {"seconds": round(took, 1), "requests": result["requests"], "failed": result["failed"],
               "writes": len(rows), "failed_writes": sum(1 for s, _, _ in rows if s == "fail"),
               "lost_writes": len(acknowledged_present(lab, tag, rows, host="cp1"))}
    if joined:
        own = set(etcdctl(lab, joined, "get", f"kubeha-{tag}-", "--prefix", "--keys-only", "--consistency=s",
                          members=(joined,)).stdout.split())
        acked = {f"kubeha-{tag}-{i}" for status, i, _ in rows if status == "ok"}
        figures["missing_on_new_member"] = len(acked - own)
    return proc, recap, figures


def test_remove_node_takes_cp3_out_without_losing_a_request_or_a_write(lab, cluster):
    everyone = sorted(lab.hosts[h] for h in ("cp1", "cp2", "cp3"))
    assert backends(lab) == {h: everyone for h in CONFIGS}
    assert members(lab) == ["etcd1", "etcd2", "etcd3"]

    proc, recap = playbook(lab, "remove-node.yml", "-e", "node=cp3", "--check", "--diff")
    converged(proc, recap)
    assert backends(lab) == {h: everyone for h in CONFIGS} and members(lab) == ["etcd1", "etcd2", "etcd3"]

    # With etcd2 down, etcd1 alone would be one healthy member of two: no quorum. Refused first.
    lab.exec("cp2", "service", "etcd", "stop")
    try:
        proc, _ = playbook(lab, "remove-node.yml", "-e", "node=cp3")
        assert proc.returncode != 0
        assert "would leave 2 etcd member(s), of which 1 answer (cp1): that is no quorum" in proc.stdout, proc.stdout[-3000:]
        assert backends(lab) == {h: everyone for h in CONFIGS}
    finally:
        lab.exec("cp2", "service", "etcd", "start")
    assert wait_until(lambda: healthy(lab, "cp1") == 3, 30)
    assert members(lab) == ["etcd1", "etcd2", "etcd3"]

    # One LB host alone would hold the VIP with no VRRP peer: refused before any change.
    proc, _ = playbook(lab, "remove-node.yml", "-e", "node=lb1")
    assert proc.returncode != 0
    assert "would leave lb2 alone holding the apiserver VIP" in proc.stdout, proc.stdout[-3000:]
    assert backends(lab) == {h: everyone for h in CONFIGS}
    assert lab.exec("lb1", "pidof", "keepalived", check=False).returncode == 0

    proc, recap, figures = under_load(lab, "remove", STAYING, "remove-node.yml", "-e", "node=cp3", seconds=45)
    record("remove-node: a control-plane + etcd host, live", figures)
    assert figures["failed"] == 0 and figures["lost_writes"] == 0, figures

    staying = sorted(lab.hosts[h] for h in STAYING)
    assert backends(lab) == {h: staying for h in CONFIGS}
    assert members(lab) == ["etcd1", "etcd2"]
    assert healthy(lab, "cp1") >= 2
    assert lab.exec("cp3", "pidof", "etcd", check=False).returncode == 1
    assert lab.exec("cp3", "test", "-e", "/etc/ssl/etcd/ssl", check=False).returncode == 1

    proc, recap = playbook(lab, "remove-node.yml", "-e", "node=cp3")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}, proc.stdout[-4000:]
