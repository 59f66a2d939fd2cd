#!/usr/bin/env python3
"""Host-death failover against false failovers under load: keepalived's advert interval, measured.

For each advert interval (kubeha_lb_advert_int, VRRP v3) on the 6-host lab:

1. Host death: cluster.yml deploys the interval; a client in the controller namespace starts a
   TLS request through the VIP every 50 ms (tests/lab/client.py: 20 req/s); 1.5 s in, the VIP
   holder lb1 loses power (`tests/lab/lab crash lb1`: its cable, then every process). Recorded:
   the seconds until the VIP serves promptly again and the requests lost. lb1 then boots again,
   cluster.yml gives it its services back, and it takes the VIP back before the next death.
2. Soak: every CPU of both LB hosts saturated (bench/cpu_burn.py, PER_CPU busy processes per
   CPU on each LB host, bounded: they stop by themselves) while both hosts record every change
   of their addresses (`ip monitor address`, bounded by `timeout`). A false failover is the VIP
   appearing on lb2 while lb1 is alive; a VIP lost by lb1 is counted too. A light client (2
   req/s) shows that the VIP kept serving. The lab's hosts share the machine's CPUs, so the
   control-plane hosts and the controller are starved as well: harsher than a loaded LB host.

The interval that is kubeha_lb_advert_int's default gets the long soak (--soak-default, 10
minutes), the others --soak-seconds each. Writes bench/results/failover.json.

Usage: bench/failover_bench.py [--adverts 1.0,0.5,0.3,0.25,0.15,0.1] [--deaths 3] [--soak-seconds 120]
                               [--soak-default 600] [--per-cpu 2] [--reuse | --keep] [--out FILE]
Needs root and the lab's rootfs (tests/lab/lab build); about 30 minutes with the defaults.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from lab_bench import BENCH, LAB, REPO, lab, machine_notes, playbook, sh, write_results

VIP = "10.199.0.100"
VIP_PORT = 8443
LBS = ("lb1", "lb2")
DEFAULTS = REPO / "roles" / "kubeha_lb" / "defaults" / "main.yml"


def default_advert():
    """kubeha_lb_advert_int as the role's defaults set it."""
    match = re.search(r"^kubeha_lb_advert_int:\s*([0-9.]+)\s*$", DEFAULTS.read_text(), re.M)
    return float(match.group(1))


def holders():
    out = {h: lab("exec", h, "ip", "-o", "-4", "addr", "show", check=False).stdout for h in LBS}
    return [h for h in LBS if f" {VIP}/" in out[h]]


def wait_for_holder(host, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holders() == [host]:
            return True
        time.sleep(0.2)
    return False


def client(duration, interval=0.05):
    """The bounded client loop in `ctl` (it never runs longer than duration + 5 s)."""
    return subprocess.Popen(
        [str(LAB), "ctl", "python3", "tests/lab/client.py", "--host", VIP, "--port", str(VIP_PORT),
         "--duration", str(duration), "--interval", str(interval)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env=dict(os.environ, LAB_INVENTORY=str(REPO / "inventory" / "lab" / "inventory.ini")))


def deploy(advert, *extra):
    if playbook("cluster.yml", "--tags", "apiserver-lb", "-e", f"kubeha_lb_advert_int={advert}", *extra) is None:
        sys.exit(f"cluster.yml with kubeha_lb_advert_int={advert} failed")


def host_death(advert):
    """One power cut of the VIP holder under 20 req/s; lb1 comes back and takes the VIP back."""
    if not wait_for_holder("lb1", 30):
        sys.exit(f"lb1 does not hold the VIP before the power cut: {holders()}")
    load = client(8)
    time.sleep(1.5)
    lab("crash", "lb1")
    out, err = load.communicate(timeout=60)
    if load.returncode != 0:
        sys.exit(f"client failed: {err[-2000:]}")
    result = json.loads(out)
    after = holders()
    lab("up", timeout=600)
    deploy(advert, "--limit", "lb1")
    if not wait_for_holder("lb1", 30):
        sys.exit(f"lb1 did not take the VIP back: {holders()}")
    return {"outage_s": result["outage_seconds"], "lost": result["failed"] - result["cut"],
            "cut": result["cut"], "delayed": result["delayed"], "max_latency_s": result["max_latency"],
            "holder_after": ",".join(after)}


def vip_events(text):
    """[(timestamp, "add" | "del")] for each VIP change in `ip -ts -o monitor address` output."""
    events = []
    for line in text.splitlines():
        if f" {VIP}/" not in line:
            continue
        stamp = re.match(r"\[([^\]]+)\]", line)
        kind = "del" if "Deleted" in line else "add"
        events.append((stamp.group(1) if stamp else "", kind))
    return events


def soak(seconds, per_cpu):
    """Both LB hosts' CPUs saturated for `seconds`; their VIP changes meanwhile."""
    if not wait_for_holder("lb1", 30):
        sys.exit(f"lb1 does not hold the VIP before the soak: {holders()}")
    monitors = {h: subprocess.Popen(
        [str(LAB), "exec", h, "timeout", str(seconds + 10), "ip", "-ts", "-o", "monitor", "address", "dev", "eth0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for h in LBS}
    time.sleep(1)
    burn = (BENCH / "cpu_burn.py").read_text()
    burners = {h: subprocess.Popen([str(LAB), "exec", h, "python3", "-", str(seconds), str(per_cpu)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for h in LBS}
    for proc in burners.values():
        proc.stdin.write(burn)
        proc.stdin.close()
    load = client(seconds - 5, interval=0.5)
    out, _ = load.communicate(timeout=seconds + 120)
    served = json.loads(out) if load.returncode == 0 else {}
    loadavg = {h: proc.stdout.read().strip() for h, proc in burners.items() if proc.wait(timeout=seconds + 120) == 0}
    events = {h: vip_events(proc.communicate(timeout=seconds + 60)[0]) for h, proc in monitors.items()}
    return {
        "seconds": seconds,
        "busy_processes_per_lb_host": per_cpu * os.cpu_count(),
        "false_failovers": sum(kind == "add" for _, kind in events["lb2"]),
        "vip_lost_by_lb1": sum(kind == "del" for _, kind in events["lb1"]),
        "events": events,
        "loadavg_at_end": loadavg,
        "requests": served.get("requests"),
        "failed": served.get("failed"),
        "holder_after": ",".join(holders()),
    }


def measure(args):
    """The curve: for each advert interval, host deaths then a soak; the default deployed last."""
    if not args.reuse and playbook("cluster.yml") is None:
        sys.exit("cluster.yml failed")
    default = default_advert()
    results = {"machine": machine_notes(), "default_advert_int": default, "curve": []}
    for advert in (float(a) for a in args.adverts.split(",")):
        start = time.monotonic()
        deploy(advert)
        deaths = [host_death(advert) for _ in range(args.deaths)]
        outages = [d["outage_s"] for d in deaths]
        point = {
            "advert_int": advert,
            "host_death_s": {"median": round(statistics.median(outages), 2), "min": min(outages), "max": max(outages)},
            "lost_max": max(d["lost"] for d in deaths),
            "deaths": deaths,
            "soak": soak(args.soak_default if advert == default else args.soak_seconds, args.per_cpu),
        }
        results["curve"].append(point)
        summary = {k: point[k] for k in ("advert_int", "host_death_s", "lost_max")}
        summary["false_failovers"] = point["soak"]["false_failovers"]
        print(f"{json.dumps(summary)} ({time.monotonic() - start:.0f} s)", flush=True)
    deploy(default)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adverts", default="1.0,0.5,0.3,0.25,0.15,0.1")
    parser.add_argument("--deaths", type=int, default=3)
    parser.add_argument("--soak-seconds", type=int, default=120)
    parser.add_argument("--soak-default", type=int, default=600)
    parser.add_argument("--per-cpu", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    parser.add_argument("--reuse", action="store_true", help="use the lab that is up, and library/ as it is")
    parser.add_argument("--out", default=str(BENCH / "results" / "failover.json"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the lab needs root")
    if args.reuse:
        if lab("status", check=False).returncode != 0:
            sys.exit("--reuse: the lab is not up (tests/lab/lab status)")
    else:
        sh(["make", "-C", REPO, "build"])
        lab("up", timeout=1800)
    try:
        results = measure(args)
    finally:
        if not (args.keep or args.reuse):
            lab("down")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
