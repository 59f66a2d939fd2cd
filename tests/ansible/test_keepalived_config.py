"""keepalived_config through real ansible-core 2.19 on a sandbox host (file_modules.py), beyond
what every file module promises (test_file_contract.py): the VRRP role from the host's place in
the group, unicast and IPv6 instances, a password keepalived would cut refused unechoed, and why
the module validates with `keepalived -t -e`.
"""

import shutil
import subprocess

import pytest

from file_modules import KEEPALIVED, VRRP_PASSWORD, on_host, task


@pytest.fixture
def keepalived(tmp_path):
    """The sandbox host and where the config goes."""
    _, host, dest = on_host(KEEPALIVED.name, tmp_path)
    return host, dest


def test_position_in_the_group_sets_state_and_priority(keepalived):
    host, dest = keepalived
    run = host.playbook(task(KEEPALIVED, dest, {"this_host": "lb2"}))
    assert run.rc == 0, run.output
    instance = run.last["instances"][0]
    assert (instance["state"], instance["priority"]) == ("BACKUP", 140)


def test_unicast_peers_and_ipv6(keepalived):
    host, dest = keepalived
    run = host.playbook(f"""\
    - name: Keepalived | Write config
      keepalived_config:
        dest: {dest}
        peers: ["198.51.100.2", "198.51.100.3", "198.51.100.4"]
        this_host: 198.51.100.2
        unicast: true
        instances:
          - {{name: api_v4, vips: ["198.51.100.100/24"], auth_pass: "{{{{ vrrp_password }}}}"}}
          - {{name: api_v6, vips: ["2001:db8:5::100/64"], unicast_src_ip: "2001:db8:5::2",
             unicast_peers: ["2001:db8:5::3"]}}
      vars:
        vrrp_password: {VRRP_PASSWORD}
""")
    assert run.rc == 0, run.output
    v4, v6 = run.last["instances"]
    assert (v4["state"], v4["priority"]) == ("MASTER", 150)
    assert v4["unicast_peers"] == ["198.51.100.3", "198.51.100.4"]
    assert v6["unicast_peers"] == ["2001:db8:5::3"]
    assert v6["interface"] == "eth0"
    text = dest.read_text()
    assert "    version 3\n" in text
    assert "        2001:db8:5::100/64 dev eth0\n" in text
    assert VRRP_PASSWORD not in run.output


def test_long_password_is_refused_without_echoing_it(keepalived):
    host, dest = keepalived
    assert host.playbook(task(KEEPALIVED, dest)).rc == 0
    before = dest.read_bytes()
    long_password = "Kv7_pQ2z-longer"
    run = host.playbook(task(KEEPALIVED, dest, vars={"vrrp_password": long_password}), "-vvvv", callback="default")
    assert run.rc != 0
    assert "option 'auth_pass' is 15 characters long" in run.output
    assert "at most 8 characters" in run.output
    assert long_password not in run.output
    assert dest.read_bytes() == before


def test_keepalived_passes_a_missing_file_without_e():
    """Why the module validates with `-e`: plain `keepalived -t` passes a missing file."""
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    missing = "/nonexistent/keepalived.conf"
    plain = subprocess.run([keepalived, "-t", "-f", missing], capture_output=True, timeout=30)
    strict = subprocess.run([keepalived, "-t", "-e", "-f", missing], capture_output=True, timeout=30)
    assert plain.returncode == 0
    assert strict.returncode != 0
