"""scale.yml on the lab: cp3 (an apiserver, and etcd member etcd3) comes back after
test_remove_node.py took it out, and node1 comes in as a new worker (reset first), while a client
sends requests through the VIP and a writer writes to etcd. etcd3 joins as a learner through a
running member, with keys made on cp3, and is promoted once in sync; only then do the load
balancers name cp3. An apiserver that is not ready stops the run before any load balancer
changes; check mode changes nothing; the real run loses no request and no acknowledged write;
a second run changes nothing."""

import pytest

from clustertools import converged, playbook, record
from labtools import wait_until
from test_etcd import healthy
from test_remove_node import CONFIGS, STAYING, backends, members, under_load

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

LBS = ("lb1", "lb2")


@pytest.fixture(scope="module")
def without_cp3(lab, cluster):
    """The cluster without cp3 (test_remove_node.py leaves it so; run alone, this removes it), and
    node1 reset, so that it joins as a new worker."""
    if "etcd3" in members(lab) or any(lab.hosts["cp3"] in named for named in backends(lab).values()):
        converged(*playbook(lab, "remove-node.yml", "-e", "node=cp3"))
    converged(*playbook(lab, "reset.yml", "--limit", "node1"))
    staying = sorted(lab.hosts[h] for h in STAYING)
    assert backends(lab) == {"lb1": staying, "lb2": staying, "node1": []}
    assert members(lab) == ["etcd1", "etcd2"]


def test_scale_stops_before_the_load_balancers_when_an_apiserver_is_not_ready(lab, without_cp3):
    lab.cmd("apiserver", "cp3", "fail")
    try:
        proc, _ = playbook(lab, "scale.yml", "--skip-tags", "etcd", "-e", "kubeha_apiserver_ready_retries=2")
    finally:
        lab.cmd("apiserver", "cp3", "ok")
    assert proc.returncode != 0
    assert "cp3's apiserver did not answer" in proc.stdout and "No load balancer was changed" in proc.stdout, \
        proc.stdout[-3000:]
    staying = sorted(lab.hosts[h] for h in STAYING)
    assert backends(lab) == {"lb1": staying, "lb2": staying, "node1": []}


def test_scale_in_check_mode_changes_nothing(lab, without_cp3):
    proc, recap = playbook(lab, "scale.yml", "--check", "--diff")
    converged(proc, recap)
    assert recap["cp3"]["changed"] > 0 and recap["node1"]["changed"] > 0
    staying = sorted(lab.hosts[h] for h in STAYING)
    assert backends(lab) == {"lb1": staying, "lb2": staying, "node1": []}
    assert members(lab) == ["etcd1", "etcd2"]
    assert lab.exec("cp3", "test", "-e", "/etc/ssl/etcd/ssl", check=False).returncode == 1


def test_scale_adds_cp3_and_node1_without_losing_a_request_or_a_write(lab, without_cp3):
    proc, recap, figures = under_load(lab, "scale", STAYING, "scale.yml", joined="cp3")
    # Joined as a learner, promoted; the keys were made on cp3 (only cp1 holds the CA key).
    assert "Add the joining host as a learner: cp3" in proc.stdout
    assert "Promote the learner to a voting member: cp3" in proc.stdout
    assert lab.exec("cp3", "test", "-e", "/etc/ssl/etcd/ssl/ca-key.pem", check=False).returncode == 1
    record("scale: a control-plane + etcd host and a worker, live", figures)
    assert figures["failed"] == 0 and figures["lost_writes"] == 0, figures
    assert figures["missing_on_new_member"] == 0, figures

    everyone = sorted(lab.hosts[h] for h in ("cp1", "cp2", "cp3"))
    assert backends(lab) == {h: everyone for h in CONFIGS}
    assert members(lab) == ["etcd1", "etcd2", "etcd3"]
    assert wait_until(lambda: healthy(lab, "cp1") == 3, 30)

    proc, recap = playbook(lab, "scale.yml")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}, proc.stdout[-4000:]
