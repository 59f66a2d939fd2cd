"""What every module that writes a file promises, through real ansible-core on localhost, once
for all of them (file_modules.py describes each): the first run changes and the second does not,
`checksum` is what `stat` says, `--check` leaves the file byte-identical and creates nothing,
`--diff` shows the change, ad-hoc string arguments are coerced, bad input fails clearly and keeps
the old file, a secret is never in `-vvvv` output or a registered result, and the real daemon's
rejection is shown in its own words.
"""

import hashlib

import pytest

from file_modules import MODULES, on_host, task

WITH_SECRET = sorted(name for name, m in MODULES.items() if m.secret)
WITH_VALIDATOR = sorted(name for name, m in MODULES.items() if m.validator)
WITH_ADHOC = sorted(name for name, m in MODULES.items() if m.adhoc)


@pytest.fixture(params=sorted(MODULES))
def written(request, tmp_path):
    """A module, its host, and its file as the task first wrote it."""
    module, host, dest = on_host(request.param, tmp_path)
    first = host.playbook(task(module, dest))
    assert first.rc == 0, first.output
    return module, host, dest, first


def test_first_run_changes_second_does_not(written):
    module, host, dest, first = written
    assert first.last["changed"] is True
    content = dest.read_bytes()
    assert first.last["checksum"] == hashlib.sha1(content).hexdigest()
    assert oct(dest.stat().st_mode & 0o7777) == "0o640"
    assert oct(dest.parent.stat().st_mode & 0o7777) == oct(module.dir_mode)
    for key, value in module.reports.items():
        assert first.last[key] == value, key
    for line in module.content:
        assert line in content.decode()

    second = host.playbook(task(module, dest))
    assert second.rc == 0, second.output
    assert second.last["changed"] is False
    assert dest.read_bytes() == content


@pytest.mark.parametrize("name", sorted(MODULES))
def test_checksum_matches_builtin_stat(name, tmp_path):
    module, host, dest = on_host(name, tmp_path)
    run = host.playbook(task(module, dest) + f"""\
    - name: Stat the file
      ansible.builtin.stat:
        path: {dest}
        checksum_algorithm: sha1
      register: st
    - name: Compare
      ansible.builtin.assert:
        that: st.stat.checksum == result.checksum
""")
    assert run.rc == 0, run.output


def test_check_mode_leaves_file_byte_identical(written, tmp_path):
    module, host, dest, _ = written
    before = dest.read_bytes()
    run = host.playbook(task(module, dest, module.change), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]

    fresh = tmp_path / "new" / dest.name
    run = host.playbook(task(module, fresh), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert not fresh.parent.exists(), "check mode created a directory"


def test_diff_shows_the_change(written):
    module, host, dest, _ = written
    run = host.playbook(task(module, dest, module.change), "--diff", callback="default")
    assert run.rc == 0, run.output
    removed, added = module.diff
    for line in [removed, *added]:
        assert line in run.output


@pytest.mark.parametrize("name", WITH_ADHOC)
def test_adhoc_string_arguments_are_coerced(name, tmp_path):
    module, host, dest = on_host(name, tmp_path)
    arguments, lines = module.adhoc
    run = host.adhoc(name, arguments.replace("{dest}", str(dest)))
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    for line in lines:
        assert line in dest.read_text()


BAD = [
    (name, extra, message)
    for name, module in sorted(MODULES.items())
    for extra, message in [({"colour": "red"}, f"Unsupported parameters for ({name} module): colour"), *module.bad]
]


@pytest.mark.parametrize("name, extra, message", BAD, ids=[f"{name}-{'-'.join(extra)}" for name, extra, _ in BAD])
def test_bad_input_fails_clearly_and_keeps_old_file(name, extra, message, tmp_path):
    module, host, dest = on_host(name, tmp_path)
    assert host.playbook(task(module, dest)).rc == 0
    before = dest.read_bytes()
    run = host.playbook(task(module, dest, extra))
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert message in run.last["msg"], run.last["msg"]
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]
    assert not module.secret or module.secret not in run.output


@pytest.mark.parametrize("name", WITH_SECRET)
def test_secret_never_in_verbose_output_or_registered_result(name, tmp_path):
    module, host, dest = on_host(name, tmp_path)
    saved = tmp_path / "registered.json"
    tasks = task(module, dest) + task(module, dest, module.change, register="second") + f"""\
    - name: Save registered results
      ansible.builtin.copy:
        content: "{{{{ [result, second] | to_nice_json }}}}"
        dest: {saved}
        mode: "0600"
"""
    run = host.playbook(tasks, "-vvvv", "--diff", callback="default")
    assert run.rc == 0, run.output
    assert module.diff[1][0] in run.output, "the diff is shown"
    assert module.secret not in run.output
    assert module.secret not in saved.read_text()
    assert module.secret in dest.read_text(), "the daemon itself needs it"


@pytest.mark.parametrize("name", WITH_VALIDATOR)
def test_validator_rejection_names_the_problem(name, tmp_path):
    module, host, dest = on_host(name, tmp_path)
    run = host.playbook(task(module, dest, module.validator.rejected))
    assert run.rc != 0
    for says in module.validator.says:
        assert says.replace("{dest}", str(dest)) in run.last["msg"], run.last["msg"]
    assert module.validator.output_says in run.last["validate_output"]
    assert not dest.exists()
