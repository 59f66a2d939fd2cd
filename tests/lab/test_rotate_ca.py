"""rotate-etcd-ca.yml on the lab: the etcd CA replaced while a client sends requests through the
VIP and a writer writes to etcd. Check mode changes nothing; cluster.yml refuses to run while a
rotation stands half done, and the next rotate-etcd-ca.yml finishes it; no member refuses a peer
or a client on the way (their logs hold no TLS rejection); no acknowledged write is lost;
afterwards every host trusts the new CA alone, every certificate is the new CA's, a client
certificate of the old CA is refused, and cluster.yml changes nothing."""

import hashlib
import time

import pytest

from clustertools import converged, playbook, record
from test_etcd import CERT_DIR, MEMBERS, etcd_name, etcdctl, healthy
from test_remove_node import under_load

pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

# What a member logs when a TLS peer or client presents a certificate it does not trust, or
# refuses its own (etcd's and Go's wording). Only the systemd hosts keep etcd's log.
TLS_REFUSALS = ("unknown authority", "bad certificate", "certificate signed by unknown")
JOURNAL_HOSTS = ("cp1", "cp2")


def cert_files(lab):
    """{host: {file: sha256}} of every etcd host's certificate directory."""
    out = {}
    for host in MEMBERS:
        listing = lab.sh(host, f"cd {CERT_DIR} && sha256sum *").stdout
        out[host] = dict(reversed(line.split()) for line in listing.splitlines())
    return out


def journal_since(lab, host, since):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since))
    return lab.exec(host, "journalctl", "-u", "etcd", "--no-pager", "--utc", "--since", stamp).stdout


def test_rotation_replaces_the_ca_without_refusing_a_peer_or_a_client(lab, cluster):
    assert healthy(lab, "cp1") == 3
    before = cert_files(lab)
    old_ca = lab.exec("cp1", "cat", f"{CERT_DIR}/ca.pem").stdout

    proc, recap = playbook(lab, "rotate-etcd-ca.yml", "--check", "--diff")
    converged(proc, recap)
    assert "ca-next.pem" in proc.stdout, proc.stdout[-3000:]
    assert cert_files(lab) == before, "check mode changed a certificate file"

    # A rotation left half done: a next CA exists. Any other run would undo its trust.
    lab.ansible("cp1", "etcd_certs", f"action=ca layout=kubespray cert_dir={CERT_DIR} owner=etcd next_ca=present")
    proc, _ = playbook(lab, "cluster.yml", "--tags", "etcd")
    assert proc.returncode != 0
    assert "An etcd CA rotation is in progress" in proc.stdout, proc.stdout[-3000:]
    assert {h: {f: s for f, s in files.items() if not f.startswith("ca-next")}
            for h, files in cert_files(lab).items()} == before, "the refused run changed a file"

    # Keep an old client certificate: its key stays across the rotation, its CA does not.
    lab.sh("cp1", f"cp {CERT_DIR}/admin-etcd1.pem /root/old-admin.pem && cp {CERT_DIR}/ca.pem /root/old-ca.pem")
    began = time.time()
    proc, recap, figures = under_load(lab, "rotate", MEMBERS, "rotate-etcd-ca.yml", seconds=45)
    record("rotate-etcd-ca: a new etcd CA, every certificate re-issued", figures)
    assert figures["failed"] == 0 and figures["lost_writes"] == 0, figures

    refusals = {h: [line for line in journal_since(lab, h, began).splitlines()
                    if any(word in line for word in TLS_REFUSALS)] for h in JOURNAL_HOSTS}
    assert refusals == {h: [] for h in JOURNAL_HOSTS}, refusals

    after = cert_files(lab)
    new_ca = lab.exec("cp1", "cat", f"{CERT_DIR}/ca.pem").stdout
    assert new_ca != old_ca and new_ca.count("BEGIN CERTIFICATE") == 1
    assert all(files["ca.pem"] == after["cp1"]["ca.pem"] for files in after.values())
    assert after["cp1"]["ca-key.pem"] != before["cp1"]["ca-key.pem"]
    assert not any(f.startswith("ca-next") for files in after.values() for f in files)
    for host in MEMBERS:
        name = etcd_name(host)
        for cert in (f"member-{name}.pem", f"admin-{name}.pem", f"node-{name}.pem"):
            assert after[host][cert] != before[host][cert], f"{host} {cert} was not re-issued"
            assert after[host][cert.replace(".pem", "-key.pem")] == before[host][cert.replace(".pem", "-key.pem")]
    assert healthy(lab, "cp1") == 3

    # The old CA is trusted nowhere: its client certificate is refused, and the members' new
    # certificates do not verify against it.
    old_client = lab.exec("cp1", "etcdctl", f"--endpoints=https://{lab.hosts['cp2']}:2379",
                          f"--cacert={CERT_DIR}/ca.pem", "--cert=/root/old-admin.pem",
                          f"--key={CERT_DIR}/admin-etcd1-key.pem", "--command-timeout=2s",
                          "endpoint", "health", check=False)
    assert old_client.returncode != 0
    old_trust = lab.exec("cp1", "etcdctl", f"--endpoints=https://{lab.hosts['cp2']}:2379",
                         "--cacert=/root/old-ca.pem", f"--cert={CERT_DIR}/admin-etcd1.pem",
                         f"--key={CERT_DIR}/admin-etcd1-key.pem", "--command-timeout=2s",
                         "endpoint", "health", check=False)
    assert old_trust.returncode != 0
    lab.exec("cp1", "rm", "-f", "/root/old-admin.pem", "/root/old-ca.pem")
    assert etcdctl(lab, "cp1", "endpoint", "health").returncode == 0

    proc, recap = playbook(lab, "cluster.yml", "--tags", "etcd")
    converged(proc, recap)
    assert {h: r["changed"] for h, r in recap.items()} == {h: 0 for h in recap}, proc.stdout[-4000:]
