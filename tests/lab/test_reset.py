"""reset.yml on the lab, after cluster.yml: it stops every haproxy, keepalived and etcd process
(found by executable, whatever started them), leaves the VIP on no host, puts every host's disk
back as it was before cluster.yml (packages aside), changes nothing in check mode or when run
again, and cluster.yml converges after it. It undoes the cluster the other tests share, so
conftest.py runs it after them; it leaves the lab reset."""

import pytest

from clustertools import converged, playbook
from labtools import wait_until
from test_cluster import LBS, holders

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

DAEMONS = ("haproxy", "keepalived", "etcd")


def daemons(lab):
    """{host: [daemon names running there]} for the hosts that run any."""
    found = {}
    for host in lab.hosts:
        names = lab.exec(host, "ps", "-eo", "comm=", check=False).stdout.split()
        running = sorted({n for n in names if n in DAEMONS})
        if running:
            found[host] = running
    return found


def disks(lab):
    return {host: lab.disk(host) for host in lab.hosts}


def changes(before, after):
    return {(h, p): (before[h].get(p), after[h].get(p))
            for h in before for p in set(before[h]) | set(after[h]) if before[h].get(p) != after[h].get(p)}


def test_reset_undoes_cluster_yml_and_cluster_yml_converges_after_it(lab, cluster):
    deployed = disks(lab)
    # test_remove_node.py, before this, took cp3 out.
    assert holders(lab) == ["lb1"] and set(daemons(lab)) >= {*LBS, "cp1", "cp2"}

    proc, recap = playbook(lab, "reset.yml", "--check", "--diff")
    converged(proc, recap)
    assert changes(deployed, disks(lab)) == {}, "reset.yml --check changed files"
    assert holders(lab) == ["lb1"], "reset.yml --check moved the VIP"
    assert all(recap[h]["changed"] > 0 for h in ("lb1", "lb2", "cp1")), recap

    converged(*playbook(lab, "reset.yml"))
    assert daemons(lab) == {}
    assert holders(lab) == []
    reset = disks(lab)

    proc, recap = playbook(lab, "reset.yml")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}, proc.stdout[-4000:]
    assert changes(reset, disks(lab)) == {}

    # cluster.yml, then reset.yml again: every host's disk is as reset left it the first time
    # (the packages cluster.yml installed are there both times), so nothing cluster.yml wrote
    # is left behind and every file it replaced was put back.
    converged(*playbook(lab, "cluster.yml"))
    # Both LB hosts start keepalived in the same task; whichever is first may hold the VIP until
    # lb1 (the higher priority) takes it over, a few adverts later.
    assert wait_until(lambda: holders(lab) == ["lb1"], 15), holders(lab)
    converged(*playbook(lab, "reset.yml"))
    assert changes(reset, disks(lab)) == {}
    assert daemons(lab) == {} and holders(lab) == []
