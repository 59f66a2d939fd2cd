"""nginx_proxy_config through real ansible-core 2.19 on localhost, against a temp directory.

Validation runs the real `nginx -t`; one test also runs nginx itself with the written config,
inside a private network namespace, and talks to it.
"""

import hashlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from kubeha_test import VENV_BIN

BACKENDS = """\
          - {name: cp1, address: 10.199.0.11}
          - {name: cp2, address: 10.199.0.12}
          - {name: cp3, address: 10.199.0.13}
"""


def task(dest, extra="", backends=BACKENDS, register="result"):
    return f"""\
    - name: Nginx-proxy | Write config
      nginx_proxy_config:
        dest: {dest}
        healthcheck_port: 8081
        backends:
{backends}{extra}      register: {register}
"""


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "etc" / "nginx" / "nginx.conf"


def in_private_netns(localhost, book_tasks, *args):
    """Runs a playbook in a fresh network namespace: name lookups fail at once, send nothing."""
    book = localhost.workdir / "play.yml"
    book.write_text("- name: Test play\n  hosts: localhost\n  gather_facts: false\n  tasks:\n" + book_tasks)
    return localhost._run(
        ["unshare", "--net", str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book), *args],
        "minimal",
    )


def test_first_run_changes_second_does_not(localhost, dest):
    first = localhost.playbook(task(dest))
    assert first.rc == 0, first.output
    assert first.last["changed"] is True
    content = dest.read_bytes()
    assert first.last["checksum"] == hashlib.sha1(content).hexdigest()
    assert oct(dest.stat().st_mode & 0o7777) == "0o640"
    assert oct(dest.parent.stat().st_mode & 0o7777) == "0o700"
    assert b"server 10.199.0.13:6443 max_fails=1 fail_timeout=10s;  # cp3" in content

    second = localhost.playbook(task(dest))
    assert second.rc == 0, second.output
    assert second.last["changed"] is False
    assert dest.read_bytes() == content


def test_checksum_matches_builtin_stat(localhost, dest):
    run = localhost.playbook(
        task(dest)
        + f"""\
    - name: Nginx-proxy | Stat config
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
    run = localhost.playbook(task(dest, "        balance: round_robin\n"), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert dest.read_bytes() == before

    fresh = dest.parent.parent / "new" / "nginx.conf"
    run = localhost.playbook(task(fresh), "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert not fresh.parent.exists(), "check mode created a directory"


def test_diff_shows_the_change(localhost, dest):
    assert localhost.playbook(task(dest)).rc == 0
    run = localhost.playbook(task(dest, "        proxy_timeout: 30m\n"), "--diff", callback="default")
    assert run.rc == 0, run.output
    assert "-        proxy_timeout 10m;" in run.output
    assert "+        proxy_timeout 30m;" in run.output


def test_adhoc_string_arguments_are_coerced(localhost, dest):
    run = localhost.adhoc(
        "nginx_proxy_config",
        f"dest={dest} frontend_port=8443 backup=yes stub_status=no bind_addresses=127.0.0.1,::1 "
        "backends='[{\"name\": \"cp1\", \"address\": \"10.199.0.11\"}]'",
    )
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    text = dest.read_text()
    assert "listen 127.0.0.1:8443;" in text and "listen [::1]:8443;" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        ("        colour: red\n", "Unsupported parameters for (nginx_proxy_config module): colour"),
        ("        max_fails: often\n", "option 'max_fails' (in nginx_proxy_config module) expects an integer"),
        ("        bind_addresses: [10.0.0.300]\n", "option 'bind_addresses' must list IP addresses or '*', got '10.0.0.300'"),
        ("        frontend_port: 70000\n", "option 'frontend_port' must be a port (1-65535), got 70000"),
        ("        fail_timeout: soon\n", "option 'fail_timeout' must be a duration like 30s"),
        ("        user: no-such-user-kubeha\n", "rejected by `"),
    ],
    ids=["unknown-option", "wrong-type", "bad-address", "bad-port", "bad-duration", "nginx-rejects"],
)
def test_bad_input_fails_clearly_and_keeps_old_file(localhost, dest, extra, message):
    assert localhost.playbook(task(dest)).rc == 0
    before = dest.read_bytes()
    run = localhost.playbook(task(dest, extra))
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert message in run.last["msg"], run.last["msg"]
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["nginx.conf"]


def test_empty_backend_list_fails(localhost, dest):
    run = localhost.playbook(task(dest, backends="          []\n"))
    assert run.rc != 0
    assert "option 'backends' must list at least one server" in run.last["msg"]
    assert not dest.exists()


def test_nginx_rejection_names_the_problem(localhost, dest):
    assert shutil.which("nginx") or shutil.which("/usr/sbin/nginx"), "nginx must be installed"
    run = localhost.playbook(task(dest, "        user: no-such-user-kubeha\n"))
    msg = run.last["msg"]
    assert 'getpwnam("no-such-user-kubeha") failed' in msg
    assert f"in {dest}:" in msg, "the line is named in dest, not in a scratch file"
    assert "validate_output" in run.last
    assert not dest.exists()


def test_unresolvable_backend_fails_clearly(localhost, dest):
    """nginx resolves upstream names; in an empty network namespace the lookup fails at once."""
    backends = "          - {name: cp1, address: cp1.kubeha.invalid}\n"
    run = in_private_netns(localhost, task(dest, backends=backends))
    assert run.rc != 0, run.output
    msg = run.last["msg"]
    assert 'host not found in upstream "cp1.kubeha.invalid:6443"' in msg
    assert "hint: nginx resolves upstream host names" in msg
    assert not dest.exists()


E2E_SCRIPT = textwrap.dedent("""\
    # Runs as PID 1 of private pid, mount and network namespaces: everything it starts dies with it.
    import http.server, socket, subprocess, sys, threading, time, urllib.error, urllib.request

    conf = sys.argv[1]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    class Apiserver(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"apiserver says hi\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 16443), Apiserver)
    threading.Thread(target=backend.serve_forever, daemon=True).start()

    nginx = subprocess.Popen(["nginx", "-e", "stderr", "-c", conf, "-g", "daemon off;"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 6443), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        # cp-dead refuses connections: nginx moves on to the live apiserver every time.
        for _ in range(6):
            body = urllib.request.urlopen("http://127.0.0.1:6443/version", timeout=5).read()
            assert body == b"apiserver says hi\\n", body
        health = urllib.request.urlopen("http://127.0.0.1:8081/healthz", timeout=5)
        assert health.status == 200 and health.read() == b"ok\\n"
        status = urllib.request.urlopen("http://127.0.0.1:8081/stub_status", timeout=5).read()
        assert b"Active connections" in status, status
        try:
            urllib.request.urlopen("http://127.0.0.1:8081/", timeout=5)
            raise AssertionError("/ should be 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        print("E2E OK")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
""")


def test_real_nginx_serves_the_written_config(localhost, dest, tmp_path):
    """The written config, run by the real nginx: it proxies to a live apiserver past a dead one
    and answers /healthz and /stub_status. All inside private namespaces, on their loopback."""
    extra = f"""\
        bind_addresses: [127.0.0.1]
        healthcheck_bind_addresses: [127.0.0.1]
        pid_file: {tmp_path}/run/nginx.pid
"""
    backends = """\
          - {name: cp-dead, address: 127.0.0.1, port: 16444}
          - {name: cp-live, address: 127.0.0.1, port: 16443}
"""
    (tmp_path / "run").mkdir()
    assert localhost.playbook(task(dest, extra, backends=backends)).rc == 0
    script = tmp_path / "e2e.py"
    script.write_text(E2E_SCRIPT)
    proc = subprocess.run(
        ["unshare", "--net", "--pid", "--mount", "--fork", "--mount-proc", sys.executable, str(script), str(dest)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "E2E OK" in proc.stdout
