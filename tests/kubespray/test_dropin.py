"""kubeha dropped into kubespray's own release trees, each run with the Ansible that release pins.

For every tree (v2.24.1 with ansible-core 2.15, v2.28.1 with 2.16, v2.31.0 with 2.18): a copy is
left pristine and another gets `playbooks/kubespray-dropin.yml`, the script users run. Both run
kubespray's own node role (its main.yml, conditions and tags, with its own defaults role and, from
v2.28, its network_facts role) on one inventory whose hosts all live on this machine (local
connection, every path in a temp dir). What kubeha writes must say what kubespray writes: the same
apiservers, listeners, health endpoint and pod fields, apart from the differences README's "Use
with kubespray" lists, which are asserted here one by one. Likewise kubespray's etcd certificate
step (its gen_certs_script.yml, make-ssl-etcd.sh) against kubeha's, and a real 3-member TLS etcd
on 127.0.0.11-13 started on kubeha's certificates.

Trees: see kubespray_trees.py (../shared/kubespray/<tag>, else KUBESPRAY_SRC).
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from kubeha_test import require_built_modules
from kubespray_trees import Kubespray, changed_tasks, copy_tree, dropped_in, etcd_member_argv, trees, venv_bin

pytestmark = pytest.mark.kubespray

INVENTORY = """\
[kube_control_plane]
cp1 ip=192.0.2.11 access_ip=198.51.100.11
cp2 ip=192.0.2.12
cp3 ip=192.0.2.13

[etcd]
cp1
cp2
cp3

[kube_node]
node1 ip=192.0.2.31

[k8s_cluster:children]
kube_control_plane
kube_node

[all:vars]
ansible_connection=local
"""

TREES = trees()


@pytest.fixture(params=TREES)
def release(request, tmp_path, tmp_path_factory):
    require_built_modules()
    name, tree, minor = request.param
    bin_dir = venv_bin(minor)
    pristine = Kubespray(copy_tree(tree, tmp_path / "pristine"), bin_dir, tmp_path / "work-pristine")
    dropped_tree = dropped_in(name, tree, bin_dir, tmp_path_factory)
    dropped = Kubespray(copy_tree(dropped_tree, tmp_path / "kubeha"), bin_dir, tmp_path / "work-kubeha")
    pristine.inventory_text = dropped.inventory_text = INVENTORY
    return pristine, dropped


def recap(output):
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output, re.M)}


# --- What each config says, read the same way from kubespray's file and from kubeha's ------------

def haproxy_facts(text):
    sections, current = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip(), [])
        elif current is not None:
            current.append(" ".join(line.split()).rstrip(";"))  # v2.24's stray ';' (kubespray#12793)
    front = sections["frontend kube_api_frontend"]
    back = sections["backend kube_api_backend"]
    healthz = sections.get("frontend healthz", [])
    return {
        "listeners": sorted(d.split()[1] for d in front if d.startswith("bind ")),
        "servers": [d for d in back if d.startswith("server ")],
        "balance": [d for d in back if d.startswith(("balance", "default-server", "option httpchk",
                                                     "http-check"))],
        "healthz_ports": sorted({d.split()[1].rsplit(":", 1)[1] for d in healthz if d.startswith("bind ")}),
        "healthz_families": sorted({"v6" if d.split()[1].startswith(("[", ":::")) else "v4"
                                    for d in healthz if d.startswith("bind ")}),
        "monitor_uri": [d for d in healthz if d.startswith("monitor-uri")],
    }


def nginx_facts(text):
    stream = text[text.index("stream {"):text.index("http {")]
    http = text[text.index("http {"):]
    listens = re.findall(r"^\s*listen\s+([^;\s]+)", http, re.M)
    return {
        "servers": re.findall(r"^\s*server\s+(\S+?)(?:\s[^;]*)?;", stream, re.M),
        "least_conn": "least_conn;" in stream,
        "listeners": sorted(re.findall(r"^\s*listen\s+([^;\s]+)", stream, re.M)),
        "healthz_ports": sorted({listen.rsplit(":", 1)[-1] for listen in listens}),
        "healthz_families": sorted({"v6" if listen.startswith("[") else "v4" for listen in listens}),
        "healthz": bool(re.search(r"location\s+(?:=\s*)?/healthz\s*\{[^}]*return 200", http)),
    }


def pod_facts(pod):
    container = pod["spec"]["containers"][0]
    mount = container["volumeMounts"][0]
    return {
        "name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
        "labels": pod["metadata"]["labels"],
        "annotations": sorted(pod["metadata"].get("annotations", {})),
        "image": container["image"], "pull": container.get("imagePullPolicy"),
        "requests": container["resources"]["requests"],
        "probes": [container.get("livenessProbe"), container.get("readinessProbe")],
        "mount": (mount["mountPath"].rstrip("/"), mount.get("readOnly")),
        "host_path": pod["spec"]["volumes"][0]["hostPath"]["path"],
        **{k: pod["spec"].get(k) for k in ("hostNetwork", "dnsPolicy", "priorityClassName", "nodeSelector")},
    }


VARIANTS = {
    # variant: (config file, its reader, manifest, checksum annotation)
    "haproxy": ("haproxy/haproxy.cfg", haproxy_facts, "manifests/haproxy.yml", "haproxy-cfg-checksum"),
    "nginx": ("nginx/nginx.conf", nginx_facts, "manifests/nginx-proxy.yml", "nginx-cfg-checksum"),
}


def stack_vars(kubespray, dual):
    """The release's own name for dual stack: ipv6_stack from v2.28, enable_dual_stack_networks before."""
    name = "ipv6_stack" if kubespray.has_network_facts else "enable_dual_stack_networks"
    return ["-e", json.dumps({name: dual})]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("dual", [False, True], ids=["ipv4", "dual-stack"])
def test_node_load_balancer_says_what_kubesprays_says(release, tmp_path, variant, dual):
    pristine, dropped = release
    config, facts, manifest, annotation = VARIANTS[variant]
    args = ["--tags", variant, "-e", f"loadbalancer_apiserver_type={variant}", *stack_vars(pristine, dual)]

    rc, out = pristine.node_role("node1", tmp_path / "theirs", *args)
    assert rc == 0, out
    # kubeha's run validates every config with the real daemon before it is written.
    rc, out = dropped.node_role("node1", tmp_path / "ours", *args, "-e", "loadbalancer_config_validate=true")
    assert rc == 0, out
    assert recap(out)["node1"] == (2, 0), out  # the config and the pod, nothing else

    theirs = (tmp_path / "theirs" / config).read_text()
    ours = (tmp_path / "ours" / config).read_text()
    assert facts(ours) == facts(theirs) or (
        # Documented: with dual stack, kubeha's haproxy binds /healthz to [::] alone (a dual-stack
        # socket on Linux) where kubespray binds 0.0.0.0 and :::.
        dual and {**facts(ours), "healthz_families": facts(theirs)["healthz_families"]} == facts(theirs)
    ), (ours, theirs)

    their_pod = yaml.safe_load((tmp_path / "theirs" / manifest).read_text())
    our_pod = yaml.safe_load((tmp_path / "ours" / manifest).read_text())
    for version in ("1.25", "1.37"):
        try:
            kubernetes_validate.validate(our_pod, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{manifest} is not a valid Pod for Kubernetes {version}: {e.message}")
    mine, other = pod_facts(our_pod), pod_facts(their_pod)
    assert mine["host_path"] == str(tmp_path / "ours" / config.split("/")[0])
    assert other["host_path"] == str(tmp_path / "theirs" / config.split("/")[0])
    mine["host_path"] = other["host_path"] = None
    assert mine == other
    # Each annotation carries the SHA-1 of the config beside it, so a config change recreates the pod.
    assert our_pod["metadata"]["annotations"][annotation] == hashlib.sha1(ours.encode()).hexdigest()
    # Documented differences: the pod may read the root-owned 0640 config (haproxy's image runs as
    # uid 99), and its hostPath must be a directory.
    assert (tmp_path / "ours" / config).stat().st_mode & 0o777 == 0o640
    assert our_pod["spec"]["volumes"][0]["hostPath"]["type"] == "Directory"
    if variant == "haproxy":
        assert our_pod["spec"]["securityContext"] == {"supplementalGroups": [0]}

    # The other variant's pod goes (kubespray's cleanup task), and a rerun changes nothing.
    rc, out = dropped.node_role("node1", tmp_path / "ours", *args)
    assert rc == 0 and recap(out)["node1"] == (0, 0), out


# keepalived -t accepts only an interface that exists and is not loopback: each run happens in a
# private network namespace (gone with the process) whose eth0 holds cp1's subnet.
SANDBOX = """\
set -e
ip link set lo up
ip link add eth0 type veth peer name kh-peer0
ip address add 192.0.2.11/24 dev eth0
ip link set eth0 up
ip link set kh-peer0 up
exec "$@"
"""


def test_keepalived_through_kubesprays_main(release, tmp_path):
    _, dropped = release
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private network namespace")
    dropped.wrap = ["unshare", "--net", "sh", "-c", SANDBOX, "sandbox"]
    extra = {"k8s_lb_vip": "192.0.2.200/24", "loadbalancer_config_validate": True}
    rc, out = dropped.node_role("cp1", tmp_path / "lb", "--tags", "keepalived", "-e", json.dumps(extra))
    assert rc == 0, out
    conf = (tmp_path / "lb" / "keepalived" / "keepalived.conf").read_text()
    # The interface from the VIP's subnet; peers from kubespray's own addresses (access_ip, else ip).
    assert "interface eth0" in conf
    assert "198.51.100.11" in conf and "192.0.2.12" in conf and "192.0.2.13" in conf
    pod = yaml.safe_load((tmp_path / "lb" / "manifests" / "keepalived.yml").read_text())
    assert pod["metadata"]["annotations"]["keepalived-cfg-checksum"] == hashlib.sha1(conf.encode()).hexdigest()
    # Hosts outside keepalived_group get none; a rerun changes nothing.
    rc, out = dropped.node_role("node1", tmp_path / "node", "--tags", "keepalived", "-e", json.dumps(extra))
    assert rc == 0 and not (tmp_path / "node" / "keepalived").exists(), out
    rc, out = dropped.node_role("cp1", tmp_path / "lb", "--tags", "keepalived", "-e", json.dumps(extra))
    assert rc == 0 and recap(out)["cp1"][0] == 0, out


def test_dropin_is_idempotent_and_check_mode_changes_nothing(release, tmp_path):
    pristine, dropped = release
    rc, out = dropped.dropin()
    assert rc == 0 and recap(out)["localhost"] == (0, 0), out

    before = {p: p.read_bytes() for p in pristine.tree.rglob("*") if p.is_file()}
    rc, out = pristine.dropin("--check", "--diff")
    assert rc == 0 and recap(out)["localhost"][0] > 0, out
    assert {p: p.read_bytes() for p in pristine.tree.rglob("*") if p.is_file()} == before


# --- etcd's certificates: kubeha's gen_certs_script.yml against kubespray's own ---------------------

ETCD_INVENTORY = """\
[kube_control_plane]
cp1 ip=127.0.0.11 {cp1}
cp2 ip=127.0.0.12 access_ip=127.0.0.22 {cp2}
cp3 ip=127.0.0.13 {cp3}

[etcd]
cp1
cp2
cp3

[kube_node]
node1 ip=127.0.0.31

[k8s_cluster:children]
kube_control_plane
kube_node

[all:vars]
ansible_connection=local
"""


def etcd_cert_play(kubespray: Kubespray, out: Path, per_host_dirs: bool, *args):
    """kubespray's etcd certificate step (Kubespray.etcd_cert_book). On localhost every host
    shares one disk, so kubeha's run gives each host its own directory, as separate hosts have."""
    book = kubespray.etcd_cert_book()
    dirs = {h: f"etcd_cert_dir={out / h / 'ssl'}" if per_host_dirs else "" for h in ("cp1", "cp2", "cp3")}
    inventory = kubespray.workdir / "etcd-inventory.ini"
    inventory.write_text(ETCD_INVENTORY.format(**dirs))
    # bin_dir and etcd_config_dir: kubespray's script and openssl.conf go there, not to the machine.
    extra = {"bin_dir": str(out / "bin"), "etcd_config_dir": str(out / "etcd"),
             "kubeha_fastpath_cache": str(kubespray.workdir / "fastpath-cache")}
    return kubespray.playbook(book, "-i", str(inventory), "-e", json.dumps(extra), *args)


def cert_text(path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout


def sans(path: Path) -> set:
    text = cert_text(path)
    line = text.split("X509v3 Subject Alternative Name:")[1].splitlines()[1]
    return {s.strip().replace("IP Address:0:0:0:0:0:0:0:1", "IP Address:::1") for s in line.split(",")}


def test_etcd_certificates_name_what_kubesprays_name(release, tmp_path):
    pristine, dropped = release
    rc, out = etcd_cert_play(pristine, tmp_path / "theirs", False)
    assert rc == 0, out
    rc, out = etcd_cert_play(dropped, tmp_path / "ours", True)
    assert rc == 0, out
    theirs = tmp_path / "theirs" / "etcd" / "ssl"
    for host in ("cp1", "cp2", "cp3"):
        ours = tmp_path / "ours" / host / "ssl"
        # kubespray's names; each host holds its own keys and no other host's.
        own = {f"{kind}-{host}{suffix}.pem" for kind in ("member", "admin", "node") for suffix in ("", "-key")}
        keys = {p.name for p in ours.iterdir() if p.name.endswith("-key.pem") and not p.is_symlink()}
        assert keys == {n for n in own if n.endswith("-key.pem")} | ({"ca-key.pem"} if host == "cp1" else set())
        assert own | {"ca.pem"} <= {p.name for p in ours.iterdir()}
        for key in keys:
            assert (ours / key).stat().st_mode & 0o777 == 0o600, key
        # v2.28's links: every control-plane host's node-<other>.pem is its own certificate.
        for other in {"cp1", "cp2", "cp3"} - {host}:
            assert (ours / f"node-{other}.pem").resolve() == (ours / f"node-{host}.pem").resolve()
        # The member certificate names what kubespray's openssl.conf names, and ::1 (which
        # v2.24's list lacks; etcd_certs names it in every server certificate).
        assert sans(ours / f"member-{host}.pem") - sans(theirs / f"member-{host}.pem") <= {"IP Address:::1"}
        assert sans(theirs / f"member-{host}.pem") <= sans(ours / f"member-{host}.pem")
        # kubespray's key type and lifetime: RSA of certificates_key_size bits, certificates_duration days.
        assert "Public-Key: (2048 bit)" in cert_text(ours / f"member-{host}.pem")
        for cert in (f"member-{host}.pem", f"admin-{host}.pem", f"node-{host}.pem"):
            proc = subprocess.run(["openssl", "verify", "-CAfile", str(ours / "ca.pem"), str(ours / cert)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_a_tls_etcd_cluster_runs({h: tmp_path / "ours" / h / "ssl" for h in ("cp1", "cp2", "cp3")}, tmp_path)
    # A rerun issues nothing (kubespray's own check_certs.yml reports its group_by as a change).
    rc, out = etcd_cert_play(dropped, tmp_path / "ours", True)
    assert rc == 0, out
    assert {t for t in changed_tasks(out) if not t.startswith("Check_certs")} == set(), out


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def assert_a_tls_etcd_cluster_runs(ssl_dirs: dict, workdir: Path):
    """A real etcd cluster (Debian's etcd) on 127.0.0.11-13, each member with only its own host's
    files, peers and clients authenticated by certificate: what kubespray's etcd role starts."""
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    assert os.path.exists(etcd), "needs etcd (Debian's etcd-server, installed by make deps)"
    hosts = {"cp1": "127.0.0.11", "cp2": "127.0.0.12", "cp3": "127.0.0.13"}
    peer, client = free_port("127.0.0.11"), free_port("127.0.0.11")
    procs = []
    try:
        for host, address in hosts.items():
            argv = etcd_member_argv(host, address, hosts, ssl_dirs[host], workdir / f"data-{host}", peer, client)
            procs.append(subprocess.Popen(
                [etcd, *argv[1:]],
                stdout=subprocess.DEVNULL, stderr=open(workdir / f"etcd-{host}.log", "w")))
        endpoints = ",".join(f"https://{a}:{client}" for a in hosts.values())
        # Every host's client certificates are accepted: etcdctl's (admin-) and the apiserver's
        # (node-, also through cp3's link to its own).
        for host, cert in (("cp1", "admin-cp1"), ("cp2", "node-cp2"), ("cp3", "node-cp1")):
            ssl = ssl_dirs[host]
            argv = ["etcdctl", f"--endpoints={endpoints}", f"--cacert={ssl / 'ca.pem'}",
                    f"--cert={ssl / (cert + '.pem')}", f"--key={ssl / (cert + '-key.pem')}",
                    "--dial-timeout=2s", "--command-timeout=2s", "endpoint", "health"]
            for _ in range(30):  # bounded: the members elect a leader within seconds
                proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"})
                if proc.returncode == 0:
                    break
                time.sleep(0.5)
            said = proc.stdout + proc.stderr
            assert proc.returncode == 0, said + (workdir / "etcd-cp1.log").read_text()[-2000:]
            assert said.count("is healthy") == 3, said
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
