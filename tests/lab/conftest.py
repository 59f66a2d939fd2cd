"""Fixtures for the lab tests: the lab comes up once per session and goes down at the end.

Environment:
  LAB_REUSE=1  the lab is already up (tests/lab/lab up): use it and leave it up; the tests
               that take the lab down are skipped.
  LAB_KEEP=1   bring the lab up (idempotent) but leave it up at the end; same skips.
  LAB_DIR      where the lab keeps its state (default <repo>/.lab), as for tests/lab/lab.
"""

import os

import pytest

from labtools import Lab, keeps_lab


# test_remove_node.py takes a host out of the cluster the other tests share, test_scale.py puts it
# back (and node1 in, afresh), test_recover.py wipes etcd2 and recovers it, test_remove_dead.py
# takes out cp3 powered off, test_reset.py undoes that cluster, test_lab.py takes the lab itself
# down and up, and test_topologies.py brings other inventories up in its place: they run last, in
# that order (sort is stable: the rest keep pytest's order).
LAST = {"test_rotate_ca.py": 0.9, "test_lb_host.py": 0.95, "test_remove_node.py": 1, "test_scale.py": 1.5, "test_recover.py": 1.7, "test_remove_dead.py": 1.8,
        "test_reset.py": 2, "test_lab.py": 3, "test_topologies.py": 4}


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LAST.get(item.path.name, 0))


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (namespaces, mounts)")
    lab = Lab()
    if os.environ.get("LAB_REUSE") == "1":
        status = lab.cmd("status", check=False)
        assert status.returncode == 0, f"LAB_REUSE=1 but the lab is not (fully) up:\n{status.stdout}"
    else:
        # The first run builds the rootfs (a few minutes); later ones take about a second.
        lab.cmd("up", timeout=1200)
    yield lab
    if not keeps_lab():
        lab.cmd("down")



@pytest.fixture(scope="session")
def cluster(lab):
    """The lab after cluster.yml (at -vvvv): (process, recap)."""
    from clustertools import deploy
    return deploy(lab)
