"""File modes as Ansible users write them, for every module that writes a file.

YAML 1.1 reads an unquoted `mode: 0640` as the integer 416. ansible-core's file options take
`mode` as `raw` so that 416 means 0o640; a module that turned it into the text "416" and read
that as octal wrote 0416 (`-r----xrw-`, world-writable) instead. These run real playbooks.
"""

import pytest

from file_modules import MODULES, on_host, task


@pytest.fixture(params=sorted(MODULES))
def case(request, tmp_path):
    return on_host(request.param, tmp_path)


def mode_of(path):
    return path.stat().st_mode & 0o7777


def test_unquoted_octal_modes_in_a_playbook_are_the_modes_written(case):
    module, host, dest = case
    # Unquoted, as users write them: YAML 1.1 gives the integers 416 and 488.
    run = host.playbook(task(module, dest, raw="        mode: 0640\n        dir_mode: 0750\n"))
    assert run.rc == 0, run.output
    assert oct(mode_of(dest)) == "0o640", f"{module.name} wrote {oct(mode_of(dest))}"
    assert oct(mode_of(dest.parent)) == "0o750"
    assert run.last["mode"] == "0640"

    again = host.playbook(task(module, dest, raw="        mode: 0640\n        dir_mode: 0750\n"))
    assert again.rc == 0, again.output
    assert again.last["changed"] is False


def test_symbolic_and_quoted_modes_work_like_ansibles(case):
    module, host, dest = case
    run = host.playbook(task(module, dest, raw='        mode: "0644"\n'))
    assert run.rc == 0, run.output
    assert oct(mode_of(dest)) == "0o644"

    # Applied to the current mode, as ansible-core's file options do.
    run = host.playbook(task(module, dest, raw="        mode: u=rw,g=r,o=\n"))
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert oct(mode_of(dest)) == "0o640"
    run = host.playbook(task(module, dest, raw="        mode: g-r\n"))
    assert run.rc == 0, run.output
    assert oct(mode_of(dest)) == "0o600"
    again = host.playbook(task(module, dest, raw="        mode: g-r\n"))
    assert again.last["changed"] is False, again.output


def test_a_bad_mode_fails_naming_the_option_and_changes_nothing(case):
    module, host, dest = case
    assert host.playbook(task(module, dest, raw="")).rc == 0
    before = (dest.read_bytes(), mode_of(dest))
    for modes, message in [
        ("        mode: rw-r-----\n", "option 'mode': mode must be in octal or symbolic form"),
        ("        mode: 010000\n", "option 'mode': Invalid mode supplied, only permission info is allowed"),
        ('        dir_mode: "0999"\n', "option 'dir_mode': mode must be in octal or symbolic form"),
    ]:
        run = host.playbook(task(module, dest, raw=modes))
        assert run.rc != 0, run.output
        assert message in run.output, run.output
        assert (dest.read_bytes(), mode_of(dest)) == before
