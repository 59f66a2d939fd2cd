"""An LB host rebuilt under load: `reset.yml --limit lb1` wipes the VIP holder (the VIP moves to
lb2), then `scale.yml` brings lb1 back into the VRRP group (it takes the VIP back: it has the
higher priority and preempts). The client sends a request through the VIP every 50 ms the whole
time. (remove-node.yml refuses to take an LB host out of a pair: test_remove_node.py.)"""

import time

import pytest

from clustertools import converged, playbook, record
from labtools import wait_until
from test_cluster import Load, holders, pidof

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

CONFIG = "/etc/keepalived/keepalived.conf"


def rebuilt(lab, seconds, *play):
    load = Load(lab, duration=seconds)
    began = time.monotonic()
    proc, recap = playbook(lab, *play)
    took = time.monotonic() - began
    result = load.result()
    converged(proc, recap)
    assert took < seconds - 3, f"{play[0]} took {took:.0f} s, longer than the load covers"
    figures = {"seconds": round(took, 1), **{k: result[k] for k in ("requests", "failed", "outage_seconds")}}
    return figures


def test_an_lb_host_leaves_and_joins_the_vrrp_group_without_a_failed_request(lab, cluster):
    assert wait_until(lambda: holders(lab) == ["lb1"], 10), holders(lab)
    peer_config = lab.exec("lb2", "cat", CONFIG).stdout

    figures = rebuilt(lab, 20, "reset.yml", "--limit", "lb1")
    record("reset.yml --limit lb1 (the VIP holder)", figures)
    assert figures["failed"] == 0, figures
    assert holders(lab) == ["lb2"]
    assert not pidof(lab, "lb1", "keepalived") and not pidof(lab, "lb1", "haproxy")

    figures = rebuilt(lab, 40, "scale.yml")
    record("scale.yml: lb1 joins the VRRP group again", figures)
    assert figures["failed"] == 0, figures
    assert wait_until(lambda: holders(lab) == ["lb1"], 10), holders(lab)
    assert lab.exec("lb2", "cat", CONFIG).stdout == peer_config, "lb2's keepalived config changed"
    config = lab.exec("lb1", "cat", CONFIG).stdout
    assert f"unicast_src_ip {lab.hosts['lb1']}" in config and lab.hosts["lb2"] in config
