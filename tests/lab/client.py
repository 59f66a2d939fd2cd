#!/usr/bin/env python3
"""A bounded client load through the VIP, run in the lab's controller namespace.

Starts one HTTPS request (a fresh TCP + TLS connection each time) every --interval seconds for
--duration seconds, each on its own thread, so a request that hangs never delays the next one:
the schedule, not the server, decides when requests start, as with many independent clients.
Each request gets --timeout seconds in all (connect, handshake, answer). The default, 5 s, is
shorter than what Kubernetes clients wait (client-go dials for up to 30 s and gives a TLS
handshake 10 s), so a request counted as failed here would have failed for them too.

Prints one JSON object:
- requests, failed: how many started, and how many got no 200 answer in time;
- cut: of the failed, those whose connection was accepted and then lost (a load balancer killed
  mid-request takes its open connections with it; no failover can save those), so
  failed - cut is what the VIP not serving cost;
- delayed: answered, but later than --prompt seconds (a SYN sent while the VIP was moving and
  retransmitted after the kernel's 1 s timeout lands here, not in failed);
- max_latency: the slowest answered request;
- outage_seconds: the longest time the VIP did not serve promptly: from the start of the first
  request that failed or was delayed to the start of the next prompt one;
- results: every request's start time, outcome, latency and serving host.
Never runs longer than duration + timeout.
"""

import argparse
import json
import socket
import ssl
import threading
import time


class Cut(Exception):
    """The connection was accepted, then failed before a whole answer came."""


def request(host, port, path, timeout):
    """GET path over a fresh TLS connection within timeout seconds: (status, body), or raises
    (Cut once the connection was accepted)."""
    deadline = time.monotonic() + timeout

    def left():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request timeout")
        return remaining

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=left()) as raw:
        try:
            raw.settimeout(left())
            with context.wrap_socket(raw) as tls:
                tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                data = b""
                while True:
                    tls.settimeout(left())
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            return int(head.split()[1]), body.decode(errors="replace")
        except (OSError, ValueError, IndexError) as e:
            raise Cut(type(e).__name__) from e


def attempt(args, entry):
    """One request; fills entry with its outcome."""
    began = time.monotonic()
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
    except Cut as e:
        entry.update(ok=False, error=f"cut: {e}")
    except OSError as e:
        entry.update(ok=False, error=type(e).__name__)
    entry["latency"] = round(time.monotonic() - began, 3)


def summary(results, prompt):
    """The figures the module docstring describes, from results in start order."""
    answered = [r for r in results if r["ok"]]
    slow = [r for r in answered if r["latency"] > prompt]
    outage, first_bad = 0.0, None
    for r in results:
        good = r["ok"] and r["latency"] <= prompt
        if not good and first_bad is None:
            first_bad = r["t"]
        elif good and first_bad is not None:
            outage = max(outage, r["t"] - first_bad)
            first_bad = None
    if first_bad is not None and results:
        outage = max(outage, results[-1]["t"] - first_bad)
    cut = [r for r in results if r.get("error", "").startswith("cut: ")]
    return {"requests": len(results), "failed": len(results) - len(answered), "cut": len(cut),
            "delayed": len(slow),
            "max_latency": max((r["latency"] for r in answered), default=None),
            "outage_seconds": round(outage, 3),
            "hosts": sorted({r.get("host") for r in answered if r.get("host")})}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/whoami")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--prompt", type=float, default=0.5)
    args = parser.parse_args()

    start = time.monotonic()
    results, threads = [], []
    for n in range(round(args.duration / args.interval)):
        due = start + n * args.interval
        time.sleep(max(0.0, due - time.monotonic()))
        entry = {"t": round(time.monotonic() - start, 3)}
        results.append(entry)
        thread = threading.Thread(target=attempt, args=(args, entry), daemon=True)
        thread.start()
        threads.append(thread)
    backstop = time.monotonic() + args.timeout + 1   # attempt() ends by its own deadline
    for thread in threads:
        thread.join(max(0.0, backstop - time.monotonic()))
    for entry in results:
        if "latency" not in entry:   # still running after the backstop: count it as failed
            entry.update(ok=False, error="unfinished", latency=args.timeout)
    print(json.dumps({**summary(results, args.prompt), "results": results}))


if __name__ == "__main__":
    main()
