"""etcd_certs through real ansible-core 2.19: the role-facing flow on three "members".

The members cp1..cp3 are inventory hosts on the local connection, each with its own certificate
directory under a temp dir; cp1 is the CA host. The play is the flow the module's EXAMPLES
describe: `ca` on the CA host (run_once), `request` everywhere, `sign` on the CA host with every
host's registered requests and the inventory's member list, `install` everywhere.
"""

import json
import re
import shutil
import subprocess

import pytest

from kubeha_test import REPO, VENV_BIN, ansible_env

HOSTS = ["cp1", "cp2", "cp3"]

PLAY = """\
- name: Etcd certificates
  hosts: etcd
  gather_facts: false
  vars:
    ca_dir: "{{ hostvars[groups['etcd'][0]].etcd_dir }}"
  tasks:
    - name: Etcd certs | Ensure the etcd CA
      etcd_certs:
        action: ca
        layout: "{{ etcd_layout }}"
        cert_dir: "{{ ca_dir }}"
      delegate_to: "{{ groups['etcd'][0] }}"
      run_once: true
      register: etcd_ca

    - name: Etcd certs | Request certificates
      etcd_certs:
        action: request
        layout: "{{ etcd_layout }}"
        cert_dir: "{{ etcd_dir }}"
        node_name: "{{ etcd_cert_member.node_name }}"
        node_ips: "{{ etcd_cert_member.node_ips }}"
        extra_sans: "{{ etcd_cert_member.extra_sans }}"
        ca_cert: "{{ etcd_ca.ca_cert }}"
      register: etcd_cert_request

    - name: Etcd certs | Sign requests
      etcd_certs:
        action: sign
        layout: "{{ etcd_layout }}"
        cert_dir: "{{ ca_dir }}"
        requests: "{{ ansible_play_hosts | map('extract', hostvars, ['etcd_cert_request', 'requests']) | flatten }}"
        members: "{{ groups['etcd'] | map('extract', hostvars, 'etcd_cert_member') | list }}"
      delegate_to: "{{ groups['etcd'][0] }}"
      run_once: true
      register: etcd_signed

    - name: Etcd certs | Install certificates
      etcd_certs:
        action: install
        layout: "{{ etcd_layout }}"
        cert_dir: "{{ etcd_dir }}"
        node_name: "{{ etcd_cert_member.node_name }}"
        node_ips: "{{ etcd_cert_member.node_ips }}"
        extra_sans: "{{ etcd_cert_member.extra_sans }}"
        ca_cert: "{{ etcd_signed.ca_cert }}"
        issued: "{{ etcd_signed.issued }}"
      register: etcd_cert_install

    - name: Save what every step registered
      ansible.builtin.copy:
        content: "{{ {'ca': etcd_ca, 'request': etcd_cert_request, 'sign': etcd_signed,
                      'install': etcd_cert_install} | to_nice_json }}"
        dest: "{{ results_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
      check_mode: false
      changed_when: false
"""

# Inventory variables (not play vars): hostvars show them, evaluated for each host, so the
# CA host's `members` reads every member's own description.
GROUP_VARS = """\
etcd_cert_member:
  node_name: "{{ inventory_hostname }}"
  node_ips: ["{{ etcd_ip }}"]
  extra_sans: "{{ etcd_extra_sans | default([]) }}"
"""

RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Cluster:
    """Three inventory hosts on the local connection, each with its own directory."""

    def __init__(self, tmp_path, layout="kubeadm"):
        self.tmp = tmp_path
        self.layout = layout
        self.results = tmp_path / "results"
        self.results.mkdir()
        self.extra_sans = {}
        (tmp_path / "play.yml").write_text(PLAY)
        (tmp_path / "group_vars").mkdir()
        (tmp_path / "group_vars" / "etcd.yml").write_text(GROUP_VARS)

    def dir(self, host):
        return self.tmp / "hosts" / host

    def write_inventory(self):
        lines = ["[etcd]"]
        for i, host in enumerate(HOSTS, start=1):
            line = f"{host} ansible_connection=local etcd_ip=10.0.0.{i} etcd_dir={self.dir(host)}"
            if host in self.extra_sans:
                line += f" etcd_extra_sans='{json.dumps(self.extra_sans[host])}'"
            lines.append(line)
        lines += ["", "[etcd:vars]", f"etcd_layout={self.layout}", f"results_dir={self.results}"]
        (self.tmp / "inventory.ini").write_text("\n".join(lines) + "\n")

    def play(self, *args):
        self.write_inventory()
        for old in self.results.glob("*.json"):
            old.unlink()
        env = ansible_env(
            ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
            ANSIBLE_LOCAL_TEMP=str(self.tmp / "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.tmp / "remote-tmp"),
        )
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(self.tmp / "inventory.ini"),
             str(self.tmp / "play.yml"), *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )
        output = proc.stdout + proc.stderr
        recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
                 for m in RECAP.finditer(proc.stdout)}
        registered = {p.stem: json.loads(p.read_text()) for p in self.results.glob("*.json")}
        return proc.returncode, output, recap, registered

    def files(self):
        return sorted(p for p in (self.tmp / "hosts").rglob("*")) if (self.tmp / "hosts").exists() else []


def kubeadm_leaves(host_dir):
    return [host_dir / "etcd/server.crt", host_dir / "etcd/peer.crt",
            host_dir / "etcd/healthcheck-client.crt", host_dir / "apiserver-etcd-client.crt"]


def test_flow_issues_once_and_then_changes_nothing(tmp_path):
    cluster = Cluster(tmp_path)
    rc, output, recap, registered = cluster.play()
    assert rc == 0, output
    # cp1 ran ca and sign (run_once) besides its own request and install.
    assert recap["cp1"]["changed"] == 4, output
    assert recap["cp2"]["changed"] == recap["cp3"]["changed"] == 2, output
    assert len(registered["cp1"]["sign"]["issued"]) == 12
    for host in HOSTS:
        d = cluster.dir(host)
        assert oct(d.stat().st_mode & 0o777) == "0o755"
        for cert in kubeadm_leaves(d):
            assert oct(cert.stat().st_mode & 0o777) == "0o644"
            key = cert.with_suffix(".key")
            assert oct(key.stat().st_mode & 0o777) == "0o600"
        proc = subprocess.run(["openssl", "verify", "-CAfile", str(d / "etcd/ca.crt"),
                               *map(str, kubeadm_leaves(d))], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (d / "etcd/ca.key").exists() == (host == "cp1"), "the CA key stays on the CA host"
    before = {p: p.read_bytes() for p in cluster.files() if p.is_file()}

    rc, output, recap, registered = cluster.play()
    assert rc == 0, output
    assert all(r["changed"] == 0 for r in recap.values()), output
    assert registered["cp2"]["request"]["requests"] == []
    assert registered["cp2"]["install"]["changed_certs"] == []
    assert {p: p.read_bytes() for p in cluster.files() if p.is_file()} == before


def test_no_private_key_in_verbose_output_or_registered_results(tmp_path):
    cluster = Cluster(tmp_path)
    rc, output, _, registered = cluster.play("-vvvv", "--diff")
    assert rc == 0, output
    assert "BEGIN CERTIFICATE REQUEST" in output, "the CSRs do travel"
    assert "PRIVATE KEY" not in output
    assert "PRIVATE KEY" not in json.dumps(registered)
    assert "PRIVATE KEY" in (cluster.dir("cp2") / "etcd/server.key").read_text()


def test_check_mode_changes_nothing(tmp_path):
    cluster = Cluster(tmp_path)
    rc, output, recap, registered = cluster.play("--check", "--diff")
    assert rc == 0, output
    assert recap["cp2"]["changed"] == 2, output
    assert cluster.files() == [], "check mode created files"
    request = registered["cp2"]["request"]["requests"]
    assert [r["name"] for r in request] == ["etcd-server", "etcd-peer", "etcd-healthcheck-client",
                                            "apiserver-etcd-client"]
    assert all(r["csr"] is None for r in request)

    assert cluster.play()[0] == 0
    before = {p: (p.read_bytes() if p.is_file() else None, p.stat().st_mode) for p in cluster.files()}
    cluster.extra_sans["cp3"] = ["etcd.example.org"]
    rc, output, recap, registered = cluster.play("--check", "--diff")
    assert rc == 0, output
    assert recap["cp1"]["changed"] == 1 and recap["cp3"]["changed"] == 1, output
    assert registered["cp3"]["request"]["requests"][0]["reason"] == "SANs differ: missing DNS:etcd.example.org"
    assert "reason: SANs differ: missing DNS:etcd.example.org" in output
    after = {p: (p.read_bytes() if p.is_file() else None, p.stat().st_mode) for p in cluster.files()}
    assert after == before


def test_a_changed_san_reissues_only_that_members_server_and_peer(tmp_path):
    cluster = Cluster(tmp_path, layout="kubespray")
    assert cluster.play()[0] == 0
    keys = {p: p.read_bytes() for p in (tmp_path / "hosts").rglob("*-key.pem")}
    cluster.extra_sans["cp2"] = ["etcd.example.org", "10.0.1.2"]
    rc, output, recap, registered = cluster.play("--diff")
    assert rc == 0, output
    assert recap["cp3"]["changed"] == 0, output
    assert [r["name"] for r in registered["cp2"]["request"]["requests"]] == ["member"]
    assert registered["cp2"]["install"]["changed_certs"] == ["member"]
    assert registered["cp2"]["install"]["etcd_restart_needed"] is False
    assert "+SANs: DNS:cp2, DNS:localhost, DNS:etcd.example.org, IP:10.0.0.2" in output
    assert {p: p.read_bytes() for p in keys} == keys, "keys are kept"
    d = cluster.dir("cp2")
    assert oct(d.stat().st_mode & 0o777) == "0o700"
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(d / "member-cp2.pem")],
                          capture_output=True, text=True).stdout
    assert "DNS:etcd.example.org" in text and "IP Address:10.0.1.2" in text


def adhoc(tmp_path, args):
    env = ansible_env(ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
                      ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    proc = subprocess.run(
        [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", "etcd_certs",
         "-a", args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    match = re.search(r"^localhost \| (\S+) => ", proc.stdout, re.M)
    assert match, proc.stdout + proc.stderr
    return proc.returncode, json.JSONDecoder().raw_decode(proc.stdout[match.end():])[0]


def test_adhoc_report_and_bad_input(tmp_path):
    cluster = Cluster(tmp_path)
    assert cluster.play()[0] == 0
    rc, result = adhoc(tmp_path, f"action=report node_name=cp1 node_ips=10.0.0.1 cert_dir={cluster.dir('cp1')} "
                                 "renew_before_days=400")
    assert rc == 0
    assert result["changed"] is False
    assert [c["status"] for c in result["certificates"]] == ["expiring"] * 4
    assert result["to_issue"] == ["etcd-server", "etcd-peer", "etcd-healthcheck-client", "apiserver-etcd-client"]
    assert result["ca"]["status"] == "valid"

    rc, result = adhoc(tmp_path, f"action=request cert_dir={tmp_path / 'x'}")
    assert rc != 0
    assert "option 'node_name' is required with action 'request'" in result["msg"]
    rc, result = adhoc(tmp_path, f"action=request node_name=cp1 key_algorithm=DSA cert_dir={tmp_path / 'x'}")
    assert rc != 0
    assert "option 'key_algorithm' (in etcd_certs module) must be one of: ECDSA-P256" in result["msg"]
    assert not (tmp_path / "x").exists()


def test_ansible_doc_shows_the_flow():
    proc = subprocess.run([str(VENV_BIN / "ansible-doc"), "etcd_certs"], env=ansible_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Etcd certs | Sign requests" in proc.stdout


@pytest.fixture(autouse=True)
def _openssl():
    assert shutil.which("openssl"), "openssl must be installed"
