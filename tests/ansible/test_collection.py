"""The kubeha.ha Galaxy collection (`make collection`): built from library/ and roles/, installed
with `ansible-galaxy collection install`, and used by FQCN from a playbook that sees nothing of
the checkout (no library/, no action_plugins/, no roles_path): with the fast path and without."""

import hashlib
import json
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeha_test import LIBRARY, REPO, VENV_BIN

pytestmark = pytest.mark.path_independent

BUILD = REPO / "modules" / "runtime" / "ansible" / "collection" / "build.py"
MODULES = sorted(p.stem for p in LIBRARY.glob("*.yml"))
ROLES = REPO / "roles"


@dataclass
class Installed:
    """A collection installed into a collections path of its own."""

    tarball: Path
    collections: Path
    workdir: Path

    @property
    def root(self) -> Path:
        return self.collections / "ansible_collections" / "kubeha" / "ha"

    def env(self, **extra: str) -> dict:
        cfg = self.workdir / "ansible.cfg"
        cfg.write_text("[defaults]\nretry_files_enabled = false\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "KUBEHA_"))}
        env.update(
            ANSIBLE_CONFIG=str(cfg),
            ANSIBLE_COLLECTIONS_PATH=str(self.collections),
            ANSIBLE_HOME=str(self.workdir / "ansible-home"),
            ANSIBLE_LOCAL_TEMP=str(self.workdir / "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.workdir / "remote-tmp"),
            ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
            ANSIBLE_NOCOLOR="1",
            PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        )
        env.update(extra)
        return env

    def playbook(self, play: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        book = self.workdir / "play.yml"
        book.write_text(play)
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book), *args],
            cwd=self.workdir, env=self.env(**env), capture_output=True, text=True, timeout=300,
        )


def build_and_install(workdir: Path, roles: Path = ROLES) -> Installed:
    workdir.mkdir(parents=True, exist_ok=True)
    build = subprocess.run(
        [str(VENV_BIN / "python"), str(BUILD), "--no-make", "--out", str(workdir / "build"),
         "--roles", str(roles)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (tarball,) = (workdir / "build").glob("kubeha-ha-*.tar.gz")
    installed = Installed(tarball, workdir / "collections", workdir)
    install = subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline",
         "-p", str(installed.collections), str(tarball)],
        env=installed.env(), capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return installed


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Installed:
    return build_and_install(tmp_path_factory.mktemp("collection"))


def test_tarball_holds_every_module_sidecar_action_plugin_and_role(collection):
    with tarfile.open(collection.tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for module in MODULES:
        binary = members[f"plugins/modules/{module}"]
        assert binary.mode & 0o111, f"{module} is not executable in the tarball"
        assert binary.size == (LIBRARY / module).stat().st_size
        assert f"plugins/modules/{module}.yml" in members
        assert f"plugins/action/{module}.py" in members
    for role in ("kubespray_defaults",):
        assert f"roles/{role}/meta/main.yml" in members
    assert "meta/runtime.yml" in members and "MANIFEST.json" in members


def test_role_names_follow_the_collection_rule(collection):
    names = sorted(p.name for p in (collection.root / "roles").iterdir())
    assert names, "no roles in the collection"
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
    expected = sorted(
        p.parent.parent.relative_to(ROLES).as_posix().replace("/", "_").replace("-", "_")
        for p in ROLES.glob("**/meta/main.yml")
    )
    assert names == expected


HAPROXY_PLAY = """\
- name: Collection play
  hosts: localhost
  gather_facts: false
  roles:
    - kubeha.ha.kubespray_defaults
  tasks:
    - name: Haproxy | Write config by FQCN
      kubeha.ha.haproxy_config:
        dest: {dest}
        frontend_port: "{{{{ kube_apiserver_port }}}}"
        backends: [{{name: cp1, address: 10.0.0.1}}]
"""


@pytest.mark.parametrize("fast_path", ["1", "0"], ids=["fast-path", "standard-path"])
def test_fqcn_module_runs_from_the_installed_collection(collection, tmp_path, fast_path):
    dest, cache = tmp_path / "haproxy.cfg", tmp_path / "cache"
    play = HAPROXY_PLAY.format(dest=dest)
    run = collection.playbook(play, "-vvv", "-e", f"kubeha_fastpath_cache={cache}", KUBEHA_FASTPATH=fast_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "changed=1" in run.stdout
    assert "server cp1 10.0.0.1:6443" in dest.read_text()

    binary = collection.root / "plugins" / "modules" / "haproxy_config"
    if fast_path == "1":
        digest = hashlib.sha256(binary.read_bytes()).hexdigest()
        assert [p.name for p in cache.iterdir()] == [f"haproxy_config-{digest}"]
        assert "kubeha fast path: installing haproxy_config" in run.stdout
    else:
        assert not cache.exists()
        assert "AnsiballZ_haproxy_config" in run.stdout

    again = collection.playbook(play, "-e", f"kubeha_fastpath_cache={cache}", KUBEHA_FASTPATH=fast_path)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_by_fqcn(collection, module):
    def ansible_doc(*args):
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-doc"), *args, f"kubeha.ha.{module}"],
            env=collection.env(), capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    # The layout differs between releases (2.15 upper-cases the name): compare by content.
    text = ansible_doc().replace("\x1b[1m", "").replace("\x1b[0m", "")
    assert f"kubeha.ha.{module}".upper() in text.upper()
    assert "EXAMPLES" in text and "RETURN VALUES" in text
    doc = json.loads(ansible_doc("--json"))[f"kubeha.ha.{module}"]["doc"]
    assert (doc["collection"], doc["module"]) == ("kubeha.ha", module)


def test_nested_and_dashed_roles_are_renamed_and_their_references_rewritten(tmp_path):
    """kubespray's layout (roles/kubespray-defaults, roles/kubernetes/node) in a collection:
    names flattened, `ansible.legacy.<module>` and role references turned into FQCNs, and the
    role works when called by its collection name."""
    roles = tmp_path / "roles"
    defaults = roles / "kubespray-defaults"
    (defaults / "defaults").mkdir(parents=True)
    (defaults / "defaults" / "main.yml").write_text("---\nkube_apiserver_port: 6443\n")
    node = roles / "kubernetes" / "node"
    for part in ("meta", "tasks/loadbalancer"):
        (node / part).mkdir(parents=True)
    (node / "meta" / "main.yml").write_text(
        "---\n# needs kubespray-defaults\ndependencies:\n  - role: kubespray-defaults\n"
    )
    (node / "tasks" / "main.yml").write_text(
        "---\n"
        "- name: Node | Load balancer\n"
        "  ansible.builtin.import_tasks: loadbalancer/haproxy.yml\n"
        "- name: Node | kubespray-defaults stays a plain word here\n"
        "  ansible.builtin.debug:\n"
        "    msg: kubespray-defaults\n"
        "- name: Node | Defaults again, by role name\n"
        "  ansible.builtin.include_role:\n"
        "    name: 'kubespray-defaults'\n"
    )
    (node / "tasks" / "loadbalancer" / "haproxy.yml").write_text(
        "---\n"
        "- name: Haproxy | Write config\n"
        "  ansible.legacy.haproxy_config:\n"
        "    dest: \"{{ node_lb_dest }}\"\n"
        "    frontend_port: \"{{ kube_apiserver_port }}\"\n"
        "    backends: [{name: cp1, address: 10.0.0.1}]\n"
    )
    installed = build_and_install(tmp_path / "work", roles=roles)
    root = installed.root / "roles"
    assert sorted(p.name for p in root.iterdir()) == ["kubernetes_node", "kubespray_defaults"]
    meta = (root / "kubernetes_node" / "meta" / "main.yml").read_text()
    assert "  - role: kubeha.ha.kubespray_defaults\n" in meta and "# needs kubespray-defaults" in meta
    tasks = (root / "kubernetes_node" / "tasks" / "main.yml").read_text()
    assert "    msg: kubespray-defaults\n" in tasks
    assert "    name: 'kubeha.ha.kubespray_defaults'\n" in tasks
    lb = (root / "kubernetes_node" / "tasks" / "loadbalancer" / "haproxy.yml").read_text()
    assert "  kubeha.ha.haproxy_config:\n" in lb and "ansible.legacy" not in lb

    dest = tmp_path / "node-haproxy.cfg"
    run = installed.playbook(
        "- name: Node play\n  hosts: localhost\n  gather_facts: false\n"
        "  roles:\n    - kubeha.ha.kubernetes_node\n",
        "-e", f"node_lb_dest={dest}", "-e", f"kubeha_fastpath_cache={tmp_path / 'cache'}",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "server cp1 10.0.0.1:6443" in dest.read_text()


SANITY = REPO / "modules" / "runtime" / "ansible" / "collection" / "sanity" / "run"
# What pip prints when it cannot reach the package index.
PYPI_UNREACHABLE = re.compile(
    r"No matching distribution found|Could not fetch URL|Temporary failure in name resolution"
    r"|Network is unreachable|Failed to establish a new connection"
)


def sanity(tarball: Path, offline: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBEHA_SANITY_OFFLINE="1" if offline else "0")
    return subprocess.run([str(SANITY), str(tarball)], env=env, capture_output=True, text=True, timeout=1200)


def test_ansible_test_sanity_offline_tests(collection):
    """The sanity tests that need nothing from PyPI: compile, shebang, line-endings, ansible-doc,
    action-plugin-docs, runtime-metadata, ignores, ... (the binaries' ignore entries included)."""
    proc = sanity(collection.tarball, offline=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]


def test_ansible_test_sanity_all_tests(collection):
    """Every sanity test of ansible-core 2.19 (`ansible-test sanity --python 3.11 --local`). The
    first run installs each test's pinned requirements from PyPI into target/ansible-test-home;
    without PyPI and without that cache the PyPI-based tests are skipped, not failed."""
    proc = sanity(collection.tarball, offline=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and PYPI_UNREACHABLE.search(output):
        pytest.skip("PyPI unreachable: import, pylint, pep8, validate-modules, yamllint, changelog not run")
    assert proc.returncode == 0, output[-12000:]
    assert "validate-modules" in output and "pylint" in output
