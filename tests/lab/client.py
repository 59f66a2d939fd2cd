#!/usr/bin/env python3
"""A bounded client loop through the VIP, run in the lab's controller namespace.

Sends one HTTPS request (a fresh TCP + TLS connection each time) every --interval seconds for
--duration seconds and prints one JSON object: every request's start time, outcome and serving
host, the failed count and the longest outage (from the first failure to the next success).
Stops by itself; never runs longer than duration + one request timeout.
"""

import argparse
import json
import socket
import ssl
import time


def request(host, port, path, timeout):
    """GET path over a fresh TLS connection: the status code and the body, or raises."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw) as tls:
            tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/whoami")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=0.5)
    args = parser.parse_args()

    start = time.monotonic()
    results = []
    while (now := time.monotonic()) - start < args.duration:
        entry = {"t": round(now - start, 3)}
        try:
            status, body = request(args.host, args.port, args.path, args.timeout)
            entry["ok"] = status == 200
            if entry["ok"]:
                try:
                    entry["host"] = json.loads(body).get("host")
                except ValueError:
                    entry["host"] = None
            else:
                entry["error"] = f"HTTP {status}"
        except (OSError, ValueError, IndexError) as e:
            entry["ok"] = False
            entry["error"] = type(e).__name__
        results.append(entry)
        time.sleep(max(0.0, args.interval - (time.monotonic() - now)))

    failed = [r for r in results if not r["ok"]]
    outage, first_failure = 0.0, None
    for r in results:
        if not r["ok"] and first_failure is None:
            first_failure = r["t"]
        elif r["ok"] and first_failure is not None:
            outage = max(outage, r["t"] - first_failure)
            first_failure = None
    if first_failure is not None:
        outage = max(outage, results[-1]["t"] - first_failure)
    print(json.dumps({"requests": len(results), "failed": len(failed), "outage_seconds": round(outage, 3),
                      "hosts": sorted({r.get("host") for r in results if r["ok"] and r.get("host")}),
                      "results": results}))


if __name__ == "__main__":
    main()
