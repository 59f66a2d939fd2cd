"""keepalived_config through real ansible-core 2.19 on localhost, against a temp directory.

`keepalived -t` rejects interfaces the host does not have, and the module finds the VRRP
interface from the subnet holding the VIP. So every run happens in a private network namespace
(`unshare --net`, gone with the process) whose eth0 has 198.51.100.2/24 and 2001:db8:5::2/64:
a known host, with nothing configured outside it and no traffic leaving it.
"""

import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import Localhost

# Eight characters: the most VRRP PASS authentication carries.
PASSWORD = "Kv7_pQ2z"
CHECK = "/usr/bin/true"

SANDBOX_SETUP = """\
set -e
ip link set lo up
ip link add eth0 type veth peer name kh-peer0
ip address add 198.51.100.2/24 dev eth0
ip address add 2001:db8:5::2/64 dev eth0 nodad
ip link set eth0 up
ip link set kh-peer0 up
exec "$@"
"""


def sandbox_available() -> bool:
    ok = os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")
    if not ok and os.environ.get("KUBEHA_REQUIRE_TOOLS"):
        pytest.fail("these tests need root, unshare and ip (KUBEHA_REQUIRE_TOOLS is set)")
    return bool(ok)


class SandboxHost(Localhost):
    """Localhost, run inside a private network namespace with a known eth0."""

    def _run(self, argv, callback):
        return super()._run(["unshare", "--net", "sh", "-c", SANDBOX_SETUP, "sandbox", *argv], callback)


@pytest.fixture
def host(tmp_path):
    if not sandbox_available():
        pytest.skip("needs root, unshare and ip for a private network namespace")
    assert shutil.which("keepalived") or os.path.exists("/usr/sbin/keepalived"), "keepalived must be installed"
    return SandboxHost(tmp_path)


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "etc" / "keepalived" / "keepalived.conf"


def task(dest, extra="", register="result", this_host="lb1"):
    return f"""\
    - name: Keepalived | Write config
      keepalived_config:
        dest: {dest}
        vips: ["198.51.100.100/24"]
        peers: ["lb1", "lb2"]
        this_host: {this_host}
        auth_pass: "{{{{ vrrp_password }}}}"
        scripts:
          - {{name: chk_lb, script: {CHECK}, interval: 2, fall: 2, rise: 2, weight: -30}}
        notify_master: "{CHECK} master"
{extra}      vars:
        vrrp_password: {PASSWORD}
      register: {register}
"""


def files_next_to(dest):
    return sorted(p.name for p in dest.parent.iterdir())


def test_first_run_changes_second_does_not(host, dest):
    first = host.playbook(task(dest))
    assert first.rc == 0, first.output
    assert first.last["changed"] is True
    content = dest.read_bytes()
    assert first.last["checksum"] == hashlib.sha1(content).hexdigest()
    assert oct(dest.stat().st_mode & 0o7777) == "0o640"
    assert oct(dest.parent.stat().st_mode & 0o7777) == "0o755"
    # Derived: first peer is MASTER at priority_base, eth0 holds the VIP's subnet, the VRID
    # comes from cluster_name 'cluster.local' and the VIP.
    assert first.last["instances"] == [
        {
            "name": "VI_1",
            "state": "MASTER",
            "priority": 150,
            "virtual_router_id": 148,
            "interface": "eth0",
            "vips": ["198.51.100.100"],
            "unicast_peers": [],
        }
    ]
    text = content.decode()
    assert "        198.51.100.100/24 dev eth0\n" in text
    assert "    weight -30\n" in text
    assert f'    notify_master "{CHECK} master"\n' in text

    second = host.playbook(task(dest))
    assert second.rc == 0, second.output
    assert second.last["changed"] is False
    assert dest.read_bytes() == content


def test_position_in_the_group_sets_state_and_priority(host, dest):
    run = host.playbook(task(dest, this_host="lb2"))
    assert run.rc == 0, run.output
    instance = run.last["instances"][0]
    assert (instance["state"], instance["priority"]) == ("BACKUP", 140)


def test_unicast_peers_and_ipv6(host, dest):
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
        vrrp_password: {PASSWORD}
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
    assert PASSWORD not in run.output


def test_check_mode_leaves_file_byte_identical(host, dest):
    assert host.playbook(task(dest)).rc == 0
    before = dest.read_bytes()
    run = host.playbook(task(dest, this_host="lb2"), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert dest.read_bytes() == before
    assert files_next_to(dest) == ["keepalived.conf"]

    fresh = dest.parent / "new" / "keepalived.conf"
    run = host.playbook(task(fresh), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert not fresh.parent.exists(), "check mode created a directory"


def test_diff_shows_the_change(host, dest):
    assert host.playbook(task(dest)).rc == 0
    run = host.playbook(task(dest, this_host="lb2"), "--diff", callback="default")
    assert run.rc == 0, run.output
    assert "-    state MASTER" in run.output
    assert "+    state BACKUP" in run.output
    assert "+    priority 140" in run.output


def test_password_never_in_verbose_output_or_registered_result(host, dest, tmp_path):
    saved = tmp_path / "registered.json"
    tasks = (
        task(dest)
        + task(dest, "        advert_int: 2\n", register="second")
        + f"""\
    - name: Save registered results
      ansible.builtin.copy:
        content: "{{{{ [result, second] | to_nice_json }}}}"
        dest: {saved}
        mode: "0600"
"""
    )
    run = host.playbook(tasks, "-vvvv", "--diff", callback="default")
    assert run.rc == 0, run.output
    assert "advert_int 2" in run.output, "the diff is shown"
    assert PASSWORD not in run.output
    assert PASSWORD not in saved.read_text()
    assert f"auth_pass {PASSWORD}\n" in dest.read_text(), "keepalived itself needs the password"


def test_adhoc_string_arguments_are_coerced(host, dest):
    run = host.adhoc(
        "keepalived_config",
        f"dest={dest} vips=198.51.100.100/24 peers=198.51.100.2,198.51.100.3 this_host=198.51.100.2 "
        "unicast=yes advert_int=3 virtual_router_id=68 backup=true",
    )
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    text = dest.read_text()
    assert "    virtual_router_id 68\n    priority 150\n    advert_int 3\n" in text
    assert "    unicast_peer {\n        198.51.100.3\n    }\n" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        ("        colour: red\n", "Unsupported parameters for (keepalived_config module): colour"),
        ("        priority_base: high\n", "option 'priority_base' (in keepalived_config module) expects an integer"),
        ('        vips: ["198.51.100.300/24"]\n', "option 'vips[0]' must be an IP address"),
        ("        virtual_router_id: 0\n", "option 'virtual_router_id' must be between 1 and 255, got 0"),
        ("        virtual_router_id: 256\n", "option 'virtual_router_id' must be between 1 and 255, got 256"),
        ('        vips: ["203.0.113.9/24"]\n', "same subnet as the VIP 203.0.113.9"),
        ("        unicast: true\n", "option 'this_host' must be this host's IP address for unicast VRRP"),
        ("        interface: eth9\n", "rejected by `"),
    ],
    ids=[
        "unknown-option",
        "wrong-type",
        "bad-address",
        "vrid-0",
        "vrid-256",
        "vip-in-no-subnet",
        "unicast-needs-addresses",
        "keepalived-rejects",
    ],
)
def test_bad_input_fails_clearly_and_keeps_old_file(host, dest, extra, message):
    assert host.playbook(task(dest)).rc == 0
    before = dest.read_bytes()
    run = host.playbook(task(dest, extra))
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert message in run.last["msg"], run.last["msg"]
    assert dest.read_bytes() == before
    assert files_next_to(dest) == ["keepalived.conf"]
    assert PASSWORD not in run.output


def test_long_password_is_refused_without_echoing_it(host, dest):
    assert host.playbook(task(dest)).rc == 0
    before = dest.read_bytes()
    long_password = "Kv7_pQ2z-longer"
    run = host.playbook(
        task(dest).replace(f"vrrp_password: {PASSWORD}", f"vrrp_password: {long_password}"),
        "-vvvv",
        callback="default",
    )
    assert run.rc != 0
    assert "option 'auth_pass' is 15 characters long" in run.output
    assert "at most 8 characters" in run.output
    assert long_password not in run.output
    assert dest.read_bytes() == before


def test_keepalived_rejection_names_the_problem(host, dest):
    run = host.playbook(task(dest, "        interface: eth9\n"))
    assert run.rc != 0
    assert "interface eth9" in run.last["msg"], "keepalived's own words are shown"
    assert "-t -e -f" in run.last["msg"]
    assert "eth9" in run.last["validate_output"]
    assert not dest.exists()


def test_keepalived_passes_a_missing_file_without_e():
    """Why the module validates with `-e`: plain `keepalived -t` passes a missing file."""
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    missing = "/nonexistent/keepalived.conf"
    plain = subprocess.run([keepalived, "-t", "-f", missing], capture_output=True, timeout=30)
    strict = subprocess.run([keepalived, "-t", "-e", "-f", missing], capture_output=True, timeout=30)
    assert plain.returncode == 0
    assert strict.returncode != 0
