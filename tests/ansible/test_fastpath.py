"""The fast path: one round trip per task, binaries cached on the host by SHA-256, a damaged
cached binary detected and replaced, never executed. (The other ansible tests run both with
the fast path and without it: tests/run sets KUBEHA_FASTPATH=0 for the second pass.)"""

import hashlib
import os
import stat

import pytest

TASK = """\
    - name: Haproxy | Write config
      haproxy_config:
        dest: {dest}
        backends: [{{name: cp1, address: 10.0.0.1}}]
"""


@pytest.fixture(autouse=True)
def fast_path_on(monkeypatch):
    monkeypatch.setenv("KUBEHA_FASTPATH", "1")


def cached(localhost):
    return sorted(localhost.cache.glob("haproxy_config-*"))


def test_binary_is_cached_by_hash_with_private_modes(localhost, tmp_path, repo_library):
    run = localhost.playbook(TASK.format(dest=tmp_path / "h.cfg"), "-vvv", callback="default")
    assert run.rc == 0, run.output
    (binary,) = cached(localhost)
    digest = hashlib.sha256((repo_library / "haproxy_config").read_bytes()).hexdigest()
    assert binary.name == f"haproxy_config-{digest}"
    assert stat.S_IMODE(localhost.cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(binary.stat().st_mode) == 0o700
    assert "installing haproxy_config" in run.output

    again = localhost.playbook(TASK.format(dest=tmp_path / "h.cfg"), "-vvv", callback="default")
    assert again.rc == 0
    assert "installing haproxy_config" not in again.output
    assert "PUT " not in again.output, "no file transfer once cached"


@pytest.mark.parametrize("damage", ["truncate", "tamper"])
def test_damaged_cached_binary_is_replaced_not_run(localhost, tmp_path, damage):
    dest = tmp_path / "h.cfg"
    assert localhost.playbook(TASK.format(dest=dest)).rc == 0
    (binary,) = cached(localhost)
    good = binary.read_bytes()
    if damage == "truncate":
        binary.write_bytes(good[: len(good) // 2])
    else:
        # A shell script that would leave a mark if it were ever executed.
        marker = tmp_path / "executed"
        binary.write_text(f"#!/bin/sh\ntouch {marker}\necho '{{\"changed\": false}}'\n")
        os.chmod(binary, 0o700)
    dest.unlink()
    run = localhost.playbook(TASK.format(dest=dest))
    assert run.rc == 0, run.output
    assert run.last["changed"] is True and dest.exists()
    assert binary.read_bytes() == good, "the cached binary was repaired"
    assert not (tmp_path / "executed").exists(), "the damaged binary was never run"


def test_turned_off_uses_the_standard_path(localhost, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBEHA_FASTPATH", "0")
    run = localhost.playbook(TASK.format(dest=tmp_path / "h.cfg"), "-vvv", callback="default")
    assert run.rc == 0, run.output
    assert not localhost.cache.exists()
    assert "PUT " in run.output and "AnsiballZ_haproxy_config" in run.output


def test_variable_turns_it_off_per_host(localhost, tmp_path):
    run = localhost.playbook(TASK.format(dest=tmp_path / "h.cfg"), "-e", "kubeha_fastpath=false")
    assert run.rc == 0, run.output
    assert not localhost.cache.exists()
