"""remove-node.yml for a host that is already dead: cp3 (an apiserver behind every load balancer,
and etcd member etcd3) loses power. Once haproxy has marked it down, the removal runs while a
client sends requests through the VIP and a writer writes to etcd: every load balancer stops
naming cp3, etcd3's member is removed from a healthy member, cp3 is skipped after a bounded look
at its SSH port (an SSH master to a dead peer would wait forever), and the run succeeds with no
failed request and no lost write. cp3 comes back afterwards, out of the cluster."""

import pytest

from clustertools import converged, playbook, record
from labtools import haproxy_status, wait_until
from test_remove_node import CONFIGS, STAYING, backends, members, under_load

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]


def test_remove_node_takes_out_a_dead_control_plane_and_etcd_host(lab, cluster):
    if members(lab) != ["etcd1", "etcd2", "etcd3"]:     # run alone, after test_remove_node.py
        converged(*playbook(lab, "scale.yml"))
    lab.cmd("crash", "cp3")
    try:
        # Requests sent to cp3 before haproxy marks it down (`fall` failed checks, `inter` apart,
        # each waiting for its timeout) are the power cut's, not the removal's.
        assert wait_until(lambda: all(haproxy_status(lab, lb, "kube_api_backend")["cp3"].startswith("DOWN")
                                      for lb in ("lb1", "lb2")), 60)
        proc, recap, figures = under_load(lab, "dead", STAYING, "remove-node.yml", "-e", "node=cp3", seconds=60)
    finally:
        lab.cmd("up")
    record("remove-node: a dead control-plane + etcd host", figures)
    assert figures["failed"] == 0 and figures["lost_writes"] == 0, figures
    assert recap["cp3"]["changed"] == 0 and "...ignoring" in proc.stdout
    staying = sorted(lab.hosts[h] for h in STAYING)
    assert backends(lab) == {h: staying for h in CONFIGS}
    assert members(lab) == ["etcd1", "etcd2"]
