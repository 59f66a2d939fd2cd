"""`ansible-doc <name>` renders every built module's sidecar, on every ansible-core we support.

The text layout changes between releases (2.15 prints `> ETCD_CERTS (path)`, 2.19 `MODULE
etcd_certs`), so the content is compared through `ansible-doc --json`: what Ansible read from the
sidecar must be the sidecar.
"""

import json
import subprocess

import pytest
import yaml

from kubeha_test import LIBRARY, VENV_BIN, ansible_env

pytestmark = pytest.mark.path_independent

MODULES = sorted(p.stem for p in LIBRARY.glob("*.yml"))


def ansible_doc(*args):
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), *args],
        env=ansible_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    text = ansible_doc(module).replace("\x1b[1m", "").replace("\x1b[0m", "")
    assert module.upper() in text.upper()
    assert "EXAMPLES" in text and "RETURN VALUES" in text


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_reads_the_whole_sidecar(module):
    sidecar = yaml.safe_load((LIBRARY / f"{module}.yml").read_text())
    doc = json.loads(ansible_doc("--json", module))[module]
    assert doc["examples"].strip() == sidecar["EXAMPLES"].strip()
    assert doc["doc"]["short_description"] == sidecar["DOCUMENTATION"]["short_description"]
    assert sorted(doc["doc"]["options"]) == sorted(sidecar["DOCUMENTATION"]["options"])
    for name, option in sidecar["DOCUMENTATION"]["options"].items():
        assert doc["doc"]["options"][name].get("type") == option.get("type"), name
        assert doc["doc"]["options"][name].get("default") == option.get("default"), name
    assert sorted(doc["return"]) == sorted(sidecar["RETURN"])
