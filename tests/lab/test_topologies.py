"""The seeds' other topologies, each on an inventory of its own (the dedicated LB hosts are the
main lab, test_cluster.py): the LB on the three control-plane hosts, which also run etcd
(bench/inventory3, seed 002), and external etcd on three hosts of its own beside dedicated LB
hosts (inventory/lab9, 10 hosts). Each comes up, deploys, serves every apiserver through the
VIP, and survives its VIP holder's haproxy being SIGKILLed under load within the failover goal.
The lab runs one inventory at a time: conftest.py runs these after test_lab.py took the main lab
down."""

import time

import pytest

from clustertools import converged, playbook, record
from labtools import REPO, Lab, needs_teardown_rights, wait_until
from test_cluster import GOAL_LOST, GOAL_SECONDS, VIP, VIP_PORT, Load, holders, kill_haproxy

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

TOPOLOGIES = {
    "LB on the control-plane hosts": REPO / "bench" / "inventory3" / "inventory.ini",
    "external etcd, dedicated LB hosts": REPO / "inventory" / "lab9" / "inventory.ini",
}


def group(lab, name):
    """The hosts of an inventory group, children resolved, as Ansible reads it."""
    out = lab.ctl("ansible", "-i", lab.inventory.relative_to(REPO), name, "--list-hosts").stdout
    return [line.strip() for line in out.splitlines()[1:] if line.strip()]


@needs_teardown_rights
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_topology_deploys_serves_and_survives_haproxy_death(lab, topology):
    lab.cmd("down")
    other = Lab(TOPOLOGIES[topology])
    try:
        other.cmd("up", timeout=1200)
        converged(*playbook(other, "cluster.yml"))
        lbs = group(other, "loadbalancer")
        first = lbs[0]
        assert wait_until(lambda: holders(other, lbs) == [first], 15), holders(other, lbs)
        served = {other.served_by(f"https://{VIP}:{VIP_PORT}/whoami") for _ in range(4 * len(other.control_plane))}
        assert served == set(other.control_plane)

        systemd = other.init(first) == "systemd"
        load = Load(other, duration=12 if systemd else 8)
        time.sleep(1.5)
        kill_haproxy(other, first)
        result = load.result()
        figures = {k: result[k] for k in ("outage_seconds", "failed", "cut", "delayed", "max_latency", "requests")}
        figures["holder after"] = ",".join(holders(other, lbs)) or None
        record(f"haproxy killed on the VIP holder ({topology})", figures)
        # systemd restarts haproxy and the holder takes the VIP back; init scripts leave it dead.
        assert (figures["holder after"] == first) == systemd, figures
        assert result["results"][-1]["ok"], "the VIP does not serve again"
        assert figures["outage_seconds"] <= GOAL_SECONDS and figures["failed"] - figures["cut"] <= GOAL_LOST, figures
    finally:
        other.cmd("down")
