"""roles/kubernetes/node on localhost: which load balancer files run, under kubespray's
conditions and tags (`--tags`, `--skip-tags`, a tag on the role), with every path in a
temporary directory. The lab tier runs the same role on real hosts through cluster.yml."""

import json
import subprocess

import pytest

from kubeha_test import REPO, VENV_BIN, ansible_env, require_built_modules

INVENTORY = """\
[kube_control_plane]
cp1 ansible_host=192.0.2.11
cp2 ansible_host=192.0.2.12

[kube_node]
localhost ansible_connection=local ip=127.0.0.1

[k8s_cluster:children]
kube_control_plane
kube_node

# keepalived's hosts: this one and a peer the play never reaches
[lb]
localhost
cp1
"""

PLAY = """\
- name: Node load balancer
  hosts: localhost
  gather_facts: false
  roles:
    - role: kubernetes/node
      tags: node
"""


@pytest.fixture
def node(tmp_path):
    require_built_modules()
    (tmp_path / "inventory.ini").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(PLAY)

    def run(*args, lb="haproxy", vip="", validate=False):
        paths = {f"{d}_config_dir": str(tmp_path / d) for d in ("haproxy", "nginx", "keepalived")}
        extra = {
            **paths,
            "kube_manifest_dir": str(tmp_path / "manifests"),
            "loadbalancer_apiserver_type": lb,
            "loadbalancer_config_validate": validate,
            "k8s_lb_vip": vip,
            "keepalived_group": "lb",
            "keepalived_interface": "lo",   # the VIP is on loopback: nothing leaves the host
            "kubeha_fastpath_cache": str(tmp_path / "fastpath-cache"),
        }
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory.ini"),
                str(tmp_path / "play.yml"), "-e", json.dumps(extra), *args]
        env = ansible_env(ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
                          ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
                          ANSIBLE_REMOTE_TEMP=str(tmp_path / "remote-tmp"))
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def written():
        return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*")
                      if p.parent.name in ("haproxy", "nginx", "keepalived", "manifests")
                      and not p.name.startswith(".") and "~" not in p.name)

    run.written = written
    run.dir = tmp_path
    return run


HAPROXY = ["haproxy/haproxy.cfg", "manifests/haproxy.yml"]
NGINX = ["manifests/nginx-proxy.yml", "nginx/nginx.conf"]


def test_the_configured_variant_runs_and_others_do_not(node):
    out = node()
    assert node.written() == HAPROXY
    cfg = (node.dir / "haproxy" / "haproxy.cfg").read_text()
    assert "192.0.2.11:6443" in cfg and "192.0.2.12:6443" in cfg
    assert "Nginx-proxy |" not in out and "Keepalived |" not in out


def test_switching_variant_removes_the_other_pod(node):
    node()
    node(lb="nginx")
    assert node.written() == ["haproxy/haproxy.cfg", *NGINX]


# Which tasks the tags select is Ansible's doing, the same on either run-time path.
@pytest.mark.path_independent
@pytest.mark.parametrize("args, files", [
    (["--tags", "haproxy"], HAPROXY),
    (["--tags", "node"], HAPROXY),          # kubespray tags the whole role `node`
    (["--tags", "nginx"], []),
    (["--skip-tags", "haproxy"], []),
    (["--tags", "keepalived"], []),
])
def test_tags_select_the_files_as_in_kubespray(node, args, files):
    node(*args)
    assert node.written() == files


KEEPALIVED = ["keepalived/keepalived.conf", "keepalived/vip_check", "manifests/keepalived.yml"]
VIP = "127.0.0.100/8"


def test_keepalived_where_a_vip_is_set_even_on_a_fresh_host(node):
    # A node of the static-pod variant has no keepalived package and so no config directory.
    # (With validate on, keepalived -t also needs the probe in place first: keepalived refuses
    # loopback, so the lab's cluster.yml, which validates every config, covers that order.)
    node(vip=VIP)
    assert node.written() == sorted(HAPROXY + KEEPALIVED)
    assert "192.0.2.11" in (node.dir / "keepalived" / "keepalived.conf").read_text()


# Which tasks the tags select is Ansible's doing, the same on either run-time path.
@pytest.mark.path_independent
@pytest.mark.parametrize("args, files", [
    (["--tags", "keepalived"], KEEPALIVED),
    (["--skip-tags", "keepalived"], HAPROXY),
    (["--tags", "haproxy"], HAPROXY),
    (["--skip-tags", "haproxy"], KEEPALIVED),
])
def test_keepalived_follows_its_own_tag(node, args, files):
    node(*args, vip=VIP)
    assert node.written() == sorted(files)


ADDRESSES = """\
[kube_control_plane]
newer  main_access_ip=2001:db8::1 access_ip=198.51.100.1 ip=192.0.2.1
access access_ip=198.51.100.2 ip=192.0.2.2 ansible_host=203.0.113.2
ip     ip=192.0.2.3 ansible_host=203.0.113.3
older  ansible_host=203.0.113.4
facts  ansible_default_ipv4='{"address": "192.0.2.5"}' ansible_host=203.0.113.5
host   ansible_host=203.0.113.6
bare

[etcd]
older etcd_member_name=etcd1
ip    etcd_access_address=10.9.9.3

[all:vars]
ansible_connection=local
"""


# kubespray-defaults' kubeha.yml computes every address once; this is its precedence, on every
# ansible-core of the version matrix (built with filters, so 2.15-2.19 agree on the type too).
@pytest.mark.path_independent
def test_host_addresses_follow_kubesprays_precedence(tmp_path):
    (tmp_path / "inventory.ini").write_text(ADDRESSES)
    (tmp_path / "play.yml").write_text(f"""\
- name: Addresses
  hosts: bare
  gather_facts: false
  vars:
    fallback_ips: {{older: 192.0.2.4}}
  vars_files:
    - {REPO}/roles/kubespray-defaults/defaults/main/kubeha.yml
    - {REPO}/roles/etcd/vars/main.yml
  tasks:
    - name: Write them down
      ansible.builtin.copy:
        content: "{{{{ {{'backends': kubeha_apiserver_backends, 'etcd': etcd_members, 'cluster': etcd_initial_cluster}} | to_json }}}}"
        dest: {tmp_path}/shown.json
        mode: "0644"
""")
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory.ini"), str(tmp_path / "play.yml"),
         "-e", "etcd_peer_port=2380", "-e", '{"etcd_cert_alt_names": [], "etcd_cert_alt_ips": []}'],
        cwd=REPO, env=ansible_env(ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python")),
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = json.loads((tmp_path / "shown.json").read_text())
    assert shown["backends"] == [
        {"name": "newer", "address": "2001:db8::1"},    # main_access_ip (kubespray >= 2.27)
        {"name": "access", "address": "198.51.100.2"},  # access_ip
        {"name": "ip", "address": "192.0.2.3"},         # ip
        {"name": "older", "address": "192.0.2.4"},      # fallback_ips[host] (kubespray < 2.27)
        {"name": "facts", "address": "192.0.2.5"},      # the default IPv4 address from facts
        {"name": "host", "address": "203.0.113.6"},     # ansible_host
        {"name": "bare", "address": "bare"},            # the inventory name
    ]
    assert shown["etcd"] == [
        {"node_name": "etcd1", "node_ips": ["192.0.2.4"], "extra_sans": []},
        {"node_name": "ip", "node_ips": ["10.9.9.3"], "extra_sans": []},  # etcd_access_address wins
    ]
    assert shown["cluster"] == "etcd1=https://192.0.2.4:2380,ip=https://10.9.9.3:2380"


# kubeha_lb's tasks carry their daemon's tag, like kubespray's load balancer files (Ansible's
# own task selection, read with --list-tasks: nothing runs).
@pytest.mark.path_independent
@pytest.mark.parametrize("args, has, lacks", [
    (["--tags", "haproxy"], ["Haproxy | Write haproxy configuration", "Apiserver LB | Check the variables"],
     ["Keepalived | Write keepalived configuration"]),
    (["--tags", "keepalived"], ["Keepalived | Write keepalived configuration", "Keepalived | Refuse a router id"],
     ["Haproxy | Write haproxy configuration"]),
    (["--skip-tags", "keepalived"], ["Haproxy | Write haproxy configuration"],
     ["Keepalived | Install the health probe", "Apiserver LB | Verify"]),
])
def test_kubeha_lb_tasks_carry_their_daemons_tag(args, has, lacks):
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(REPO / "inventory" / "lab" / "inventory.ini"),
         "cluster.yml", "--list-tasks", *args],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split("kubeha_lb : ", 1)[1] for line in proc.stdout.splitlines() if "kubeha_lb : " in line]
    assert all(any(t in line for line in listed) for t in has), listed
    assert not any(t in line for t in lacks for line in listed), listed
