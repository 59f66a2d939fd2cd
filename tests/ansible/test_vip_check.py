"""vip_check through real ansible-core on localhost.

Loopback only in the root namespace (127.0.0.1 is bound on lo; 198.51.100.77, a documentation
address, is bound nowhere and never contacted). The VIP that arrives while a play waits lives in
a network namespace this test creates (`vc-<pid>-ansible`): the whole ansible-playbook runs
inside it with the local connection, as on a load-balancer host.
"""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from kubeha_test import VENV_BIN


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that accepts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tls_port(tmp_path):
    """`openssl s_server` on 127.0.0.1, stopped by PID afterwards."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "1", "-subj", "/CN=lb-apiserver.kubernetes.local", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        server.kill()
        server.wait(timeout=10)


def task(args: str, register: str = "vip") -> str:
    return f"""\
    - name: Keepalived | Check the VIP
      vip_check:
{args}      register: {register}
"""


def test_reports_binding_and_is_never_changed(localhost):
    run = localhost.playbook(task("        vips: [127.0.0.1, 198.51.100.77]\n"))
    assert run.rc == 0, run.output
    result = run.last
    assert result["changed"] is False
    assert result["vips"][0]["bound"] is True
    assert result["vips"][0]["interface"] == "lo"
    assert result["vips"][1]["bound"] is False
    assert result["summary"] == {
        "total": 2, "bound": 1, "all_bound": False, "none_bound": False,
        "reachable": None, "all_reachable": None,
    }


def test_check_mode_probes_the_same(localhost, listener):
    args = f"        vips: [127.0.0.1]\n        port: {listener}\n"
    normal = localhost.playbook(task(args))
    check = localhost.playbook(task(args), "--check", "--diff")
    assert check.rc == 0, check.output
    assert check.last["changed"] is False
    assert check.last["vips"] == normal.last["vips"]
    assert check.last["vips"][0]["tcp_ok"] is True
    assert "diff" not in check.last


def test_adhoc_strings_are_coerced(localhost, listener):
    run = localhost.adhoc("vip_check", f"vips=127.0.0.1 port={listener} timeout=2 probe_timeout=1.5")
    assert run.rc == 0, run.output
    assert run.last["vips"][0]["tcp_ok"] is True
    assert run.last["msg"] == f"127.0.0.1 is bound on lo, port {listener} accepts TCP"


def test_state_present_fails_after_timeout_and_keeps_the_report(localhost):
    started = time.monotonic()
    run = localhost.playbook(
        task("        vips: [198.51.100.77]\n        state: present\n        timeout: 1\n")
        + """\
      ignore_errors: true
    - name: Keepalived | Failure still reports each VIP
      ansible.builtin.assert:
        that:
          - vip is failed
          - vip.vips[0].bound == false
          - "'is not bound on this host after waiting 1' in vip.msg"
"""
    )
    assert run.rc == 0, run.output
    assert time.monotonic() - started < 60


def test_unreachable_port_fails_clearly(localhost):
    port = free_port()
    run = localhost.playbook(task(f"        vips: [127.0.0.1]\n        port: {port}\n"))
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert run.last["msg"] == "unreachable: 127.0.0.1: TCP connection refused (timeout is 0: not waited)"
    assert run.last["vips"][0]["tcp_error"] == "connection refused"


def test_tls_hello_through_the_vip(localhost, tls_port):
    run = localhost.playbook(
        task(f"        vips: [127.0.0.1]\n        port: {tls_port}\n        tls_check: true\n"
             "        server_name: lb-apiserver.kubernetes.local\n")
    )
    assert run.rc == 0, run.output
    assert run.last["vips"][0]["tls_version"] == "TLSv1.3"
    assert run.last["summary"]["all_reachable"] is True


@pytest.mark.parametrize("args, expected", [
    ("vips: [127.0.0.1]\n        colour: red", "Unsupported parameters for (vip_check module): colour"),
    ("vips: [10.0.0.300]", "option 'vips[0]' must be an IP address"),
    ("vips: [127.0.0.1]\n        state: up", "state"),
    ("vips: [127.0.0.1]\n        timeout: 99999", "option 'timeout' must be 0-3600 seconds"),
    ("vips: [127.0.0.1]\n        tls_check: true", "option 'tls_check' needs 'port'"),
])
def test_bad_input_fails_clearly(localhost, args, expected):
    run = localhost.playbook(task(f"        {args}\n"))
    assert run.rc != 0
    assert expected in run.last["msg"], run.last["msg"]
    assert run.last["changed"] is False


def test_waits_for_the_vip_inside_a_namespace(localhost, tmp_path):
    """ansible-playbook runs inside a namespace; the VIP arrives while the task waits."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip to create a network namespace")
    ns = f"vc-{os.getpid()}-ansible"
    ip = ["ip", "-n", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "vip0", "type", "veth", "peer", "name", "vip0-peer"],
                    ["link", "set", "vip0-peer", "up"],
                    ["link", "set", "vip0", "up"],
                    ["addr", "add", "10.213.2.11/24", "dev", "vip0"]):
            subprocess.run(ip + cmd, check=True)

        def add_vip():
            time.sleep(1.5)
            subprocess.run(ip + ["addr", "add", "10.213.2.100/32", "dev", "vip0"], check=True)

        adder = threading.Thread(target=add_vip)
        adder.start()
        book = tmp_path / "ns-play.yml"
        book.write_text(
            "- name: Test play\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
            + task("        vips: [10.213.2.100/32]\n        state: present\n        timeout: 30\n")
        )
        run = localhost._run(
            ["ip", "netns", "exec", ns, str(VENV_BIN / "ansible-playbook"), "-i", "localhost,",
             "-c", "local", str(book), "-e", f"kubeha_fastpath_cache={localhost.cache}"],
            "minimal",
        )
        adder.join()
        assert run.rc == 0, run.output
        assert run.last["vips"][0]["interface"] == "vip0"
        assert run.last["vips"][0]["prefix"] == 32
        assert "after" not in run.last["msg"]
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_vrrp_scan_refuses_a_vrid_another_cluster_uses(localhost, tmp_path):
    """Another cluster's keepalived (VRID 51, a VRRP password) in one namespace; ansible-playbook
    in a second one, on the same link, scans: VRID 52 is free, VRID 51 is refused with the
    foreign source and VIP named, and the password carried in the adverts is never printed."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("keepalived") is None:
        pytest.skip("needs root, ip and keepalived")
    other, us = f"vc-{os.getpid()}-ans-o", f"vc-{os.getpid()}-ans-us"
    password = "VrrpS3cr"
    keepalived = None
    try:
        for ns in (other, us):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", other, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                        "netns", us], check=True)
        for ns, address in ((other, "10.213.3.1/24"), (us, "10.213.3.11/24")):
            subprocess.run(["ip", "-n", ns, "addr", "add", address, "dev", "eth0"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
        conf = tmp_path / "other-keepalived.conf"
        conf.write_text(
            "vrrp_instance OTHER {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 150\n"
            f"  advert_int 1\n  authentication {{\n    auth_type PASS\n    auth_pass {password}\n  }}\n"
            "  virtual_ipaddress {\n    10.213.3.100/24 dev eth0\n  }\n}\n"
        )
        keepalived = subprocess.Popen(
            ["ip", "netns", "exec", other, "keepalived", "--dont-fork", "--log-console", "--vrrp",
             "-f", conf, "-p", tmp_path / "k.pid", "-r", tmp_path / "k-vrrp.pid"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(150):
            shown = subprocess.run(["ip", "-n", other, "addr", "show", "dev", "eth0"],
                                   capture_output=True, text=True, check=True).stdout
            if "10.213.3.100/24" in shown:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the other cluster's keepalived never took its VIP")

        def scan(vrid: int, register: str) -> str:
            return task(
                "        vips: [10.213.3.200/24]\n        vrrp_scan:\n          seconds: 2.5\n"
                f"          virtual_router_id: {vrid}\n          own_sources: [10.213.3.11, 10.213.3.12]\n",
                register,
            )

        book = tmp_path / "scan-play.yml"
        book.write_text(
            "- name: Test play\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
            + scan(52, "free") + scan(51, "taken")
        )
        run = localhost._run(
            ["ip", "netns", "exec", us, str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             str(book), "-e", f"kubeha_fastpath_cache={localhost.cache}", "-vvvv", "--diff"],
            "minimal",
        )
        assert run.rc != 0, run.output
        free, taken = run.results
        assert free["changed"] is False
        assert free["vrrp_scan"]["interface"] == "eth0"
        assert free["vrrp_scan"]["virtual_router_ids"] == [51]
        [router] = free["vrrp_routers"]
        assert {k: router[k] for k in ("virtual_router_id", "version", "source", "priority", "addresses")} == {
            "virtual_router_id": 51, "version": 2, "source": "10.213.3.1", "priority": 150,
            "addresses": ["10.213.3.100"],
        }
        assert taken["_status"] == "FAILED"
        assert taken["msg"] == (
            "VRID 51 is already in use on eth0: 10.213.3.1 advertises VIPs 10.213.3.100 and is not one of "
            "our hosts (10.213.3.11, 10.213.3.12); choose another virtual_router_id"
        )
        assert password not in run.output
    finally:
        if keepalived is not None:
            keepalived.terminate()
            try:
                keepalived.wait(timeout=10)
            except subprocess.TimeoutExpired:
                keepalived.kill()
                keepalived.wait(timeout=10)
        for ns in (us, other):
            subprocess.run(["ip", "netns", "del", ns], check=False)
