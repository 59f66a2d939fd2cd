#!/usr/bin/env python3
"""The node-local load balancer at scale: kubespray's own loadbalancer task files against
kubeha's, on 10, 50 and 100 workers of a lab of 3 control-plane hosts and 100 workers.

Needs root, the lab's rootfs (tests/lab/lab build) and `make deps build`; run it with the repo's
venv (`make bench-scale`). It writes its own inventory (bench/scale_inventory.py), brings that lab
up (recording start-up time and memory), runs the comparison and takes the lab down (unless
--keep). The 6-host lab, if up, goes down first: one lab runs at a time.

Both sides run in kubespray's structure, in copies of the same kubespray tree (the newest
release found: ../shared/kubespray/<tag> beside the repo, or KUBESPRAY_SRC, as the tests find
them): the pristine copy, and a copy with kubeha dropped in (playbooks/kubespray-dropin.yml, the
README's guide: our loadbalancer task files and binaries, on the fast path). The same playbook
runs in each: kubespray's network facts on every host, then its defaults role and its
`kubernetes/node` role with `--tags haproxy` (or `nginx`), which runs exactly the variant's
loadbalancer tasks, as a kubespray user selects them. Same ansible-core (the release's pin), same
forks, kubespray's own ansible.cfg (SSH ControlPersist, pipelining, facts cached in a file).

For each worker count (`--limit` the control plane and the first N workers) and variant, both
sides are converged, what their configs on the first worker say is compared (listeners,
backends, checks, timeouts: tests/kubespray's reading; kubeha renders its own file), then timed
in steady state (a rerun with nothing to change, what every later cluster.yml pays) round by
round, alternating which side goes first. Reported: medians, the median of the per-round ratios,
the marginal cost per added worker (least-squares slope over the worker counts), and, for each
side, an empty play's time over the same hosts (ansible-playbook's start-up plus the network
facts play, which both sides pay).

Usage: .venv/bin/python bench/scale_bench.py [--workers 10,50,100] [--variants haproxy,nginx]
       [--rounds R] [--forks F] [--keep] [--out FILE]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from kubespray_trees import Kubespray, copy_tree, trees, venv_bin  # noqa: E402
from scale_inventory import write_inventory  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "kubespray"))
from test_dropin import haproxy_facts, nginx_facts  # noqa: E402

FACTS = {"haproxy": haproxy_facts, "nginx": nginx_facts}

LAB = REPO / "tests" / "lab" / "lab"
WORK = Path("/var/tmp/kubeha-bench/scale")
LAB_DIR = Path(os.environ.get("LAB_DIR", REPO / ".lab")).resolve()
# What each variant writes on a worker (kubespray's paths, which kubeha keeps).
FILES = {"haproxy": ["/etc/haproxy/haproxy.cfg", "/etc/kubernetes/manifests/haproxy.yml"],
         "nginx": ["/etc/nginx/nginx.conf", "/etc/kubernetes/manifests/nginx-proxy.yml"]}


def sh(argv, *, env=None, check=True, timeout=3600):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, argv))} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def lab(inventory, *args, check=True):
    env = dict(os.environ, LAB_INVENTORY=str(inventory), LAB_DIR=str(LAB_DIR))
    return sh([LAB, *args], env=env, check=check)


def lab_memory_mib():
    """What the lab's hosts hold, as `lab status` reads it: the sum of each host's cgroup's
    resident anonymous memory (no page cache), and the slowest host's boot (until sshd answered)."""
    total, boots = 0, []
    for host in (LAB_DIR / "hosts").iterdir():
        stat = Path("/sys/fs/cgroup/memory/kubeha-lab") / host.name / "memory.stat"
        if stat.exists():
            total += next((int(line.split()[1]) for line in stat.read_text().splitlines()
                           if line.startswith("total_rss ")), 0)
        if (host / "boot.ms").exists():
            boots.append(int((host / "boot.ms").read_text().strip() or 0))
    return round(total / 2**20), max(boots, default=0)


class Side:
    """One copy of the kubespray tree and how a timed run goes there."""

    def __init__(self, name, tree, bin_dir, work, inventory, forks):
        self.name = name
        self.ks = Kubespray(tree, bin_dir, work)
        self.ks.wrap = [str(LAB), "ctl"]
        # kubespray's ansible.cfg caches facts in a file: each side's own, kept across runs, as
        # a user's /tmp cache is between two cluster.yml runs.
        self.ks.extra_env = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30m",
                             "ANSIBLE_CACHE_PLUGIN": "jsonfile",
                             "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(work / "facts"),
                             "ANSIBLE_FORKS": str(forks)}
        self.inventory = inventory
        self.book = self.ks.book("kubeha-scale-lb.yml", "k8s_cluster", "kubernetes/node")
        self.empty = tree / "kubeha-scale-empty.yml"
        plays = _yaml_load(self.book)
        plays[-1] = {"name": "Nothing", "hosts": "k8s_cluster", "gather_facts": False, "tasks": []}
        self.empty.write_text(json.dumps(plays, indent=1))

    def run(self, book, limit, variant):
        ssh = {"ansible_ssh_common_args": f"-o UserKnownHostsFile={LAB_DIR}/ssh/known_hosts"
                                          " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=10"}
        start = time.monotonic()
        rc, out = self.ks.playbook(book, "-i", str(self.inventory), "--limit", limit, "--tags", variant,
                                   "-e", json.dumps(ssh), "-e", f"loadbalancer_apiserver_type={variant}")
        took = time.monotonic() - start
        if rc != 0 or "unreachable=1" in out or "failed=1" in out:
            sys.exit(f"{self.name}: {book.name} failed on {limit}\n{out[-6000:]}")
        return took


def _yaml_load(path):
    import yaml
    return yaml.safe_load(path.read_text())


def slope(points):
    """Least-squares seconds per added worker over (workers, seconds) points."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den, 4) if den else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="10,50,100")
    parser.add_argument("--variants", default="haproxy,nginx")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forks", type=int, default=20, help="the same on both sides (kubeha's ansible.cfg: 20)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "scale.json"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the lab needs root")
    counts = sorted(int(n) for n in args.workers.split(","))
    variants = args.variants.split(",")
    available = [p.values[0] for p in trees()]
    if not available:
        sys.exit("no kubespray tree (../shared/kubespray/<tag> or KUBESPRAY_SRC): nothing to compare against")
    release, pristine, minor = available[-1]
    bin_dir = venv_bin(minor)

    subprocess.run(["rm", "-rf", str(WORK)], check=True)
    WORK.mkdir(parents=True)
    inventory = write_inventory(WORK / "inventory", workers=max(counts))
    results = {"release": release, "ansible": sh([bin_dir / "ansible", "--version"]).stdout.splitlines()[0],
               "forks": args.forks, "rounds": args.rounds,
               "machine": {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(),
                           "kernel": platform.release()}}

    lab(REPO / "inventory" / "lab" / "inventory.ini", "down", check=False)
    free_before = _mem_available_mib()
    start = time.monotonic()
    lab(inventory, "up")
    memory, slowest_boot_ms = lab_memory_mib()
    results["lab"] = {"hosts": max(counts) + 3, "up_s": round(time.monotonic() - start, 1),
                      "slowest_boot_ms": slowest_boot_ms, "hosts_memory_mib": memory,
                      "machine_memory_used_mib": free_before - _mem_available_mib()}
    print(f"lab up: {results['lab']}", flush=True)
    try:
        sides = {}
        trees_dir = WORK / "trees"
        theirs = copy_tree(pristine, trees_dir / "kubespray")
        ours = copy_tree(pristine, trees_dir / "kubeha")
        rc, out = Kubespray(ours, bin_dir, WORK / "dropin").dropin()
        if rc != 0:
            sys.exit(f"dropping kubeha into {release} failed\n{out[-4000:]}")
        for name, tree in (("kubespray", theirs), ("kubeha", ours)):
            sides[name] = Side(name, tree, bin_dir, WORK / f"work-{name}", inventory, args.forks)
        results["variants"] = {v: bench_variant(v, sides, counts, inventory, args) for v in variants}
    finally:
        if not args.keep:
            lab(inventory, "down", check=False)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


def _mem_available_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def bench_variant(variant, sides, counts, inventory, args):
    first_worker = "w001"
    out = {}
    for n in counts:
        limit = f"kube_control_plane:kube_node[0:{n - 1}]"
        clean = " ".join(f"{f}*" for files in FILES.values() for f in files)
        first = {}
        written = {}
        for name in (["kubespray", "kubeha"] if n % 2 else ["kubeha", "kubespray"]):
            # From scratch: no load balancer files on any worker of the run. The manifest
            # directory is there, as kubespray's kubelet tasks leave it.
            lab(inventory, "ctl", "ansible", "-i", inventory, limit, "-f", str(args.forks), "-m", "ansible.builtin.raw",
                "-a", f"rm -f {clean}; mkdir -p /etc/kubernetes/manifests")
            first[name] = round(sides[name].run(sides[name].book, limit, variant), 2)
            written[name] = {f: lab(inventory, "exec", first_worker, "cat", f, check=False).stdout
                             for f in FILES[variant]}
        # kubeha renders its own config, not kubespray's template: what both say (listeners,
        # backends, checks, timeouts) must be the same, as tests/kubespray checks it.
        config = FILES[variant][0]
        equal = all(written[s][config] for s in written) and (
            FACTS[variant](written["kubespray"][config]) == FACTS[variant](written["kubeha"][config]))
        runs = {"kubespray": [], "kubeha": [], "empty": []}
        for r in range(args.rounds):
            order = ["kubespray", "kubeha", "empty"] if r % 2 == 0 else ["empty", "kubeha", "kubespray"]
            for side in order:
                if side == "empty":
                    runs["empty"].append(sides["kubespray"].run(sides["kubespray"].empty, limit, variant))
                else:
                    runs[side].append(sides[side].run(sides[side].book, limit, variant))
        ratio = statistics.median(o / k for o, k in zip(runs["kubeha"], runs["kubespray"]))
        above = statistics.median((o - e) / (k - e) for o, k, e in zip(runs["kubeha"], runs["kubespray"], runs["empty"]))
        out[n] = {"configs_say_the_same": equal, "manifests_written": all(written[s][FILES[variant][1]] for s in written),
                  "first_run_s": first,
                  "kubespray_s": round(statistics.median(runs["kubespray"]), 2),
                  "kubeha_s": round(statistics.median(runs["kubeha"]), 2),
                  "empty_play_s": round(statistics.median(runs["empty"]), 2),
                  "ratio": round(ratio, 3), "ratio_above_empty_play": round(above, 3),
                  "runs": {k: [round(x, 2) for x in v] for k, v in runs.items()}}
        if not equal:
            out[n]["difference"] = {f: [written[s][f][:300] for s in ("kubespray", "kubeha")]
                                    for f in FILES[variant] if written["kubespray"][f] != written["kubeha"][f]}
        print(f"{variant} {n} workers: {out[n]}", flush=True)
    out["per_added_worker_s"] = {side: slope([(n, out[n][f"{side}_s"]) for n in counts])
                                 for side in ("kubespray", "kubeha", "empty_play")}
    return out


if __name__ == "__main__":
    main()
