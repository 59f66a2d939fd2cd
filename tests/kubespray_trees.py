"""kubespray release trees for the tests: where they are, the Ansible each pins, a copy with kubeha
dropped in. Used by tests/kubespray (on localhost) and tests/lab (on the lab's hosts).

Trees come from ../shared/kubespray/<tag> beside the repo, else KUBESPRAY_SRC: a directory with
one <tag>/ per release, or one kubespray checkout of your own (run with the venv its
requirements.txt pins, when make deps made it). A release with no tree is skipped, loudly.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kubeha_test import REPO

# Each release and the ansible-core minor its requirements.txt pins (ansible 8 → 2.15, ...).
RELEASES = {"v2.24.1": "2.15", "v2.28.1": "2.16", "v2.31.0": "2.18"}
COMMUNITY_TO_CORE = {"8": "2.15", "9": "2.16", "10": "2.17", "11": "2.18"}



def trees():
    """(name, tree, ansible-core minor) for every release tree available."""
    found = {}
    shared = REPO.parent / "shared" / "kubespray"
    src = Path(os.environ["KUBESPRAY_SRC"]) if os.environ.get("KUBESPRAY_SRC") else None
    for tag, minor in RELEASES.items():
        for base in (shared, src):
            if base and (base / tag / "roles" / "kubernetes" / "node").is_dir():
                found[tag] = (base / tag, minor)
                break
    if src and (src / "roles" / "kubernetes" / "node").is_dir():
        pins = (src / "requirements.txt").read_text() if (src / "requirements.txt").exists() else ""
        major = re.search(r"^ansible==(\d+)\.", pins, re.M)
        found["KUBESPRAY_SRC"] = (src, COMMUNITY_TO_CORE.get(major.group(1)) if major else None)
    for tag in RELEASES:
        if tag not in found:
            print(f"\n*** kubespray {tag}: no tree (../shared/kubespray/{tag} or KUBESPRAY_SRC): SKIPPED ***")
    return [pytest.param((name, tree, minor), id=name) for name, (tree, minor) in found.items()]


def venv_bin(minor):
    venv = REPO / ".venvs" / f"ansible-{minor}" if minor else REPO / ".venv"
    if not (venv / "bin" / "ansible-playbook").exists():
        message = f"{venv} is missing: run make deps"
        if os.environ.get("KUBEHA_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return venv / "bin"


class Kubespray:
    """A copy of a kubespray tree, run with the Ansible its release pins."""

    def __init__(self, tree: Path, bin_dir: Path, workdir: Path):
        self.tree, self.bin, self.workdir = tree, bin_dir, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.wrap = []  # a command the runs go through (a private network namespace)
        self.inventory_text = ""  # what node_role runs on
        self.extra_env = {}
        self.has_network_facts = (tree / "roles" / "network_facts").is_dir()
        self.defaults_role = (
            "kubespray_defaults" if (tree / "roles" / "kubespray_defaults" / "defaults").is_dir()
            else "kubespray-defaults"
        )

    def env(self):
        env = dict(os.environ)
        env.pop("ANSIBLE_CONFIG", None)
        env.update(
            PATH=f"{self.bin}:{env.get('PATH', '')}",
            # kubespray's ansible.cfg caches facts in /tmp: keep each run to itself.
            ANSIBLE_CACHE_PLUGIN="memory",
            ANSIBLE_CALLBACKS_ENABLED="",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_LOCAL_TEMP=str(self.workdir / "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.workdir / "remote-tmp"),
            ANSIBLE_PYTHON_INTERPRETER=str(self.bin / "python"),
            KUBEHA_FASTPATH="1",
        )
        env.update(self.extra_env)
        return env

    def playbook(self, book, *args, cwd=None):
        proc = subprocess.run(
            [*self.wrap, str(self.bin / "ansible-playbook"), str(book), *args],
            cwd=cwd or self.tree, env=self.env(), capture_output=True, text=True, timeout=600,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def dropin(self, *args):
        """The README's guide, by the same playbook users run."""
        return self.playbook(
            REPO / "playbooks" / "kubespray-dropin.yml", "-i", "localhost,", "-c", "local",
            "-e", f"kubespray_dir={self.tree}", *args, cwd=REPO,
        )

    def etcd_cert_book(self) -> Path:
        """A playbook of kubespray's etcd certificate step (its etcd role's check_certs.yml, then
        gen_certs_script.yml) on etcd:kube_control_plane, as install_etcd.yml runs it. The role
        is kubespray's own files put together without its meta dependencies (which add users)."""
        role = self.tree / "roles" / "kubeha_etcd_certs"
        if not role.exists():
            (role / "tasks").mkdir(parents=True)
            for part in ("templates", "handlers"):
                (role / part).symlink_to(f"../etcd/{part}")
            for part in ("defaults", "vars"):
                for owner in ("etcd_defaults", "etcd"):  # etcd_defaults from v2.29
                    if (self.tree / "roles" / owner / part).is_dir():
                        (role / part).symlink_to(f"../{owner}/{part}")
                        break
            (role / "tasks" / "main.yml").write_text(
                "---\n- name: Check certs\n  ansible.builtin.import_tasks: ../../etcd/tasks/check_certs.yml\n"
                "- name: Generate certs\n  ansible.builtin.import_tasks: ../../etcd/tasks/gen_certs_script.yml\n")
        return self.book("kubeha-etcd-test.yml", "etcd:kube_control_plane", "kubeha_etcd_certs")

    def book(self, name, hosts, role) -> Path:
        """A playbook: from v2.28 the network facts kubespray's internal_facts.yml computes on
        every host, then kubespray's defaults role and `role` on `hosts`."""
        plays = []
        if self.has_network_facts:
            plays.append({"name": "Network facts", "hosts": "all", "gather_facts": False,
                          "roles": [{"role": "network_facts", "tags": ["always"]}]})
        plays.append({"name": role, "hosts": hosts, "gather_facts": False,
                      "roles": [{"role": self.defaults_role}, {"role": role}]})
        book = self.tree / name
        book.write_text(yaml.safe_dump(plays, sort_keys=False))
        return book

    def node_role(self, host, out: Path, *args):
        """kubespray's node role (its main.yml) on `host`, writing under `out`."""
        book = self.book("kubeha-test.yml", host, "kubernetes/node")
        inventory = self.workdir / "inventory.ini"
        inventory.write_text(self.inventory_text)
        (out / "manifests").mkdir(parents=True, exist_ok=True)  # the kubelet makes it in kubespray
        paths = {f"{d}_config_dir": str(out / d) for d in ("haproxy", "nginx", "keepalived")}
        extra = {**paths, "kube_manifest_dir": str(out / "manifests"),
                 "loadbalancer_apiserver_port": 6443, "loadbalancer_apiserver_healthcheck_port": 8081,
                 "kubeha_fastpath_cache": str(self.workdir / "fastpath-cache")}
        return self.playbook(book, "-i", str(inventory), "-e", json.dumps(extra), *args)


def copy_tree(tree: Path, dest: Path) -> Path:
    shutil.copytree(tree, dest, symlinks=True)
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)  # shared/ is read-only; the copy is ours
    return dest


# One drop-in per release and test process (the playbook copies every binary: about 15 s); each
# test gets its own copies of the pristine and the dropped-in tree.
_DROPPED = {}


def dropped_in(name, tree, bin_dir, tmp_path_factory):
    if name not in _DROPPED:
        base = tmp_path_factory.mktemp(f"dropped-{name}")
        kubespray = Kubespray(copy_tree(tree, base / "tree"), bin_dir, base / "work")
        rc, out = kubespray.dropin()
        assert rc == 0, out
        _DROPPED[name] = kubespray.tree
    return _DROPPED[name]


def changed_tasks(output):
    """The names of the tasks that reported a change on some host."""
    return set(re.findall(r"^TASK \[(?:[^\]:]+ : )?([^\]]+)\][^\n]*\n(?:(?!TASK \[)[^\n]*\n)*?changed: ", output, re.M))


def etcd_member_argv(host, address, members, ssl_dir, data_dir, peer_port, client_port):
    """How kubespray's etcd runs a member on the certificates of its layout: member-<host> as
    server and peer certificate, peers and clients authenticated by certificate. `members` maps
    each member's name to its address."""
    member, ca = f"{ssl_dir}/member-{host}", f"{ssl_dir}/ca.pem"
    cluster = ",".join(f"{h}=https://{a}:{peer_port}" for h, a in members.items())
    return ["etcd", "--name", host, "--data-dir", str(data_dir),
            "--listen-peer-urls", f"https://{address}:{peer_port}",
            "--initial-advertise-peer-urls", f"https://{address}:{peer_port}",
            "--listen-client-urls", f"https://{address}:{client_port}",
            "--advertise-client-urls", f"https://{address}:{client_port}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--cert-file", f"{member}.pem", "--key-file", f"{member}-key.pem", "--client-cert-auth",
            "--trusted-ca-file", ca, "--peer-cert-file", f"{member}.pem", "--peer-key-file", f"{member}-key.pem",
            "--peer-client-cert-auth", "--peer-trusted-ca-file", ca]
