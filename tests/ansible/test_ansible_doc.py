"""`ansible-doc <name>` renders every built module's sidecar."""

import subprocess

import pytest

from kubeha_test import LIBRARY, VENV_BIN, ansible_env

pytestmark = pytest.mark.path_independent

MODULES = sorted(p.stem for p in LIBRARY.glob("*.yml"))


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), module],
        env=ansible_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"MODULE {module}" in proc.stdout.replace("\x1b[1m", "").replace("\x1b[0m", "")
    assert "EXAMPLES" in proc.stdout and "RETURN VALUES" in proc.stdout
