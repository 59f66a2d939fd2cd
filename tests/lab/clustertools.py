"""Helpers for the tests of cluster.yml on the lab (the `cluster` fixture in conftest.py uses deploy)."""

import json
import re
import time

from labtools import LAB_DIR, REPO

# The secrets inventory/lab/group_vars/all/cluster.yml holds.
SECRETS = ("lab-stats-secret-7f3a", "vrrp-7Qx")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
RESULTS = LAB_DIR / "results" / "failover.json"


def playbook(lab, name, *extra, timeout=900):
    """ansible-playbook from the controller namespace; returns (process, {host: recap})."""
    proc = lab.ctl("ansible-playbook", "-i", lab.inventory.relative_to(REPO), name, *extra,
                   check=False, timeout=timeout)
    recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)),
                          "unreachable": int(m.group(4)), "failed": int(m.group(5))}
             for m in RECAP.finditer(proc.stdout)}
    return proc, recap


def converged(proc, recap):
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap and all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap


def deploy(lab):
    """reset.yml (so a reused lab starts from scratch too), then cluster.yml at -vvvv (the
    secrets tests read that output). `lab up` installed the daemons every config is validated
    with (the inventory's lab_preinstall)."""
    converged(*playbook(lab, "reset.yml"))
    proc, recap = playbook(lab, "cluster.yml", "-vvvv")
    converged(proc, recap)
    return proc, recap


_recorded = {}


def record(name, figures):
    """Adds figures to this run's results file, which starts empty in each test process, so no
    figure from an earlier run stays in it; each carries the time it was measured."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _recorded[name] = {**figures, "measured": stamp}
    RESULTS.write_text(json.dumps(_recorded, indent=2, sort_keys=True) + "\n")
