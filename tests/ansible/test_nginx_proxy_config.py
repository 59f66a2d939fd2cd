"""nginx_proxy_config through real ansible-core 2.19 on localhost, beyond what every file module
promises (test_file_contract.py): a backend name nginx cannot resolve, and the written config
run by the real nginx, inside private namespaces, and talked to.
"""

import subprocess
import sys
import textwrap

from file_modules import NGINX, on_host, task
from kubeha_test import VENV_BIN


def in_private_netns(localhost, book_tasks, *args):
    """Runs a playbook in a fresh network namespace: name lookups fail at once, send nothing."""
    book = localhost.workdir / "play.yml"
    book.write_text("- name: Test play\n  hosts: localhost\n  gather_facts: false\n  tasks:\n" + book_tasks)
    return localhost._run(
        ["unshare", "--net", str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book), *args],
        "minimal",
    )


def test_unresolvable_backend_fails_clearly(tmp_path):
    """nginx resolves upstream names; in an empty network namespace the lookup fails at once."""
    _, localhost, dest = on_host(NGINX.name, tmp_path)
    backends = [{"name": "cp1", "address": "cp1.kubeha.invalid"}]
    run = in_private_netns(localhost, task(NGINX, dest, {"backends": backends}))
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


def test_real_nginx_serves_the_written_config(tmp_path):
    """The written config, run by the real nginx: it proxies to a live apiserver past a dead one
    and answers /healthz and /stub_status. All inside private namespaces, on their loopback."""
    _, localhost, dest = on_host(NGINX.name, tmp_path)
    extra = {
        "bind_addresses": ["127.0.0.1"],
        "healthcheck_bind_addresses": ["127.0.0.1"],
        "pid_file": f"{tmp_path}/run/nginx.pid",
        "backends": [
            {"name": "cp-dead", "address": "127.0.0.1", "port": 16444},
            {"name": "cp-live", "address": "127.0.0.1", "port": 16443},
        ],
    }
    (tmp_path / "run").mkdir()
    assert localhost.playbook(task(NGINX, dest, extra)).rc == 0
    script = tmp_path / "e2e.py"
    script.write_text(E2E_SCRIPT)
    proc = subprocess.run(
        ["unshare", "--net", "--pid", "--mount", "--fork", "--mount-proc", sys.executable, str(script), str(dest)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "E2E OK" in proc.stdout
