"""kubespray's own newest release tree with kubeha dropped in, run on the lab's hosts over SSH from
the controller namespace, with the Ansible that release pins: the etcd certificate step on the
three etcd members (each host its own disk: keys made there, only CSRs and certificates through
the play), a 3-member TLS etcd started on those certificates, and kubespray's node role writing
node1's load balancer (validated by the lab host's nginx). tests/kubespray compares each release's
output with the pristine tree's on localhost; this is the same on real separate hosts.

Everything goes beside what cluster.yml deployed (its own certificate directory, ports and
config directories), so the other lab tests are not disturbed."""

import json
import re
import shlex

import pytest
import yaml

from kubeha_test import REPO, require_built_modules
from kubespray_trees import Kubespray, changed_tasks, copy_tree, dropped_in, etcd_member_argv, trees, venv_bin
from labtools import LAB, LAB_DIR, wait_until

# Runs kubespray's Ansible with kubeha's fast path whatever the tier's path: once is enough.
pytestmark = [pytest.mark.lab, pytest.mark.path_independent]

CERT_DIR = "/etc/ssl/kubespray-etcd"   # cluster.yml's etcd uses /etc/ssl/etcd/ssl
LB_DIR = "/tmp/kubespray-lb"
INVENTORY = REPO / "inventory" / "lab" / "inventory.ini"
ETCD = {"cp1": "10.199.0.11", "cp2": "10.199.0.12", "cp3": "10.199.0.13"}
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture(scope="module")
def kubespray(cluster, tmp_path_factory):
    """The newest kubespray tree available, kubeha dropped in, run through `lab ctl`."""
    require_built_modules()
    available = [p.values[0] for p in trees()]
    if not available:
        pytest.skip("no kubespray tree (../shared/kubespray/<tag> or KUBESPRAY_SRC)")
    name, tree, minor = available[-1]
    base = tmp_path_factory.mktemp("kubespray-lab")
    ks = Kubespray(copy_tree(dropped_in(name, tree, venv_bin(minor), tmp_path_factory), base / "tree"),
                   venv_bin(minor), base / "work")
    ks.wrap = [str(LAB), "ctl"]
    return ks


def run(ks, book, *args):
    # The lab checks host keys. kubespray's ansible.cfg sets ssh_args with
    # UserKnownHostsFile=/dev/null, and its defaults role sets ansible_ssh_common_args (for a
    # bastion), a variable that beats the lab's ANSIBLE_SSH_COMMON_ARGS: without the extra var,
    # only hosts with a live SSH master from an earlier play would answer.
    ks.extra_env = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s"}
    ssh = {"ansible_ssh_common_args": f"-o UserKnownHostsFile={LAB_DIR}/ssh/known_hosts"
                                      " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5"}
    rc, out = ks.playbook(book, "-i", str(INVENTORY), "-e", json.dumps(ssh), *args)
    recap = {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in RECAP.finditer(out)}
    assert rc == 0 and recap and all(r[1:] == (0, 0) for r in recap.values()), out[-8000:]
    return out


def test_etcd_certificates_and_a_tls_etcd_on_the_lab(kubespray, lab):
    book = kubespray.etcd_cert_book()
    run(kubespray, book, "-e", json.dumps({"etcd_cert_dir": CERT_DIR}))
    for host in ETCD:
        files = set(lab.sh(host, f"ls {CERT_DIR}").stdout.split())
        keys = {f for f in files if f.endswith("-key.pem")}
        # Each host holds its own keys only (the CA key stays on the first etcd host); the other
        # control-plane hosts' node-<host>.pem are links to its own.
        own = {f"{kind}-{host}-key.pem" for kind in ("member", "admin", "node")}
        links = {f"node-{other}-key.pem" for other in ETCD if other != host}
        assert keys == own | links | ({"ca-key.pem"} if host == "cp1" else set()), files
        modes = lab.sh(host, f"stat -c '%a %U %n' {CERT_DIR}/*-{host}-key.pem").stdout
        assert all(line.startswith("600 etcd ") for line in modes.splitlines()), modes

    pids = {}
    try:
        for host, address in ETCD.items():
            argv = etcd_member_argv(host, address, ETCD, CERT_DIR, "/tmp/kubespray-etcd-data", 12380, 12379)
            pids[host] = lab.sh(host, (
                f"rm -rf /tmp/kubespray-etcd-data; setsid nohup {shlex.join(argv)}"
                " > /tmp/kubespray-etcd.log 2>&1 < /dev/null & echo $!")).stdout.strip()
        endpoints = ",".join(f"https://{a}:12379" for a in ETCD.values())
        health = (f"ETCDCTL_API=3 etcdctl --endpoints={endpoints} --cacert={CERT_DIR}/ca.pem"
                  " --cert={d}/{c}.pem --key={d}/{c}-key.pem --dial-timeout=2s endpoint health 2>&1")
        for host, cert in (("cp1", "admin-cp1"), ("cp2", "node-cp2"), ("cp3", "node-cp1")):
            said = wait_until(lambda: (lambda p: p.stdout if p.returncode == 0 else "")(
                lab.sh(host, health.format(d=CERT_DIR, c=cert), check=False)), timeout=20, interval=0.5)
            assert said.count("is healthy") == 3, lab.sh(host, "tail -20 /tmp/kubespray-etcd.log").stdout
    finally:
        for host, pid in pids.items():
            if pid.isdigit():
                lab.sh(host, f"kill {pid}", check=False)

    # A rerun issues nothing (kubespray's own check_certs.yml reports its group_by as a change).
    out = run(kubespray, book, "-e", json.dumps({"etcd_cert_dir": CERT_DIR}))
    assert {t for t in changed_tasks(out) if not t.startswith("Check_certs")} == set(), out


def test_kubesprays_node_role_writes_node1s_load_balancer(kubespray, lab):
    book = kubespray.book("kubeha-lab-node.yml", "node1", "kubernetes/node")
    lab.sh("node1", f"rm -rf {LB_DIR} && mkdir -p {LB_DIR}/manifests")
    # The lab's group_vars: nginx, ports 6443/8081, and validation by the host's own nginx.
    extra = json.dumps({"nginx_config_dir": f"{LB_DIR}/nginx", "haproxy_config_dir": f"{LB_DIR}/haproxy",
                        "kube_manifest_dir": f"{LB_DIR}/manifests"})
    out = run(kubespray, book, "--tags", "nginx", "-e", extra)
    assert "changed: [node1]" in out
    conf = lab.sh("node1", f"cat {LB_DIR}/nginx/nginx.conf").stdout
    assert all(f"server {a}:6443" in conf for a in ETCD.values()), conf
    pod = yaml.safe_load(lab.sh("node1", f"cat {LB_DIR}/manifests/nginx-proxy.yml").stdout)
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == f"{LB_DIR}/nginx"
    out = run(kubespray, book, "--tags", "nginx", "-e", extra)
    assert "changed: [node1]" not in out, out
