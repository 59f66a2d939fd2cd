"""Running real ansible-core against localhost."""

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubeha_test import REPO, VENV_BIN, ansible_env, require_built_modules

# The `minimal` callback prints `host | STATUS => {json}` per task: easy to parse, and the
# same lines Ansible users see with `-o`.
RESULT_LINE = re.compile(r"^(\S+) \| (CHANGED|SUCCESS|FAILED!|SKIPPED|UNREACHABLE!)(?: \| rc=\d+)? => ", re.M)


@dataclass
class Run:
    rc: int
    output: str
    results: list = field(default_factory=list)

    @property
    def last(self) -> dict:
        return self.results[-1]


def parse_results(output: str) -> list:
    results = []
    for match in RESULT_LINE.finditer(output):
        decoder = json.JSONDecoder()
        value, _ = decoder.raw_decode(output[match.end():])
        # ansible-core 2.19 drops `failed` from what it prints; keep the status it shows.
        value["_status"] = match.group(2).rstrip("!")
        results.append(value)
    return results


@dataclass
class Localhost:
    workdir: Path

    @property
    def cache(self) -> Path:
        """The fast path's binary cache for this test (hermetic, not the user's home)."""
        return self.workdir / "fastpath-cache"

    def playbook(self, tasks: str, *args: str, callback: str = "minimal") -> Run:
        """Runs `tasks` (YAML, indented for a play's task list) on localhost."""
        book = self.workdir / "play.yml"
        args = (*args, "-e", f"kubeha_fastpath_cache={self.cache}")
        book.write_text(
            "- name: Test play\n  hosts: localhost\n  gather_facts: false\n  tasks:\n" + tasks
        )
        return self._run(
            [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book), *args],
            callback,
        )

    def adhoc(self, module: str, module_args: str, *args: str) -> Run:
        return self._run(
            [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
             "-m", module, "-a", module_args, "-e", f"kubeha_fastpath_cache={self.cache}", *args],
            "minimal",
        )

    def _run(self, argv: list, callback: str) -> Run:
        env = ansible_env(
            ANSIBLE_STDOUT_CALLBACK=callback,
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
            ANSIBLE_LOCAL_TEMP=str(self.workdir / "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.workdir / "remote-tmp"),
        )
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        output = proc.stdout + proc.stderr
        return Run(proc.returncode, output, parse_results(proc.stdout))


@pytest.fixture(scope="session", autouse=True)
def built_modules():
    require_built_modules()


@pytest.fixture
def repo_library():
    return REPO / "library"


@pytest.fixture
def localhost(tmp_path) -> Localhost:
    return Localhost(tmp_path)
