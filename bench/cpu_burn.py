#!/usr/bin/env python3
"""The lab's CPU load generator: saturates every CPU of the host it runs on, for a bounded time.

Usage (on a lab host, the script on stdin): python3 - SECONDS PER_CPU

Forks PER_CPU busy processes per CPU the host sees; each spins until the deadline and exits by
itself, so the load stops after SECONDS even if nobody waits for it (and with the host's PID
namespace if the host goes down first). Prints the host's load average at the end.
"""

import os
import sys
import time


def main():
    seconds, per_cpu = float(sys.argv[1]), int(sys.argv[2])
    if not 0 < seconds <= 3600 or not 1 <= per_cpu <= 16:
        sys.exit("usage: cpu_burn.py SECONDS (0-3600] PER_CPU [1-16]")
    deadline = time.monotonic() + seconds
    children = []
    for _ in range(per_cpu * os.cpu_count()):
        pid = os.fork()
        if pid == 0:
            while time.monotonic() < deadline:
                pass
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    with open("/proc/loadavg") as f:
        print(f.read().split()[0])


if __name__ == "__main__":
    main()
