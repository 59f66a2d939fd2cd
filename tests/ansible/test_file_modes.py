"""File modes as Ansible users write them, for every module that writes a file.

YAML 1.1 reads an unquoted `mode: 0640` as the integer 416. ansible-core's file options take
`mode` as `raw` so that 416 means 0o640; a module that turned it into the text "416" and read
that as octal wrote 0416 (`-r----xrw-`, world-writable) instead. These run real playbooks.
"""

import pytest

from conftest import Localhost
from test_keepalived_config import SandboxHost, sandbox_available


def keepalived_host(tmp_path):
    if not sandbox_available():
        pytest.skip("needs root, unshare and ip for a private network namespace")
    return SandboxHost(tmp_path)


# Each module's smallest task writing `dest`; {modes} is replaced by the mode options under test.
MODULES = {
    "haproxy_config": (
        Localhost,
        "etc/haproxy/haproxy.cfg",
        """\
      haproxy_config:
        dest: {dest}
        backends: [{{name: cp1, address: 127.0.0.1}}]
{modes}""",
    ),
    "nginx_proxy_config": (
        Localhost,
        "etc/nginx/nginx.conf",
        """\
      nginx_proxy_config:
        dest: {dest}
        backends: [{{name: cp1, address: 127.0.0.1}}]
{modes}""",
    ),
    "keepalived_config": (
        keepalived_host,
        "etc/keepalived/keepalived.conf",
        """\
      keepalived_config:
        dest: {dest}
        vips: ["198.51.100.100/24"]
        peers: ["lb1"]
        this_host: lb1
{modes}""",
    ),
    "static_pod": (
        Localhost,
        "etc/kubernetes/manifests/haproxy.yml",
        """\
      static_pod:
        preset: haproxy
        manifest_dir: {manifest_dir}
        config_dir: /etc/haproxy
{modes}""",
    ),
}


def play(module, dest, modes):
    _, _, task = MODULES[module]
    body = task.format(dest=dest, manifest_dir=dest.parent, modes=modes)
    return f"    - name: Write the file\n{body}      register: result\n"


@pytest.fixture(params=sorted(MODULES))
def case(request, tmp_path):
    make_host, relative, _ = MODULES[request.param]
    return request.param, make_host(tmp_path), tmp_path / relative


def mode_of(path):
    return path.stat().st_mode & 0o7777


def test_unquoted_octal_modes_in_a_playbook_are_the_modes_written(case):
    module, host, dest = case
    # Unquoted, as users write them: YAML 1.1 gives the integers 416 and 488.
    run = host.playbook(play(module, dest, "        mode: 0640\n        dir_mode: 0750\n"))
    assert run.rc == 0, run.output
    assert oct(mode_of(dest)) == "0o640", f"{module} wrote {oct(mode_of(dest))}"
    assert oct(mode_of(dest.parent)) == "0o750"
    assert run.last["mode"] == "0640"

    again = host.playbook(play(module, dest, "        mode: 0640\n        dir_mode: 0750\n"))
    assert again.rc == 0, again.output
    assert again.last["changed"] is False


def test_symbolic_and_quoted_modes_work_like_ansibles(case):
    module, host, dest = case
    run = host.playbook(play(module, dest, '        mode: "0644"\n'))
    assert run.rc == 0, run.output
    assert oct(mode_of(dest)) == "0o644"

    # Applied to the current mode, as ansible-core's file options do.
    run = host.playbook(play(module, dest, "        mode: u=rw,g=r,o=\n"))
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert oct(mode_of(dest)) == "0o640"
    run = host.playbook(play(module, dest, "        mode: g-r\n"))
    assert run.rc == 0, run.output
    assert oct(mode_of(dest)) == "0o600"
    again = host.playbook(play(module, dest, "        mode: g-r\n"))
    assert again.last["changed"] is False, again.output


def test_a_bad_mode_fails_naming_the_option_and_changes_nothing(case):
    module, host, dest = case
    assert host.playbook(play(module, dest, "")).rc == 0
    before = (dest.read_bytes(), mode_of(dest))
    for modes, message in [
        ("        mode: rw-r-----\n", "option 'mode': mode must be in octal or symbolic form"),
        ("        mode: 010000\n", "option 'mode': Invalid mode supplied, only permission info is allowed"),
        ('        dir_mode: "0999"\n', "option 'dir_mode': mode must be in octal or symbolic form"),
    ]:
        run = host.playbook(play(module, dest, modes))
        assert run.rc != 0, run.output
        assert message in run.output, run.output
        assert (dest.read_bytes(), mode_of(dest)) == before
