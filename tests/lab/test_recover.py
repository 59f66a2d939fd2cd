"""recover-control-plane.yml on the lab: cp2's etcd (etcd2, a systemd host) loses its data and
its keys, as a rebuilt host would. scale.yml refuses to take it for a new host; check mode
changes nothing; the playbook says what it found before it acts, removes etcd2's member, and
etcd2 joins again with keys made on cp2, syncing from the quorum, while a client sends requests
through the VIP and a writer writes to etcd: no request fails, no acknowledged write is lost,
and etcd2's own copy of the data has them all. A second run changes nothing. A host that does
not answer (cp3, powered off) is reported and left alone, and the run succeeds; once it is
back, the next run starts its etcd where it did not start at boot."""

import pytest

from clustertools import converged, playbook, record
from labtools import wait_until
from test_etcd import CERT_DIR, healthy
from test_remove_node import members, under_load

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

OTHERS = ("cp1", "cp3")


def serial(lab, host, name):
    return lab.sh(host, f"openssl x509 -noout -serial -in {CERT_DIR}/{name}").stdout.strip()


@pytest.fixture(scope="module")
def wiped(lab, cluster):
    """cp2 with etcd stopped, and neither its data nor its own keys and certificates left."""
    if "etcd3" not in members(lab):     # test_remove_node.py ran, test_scale.py did not
        converged(*playbook(lab, "scale.yml"))
    assert members(lab) == ["etcd1", "etcd2", "etcd3"]
    before = serial(lab, "cp2", "member-etcd2.pem")
    lab.sh("cp2", f"systemctl stop etcd && rm -rf /var/lib/etcd/member {CERT_DIR}/*-etcd2*")
    assert wait_until(lambda: healthy(lab, "cp1") == 2, 30)
    return before


def test_scale_refuses_a_member_whose_host_lost_its_data(lab, wiped):
    proc, _ = playbook(lab, "scale.yml")
    assert proc.returncode != 0
    assert ("etcd2: etcd still lists this member as started, but the host has no data in /var/lib/etcd. "
            "Replace it with recover-control-plane.yml") in proc.stdout, proc.stdout[-3000:]
    assert lab.exec("cp2", "sh", "-c", f"ls {CERT_DIR}/*-etcd2*", check=False).returncode != 0


def test_recover_in_check_mode_says_what_it_would_do_and_changes_nothing(lab, wiped):
    proc, recap = playbook(lab, "recover-control-plane.yml", "--check")
    converged(proc, recap)
    assert "cp2 (etcd2): no data, but etcd lists its member as started" in proc.stdout
    assert "cp1 (etcd1): a healthy member, left as it is" in proc.stdout
    assert members(lab) == ["etcd1", "etcd2", "etcd3"]
    assert lab.exec("cp2", "sh", "-c", f"ls {CERT_DIR}/*-etcd2* /var/lib/etcd/member", check=False).returncode != 0


def test_recover_replaces_the_member_without_losing_a_request_or_a_write(lab, wiped):
    proc, recap, figures = under_load(lab, "recover", OTHERS, "recover-control-plane.yml", joined="cp2")
    # What it found came before what it did.
    out = proc.stdout
    assert out.index("cp2 (etcd2): no data, but etcd lists its member as started") < out.index("Remove the leaving members")
    assert members(lab) == ["etcd1", "etcd2", "etcd3"]
    assert wait_until(lambda: healthy(lab, "cp1") == 3, 30)
    # New keys, made on cp2: a new certificate, and no key but cp2's own there.
    assert serial(lab, "cp2", "member-etcd2.pem") != wiped
    assert lab.exec("cp2", "test", "-e", f"{CERT_DIR}/ca-key.pem", check=False).returncode == 1
    record("recover-control-plane: an etcd member whose host lost its data, live", figures)
    assert figures["failed"] == 0 and figures["lost_writes"] == 0, figures
    assert figures["missing_on_new_member"] == 0, figures

    proc, recap = playbook(lab, "recover-control-plane.yml")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}, proc.stdout[-4000:]


def test_recover_reports_a_dead_host_and_leaves_it_alone(lab, wiped):
    lab.cmd("crash", "cp3")
    try:
        proc, recap = playbook(lab, "recover-control-plane.yml", timeout=300)
        converged(proc, recap)
        assert "cp3 (etcd3): does not answer: left as it is" in proc.stdout
        assert all(r["changed"] == 0 for r in recap.values()), recap
    finally:
        lab.cmd("up")
    # Back, with its data. A host on init scripts does not start etcd at boot (the lab's tini
    # hosts start sshd only): the next run starts it.
    proc, recap = playbook(lab, "recover-control-plane.yml")
    converged(proc, recap)
    assert ("cp3 (etcd3): has data, but etcd does not answer there" in proc.stdout
            or "cp3 (etcd3): a healthy member" in proc.stdout), proc.stdout[-4000:]
    assert wait_until(lambda: healthy(lab, "cp1") == 3, 60)
