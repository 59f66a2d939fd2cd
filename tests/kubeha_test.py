"""Shared test helpers: where the repo, the venv and the built modules are."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The Python environment whose ansible-core runs the tests: .venv (the pinned ansible-core), or
# one of the version matrix's .venvs/ansible-2.NN (KUBEHA_VENV, set by tests/run).
VENV = Path(os.environ.get("KUBEHA_VENV") or REPO / ".venv").resolve()
VENV_BIN = VENV / "bin"
LIBRARY = REPO / "library"


def require_built_modules():
    """The tests run the release binaries in library/ (`make build`), as users do."""
    if not any(LIBRARY.glob("*.yml")):
        pytest.exit("library/ is empty: run `make build` first", returncode=2)


def ansible_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LIBRARY=str(LIBRARY),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
    )
    env.update(extra)
    return env
