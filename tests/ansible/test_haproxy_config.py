"""haproxy_config through real ansible-core 2.19 on localhost, against a temp directory."""

import hashlib
import shutil

import pytest

PASSWORD = "Stats-Pa55-never-shown"

BACKENDS = """\
          - {name: cp1, address: 10.199.0.11}
          - {name: cp2, address: 10.199.0.12}
          - {name: cp3, address: 10.199.0.13}
"""


def task(dest, extra="", register="result"):
    return f"""\
    - name: Haproxy | Write config
      haproxy_config:
        dest: {dest}
        bind_addresses: ["0.0.0.0"]
        frontend_port: 8443
        stats_port: 9000
        stats_user: admin
        stats_password: "{{{{ stats_password }}}}"
        backends:
{BACKENDS}{extra}      vars:
        stats_password: {PASSWORD}
      register: {register}
"""


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "etc" / "haproxy" / "haproxy.cfg"


def test_first_run_changes_second_does_not(localhost, dest):
    first = localhost.playbook(task(dest))
    assert first.rc == 0, first.output
    assert first.last["changed"] is True
    content = dest.read_bytes()
    assert first.last["checksum"] == hashlib.sha1(content).hexdigest()
    assert oct(dest.stat().st_mode & 0o7777) == "0o640"
    assert oct(dest.parent.stat().st_mode & 0o7777) == "0o755"

    second = localhost.playbook(task(dest))
    assert second.rc == 0, second.output
    assert second.last["changed"] is False
    assert dest.read_bytes() == content


def test_checksum_matches_builtin_stat(localhost, dest):
    run = localhost.playbook(
        task(dest)
        + f"""\
    - name: Haproxy | Stat config
      ansible.builtin.stat:
        path: {dest}
        checksum_algorithm: sha1
      register: st
    - name: Compare
      ansible.builtin.assert:
        that: st.stat.checksum == result.checksum
"""
    )
    assert run.rc == 0, run.output


def test_check_mode_leaves_file_byte_identical(localhost, dest):
    assert localhost.playbook(task(dest)).rc == 0
    before = dest.read_bytes()
    run = localhost.playbook(task(dest, "        balance: roundrobin\n"), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert dest.read_bytes() == before

    fresh = dest.parent / "new" / "haproxy.cfg"
    run = localhost.playbook(task(fresh), "--check")
    assert run.last["changed"] is True
    assert not fresh.parent.exists(), "check mode created a directory"


def test_diff_shows_the_change(localhost, dest):
    assert localhost.playbook(task(dest)).rc == 0
    run = localhost.playbook(task(dest, "        balance: roundrobin\n"), "--diff", callback="default")
    assert run.rc == 0, run.output
    assert "-    balance leastconn" in run.output
    assert "+    balance roundrobin" in run.output


def test_password_never_in_verbose_output_or_registered_result(localhost, dest, tmp_path):
    saved = tmp_path / "registered.json"
    tasks = task(dest) + task(dest, "        balance: source\n", register="second") + f"""\
    - name: Save registered results
      ansible.builtin.copy:
        content: "{{{{ [result, second] | to_nice_json }}}}"
        dest: {saved}
        mode: "0600"
"""
    run = localhost.playbook(tasks, "-vvvv", "--diff", callback="default")
    assert run.rc == 0, run.output
    assert PASSWORD not in run.output
    assert PASSWORD not in saved.read_text()
    assert PASSWORD in dest.read_text(), "haproxy itself needs the password"


def test_adhoc_string_arguments_are_coerced(localhost, dest):
    run = localhost.adhoc(
        "haproxy_config",
        f"dest={dest} frontend_port=8443 backup=yes validate=true "
        "backends='[{\"name\": \"cp1\", \"address\": \"10.199.0.11\"}]'",
    )
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert "bind 127.0.0.1:8443" in dest.read_text()


@pytest.mark.parametrize(
    "extra, message",
    [
        ("        colour: red\n", "Unsupported parameters for (haproxy_config module): colour"),
        ("        check_rise: often\n", "option 'check_rise' (in haproxy_config module) expects an integer"),
        ("        bind_addresses: [10.0.0.300]\n", "option 'bind_addresses' must be an IP address or '*', got '10.0.0.300'"),
        ("        log_target: 127.0.0.1 nofacility\n", "rejected by `"),
    ],
    ids=["unknown-option", "wrong-type", "bad-address", "haproxy-rejects"],
)
def test_bad_input_fails_clearly_and_keeps_old_file(localhost, dest, extra, message):
    assert localhost.playbook(task(dest)).rc == 0
    before = dest.read_bytes()
    run = localhost.playbook(task(dest, extra))
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert message in run.last["msg"], run.last["msg"]
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["haproxy.cfg"]


def test_empty_backend_list_fails(localhost, dest):
    run = localhost.playbook(f"""\
    - name: Haproxy | Write config
      haproxy_config:
        dest: {dest}
        backends: []
""")
    assert run.rc != 0
    assert "option 'backends' must list at least one server" in run.last["msg"]
    assert not dest.exists()


def test_haproxy_rejection_names_the_problem(localhost, dest):
    assert shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy"), "haproxy must be installed"
    run = localhost.playbook(task(dest, "        log_target: 127.0.0.1 nofacility\n"))
    assert "nofacility" in run.last["msg"]
    assert "validate_output" in run.last
