#!/usr/bin/env python3
"""A kube-apiserver STAND-IN for kubeha's lab. It is not kube-apiserver.

The lab has no Kubernetes. What the load-balancer and VIP tests need from an API server is
what a load balancer sees of one: a TLS port whose health endpoint can be made to fail. This
server gives exactly that, with the Python standard library only (lab hosts have python3):

- ``GET /healthz`` (and ``/livez``, ``/readyz``) answers 200 ``ok``, or 500 while the flag
  file exists (``tests/lab/lab apiserver HOST fail`` creates it, ``... ok`` removes it);
- any other path answers 200 with a small JSON body naming the host that served it, so a
  test can see which backend a load balancer picked.

It serves TLS with a certificate given on the command line (the lab makes a self-signed one
with openssl). Each connection is handled in its own thread, including the TLS handshake, so
plain TCP probes, aborted handshakes and slow clients never block the others.
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
RUN_DIR = "/run/apiserver-standin"


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, context, host_name, fail_flag, io_timeout):
        self.ssl_context = context
        self.host_name = host_name
        self.fail_flag = fail_flag
        self.io_timeout = io_timeout
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread: the handshake cannot stall accept().
        request.settimeout(self.io_timeout)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # TCP-only health probes and aborted handshakes are normal here
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except OSError:
            pass  # client went away mid-request
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        log(f"error serving {client_address[0]}: {sys.exc_info()[1]!r}")


class Handler(BaseHTTPRequestHandler):
    server_version = "kubeha-lab-apiserver-standin"
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return self.server_version

    def _reply(self, code, body, content_type):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _serve(self):
        path = self.path.split("?", 1)[0]
        if path in HEALTH_PATHS:
            if os.path.exists(self.server.fail_flag):
                self._reply(500, f"{path} check failed: {self.server.fail_flag} exists\n", "text/plain")
            else:
                self._reply(200, "ok", "text/plain")
            return
        body = {
            "kind": "ApiserverStandIn",
            "host": self.server.host_name,
            "method": self.command,
            "path": path,
        }
        self._reply(200, json.dumps(body) + "\n", "application/json")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format, *args):
        # Health checks arrive every second from every load balancer: log only the rest.
        if self.path.split("?", 1)[0] not in HEALTH_PATHS:
            log(f"{self.client_address[0]} {format % args}")


def log(message):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def running_pid(pidfile):
    """The PID in pidfile if that process is a running stand-in, else None."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"apiserver_standin" in f.read():
                return pid
    except (OSError, ValueError):
        pass
    return None


def daemonize(pidfile, logfile):
    """Detach (double fork); the caller returns only once the daemon wrote its PID file."""
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:
        os.close(ready_w)
        ok = os.read(ready_r, 1) == b"1"
        os._exit(0 if ok else 1)
    os.close(ready_r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    log_fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.write(ready_w, b"1")
    os.close(ready_w)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--cert", required=True, help="PEM certificate (chain)")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--name", default=socket.gethostname(), help="host name put in bodies")
    parser.add_argument("--fail-flag", default=f"{RUN_DIR}/fail",
                        help="while this file exists, health endpoints answer 500")
    parser.add_argument("--daemon", action="store_true", help="detach; no-op if one already runs")
    parser.add_argument("--pidfile", default=f"{RUN_DIR}/pid")
    parser.add_argument("--log", default="/var/log/apiserver-standin.log")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-connection I/O timeout")
    args = parser.parse_args(argv)
    # The daemon changes to /: keep every path it reads or writes later absolute.
    for attr in ("cert", "key", "fail_flag", "pidfile", "log"):
        setattr(args, attr, os.path.abspath(getattr(args, attr)))

    if args.daemon:
        pid = running_pid(args.pidfile)
        if pid:
            print(f"apiserver stand-in already running (pid {pid})")
            return 0

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    # Bind before detaching: when the command returns, the port already accepts connections.
    server = StandInServer((args.address, args.port), context, args.name, args.fail_flag, args.timeout)

    if args.daemon:
        for path in (args.pidfile, args.log):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        daemonize(args.pidfile, args.log)

    def stop(signum, frame):
        if args.daemon and running_pid(args.pidfile) == os.getpid():
            os.unlink(args.pidfile)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"apiserver stand-in for {args.name} serving https://{args.address}:{args.port}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
