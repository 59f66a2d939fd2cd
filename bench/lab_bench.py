#!/usr/bin/env python3
"""kubeha's speed on the lab, side by side with what a kubespray user runs today.

Needs root and the lab's rootfs (tests/lab/lab build); brings the lab up itself and takes it down
at the end (unless --keep). Ansible runs in the lab's controller namespace, over SSH with
ControlPersist and pipelining, as kubespray configures it. Every comparison alternates its sides
round by round (so both see the same machine load) and reports medians and the median ratio.

1. Per task: N tasks on 3 hosts, each of our modules against the builtin tasks a kubespray user
   runs for the same outcome (a config: file + template with validate + stat; a package: apt; a
   static pod: template), in steady state (nothing to change: what every rerun costs) and from
   scratch. Ours on the fast path and on Ansible's standard path.
2. The whole node load balancer role: ours (roles/kubernetes/node, haproxy variant) against
   bench/reference/node-lb.yml (the same role written the kubespray way with builtin modules:
   kubespray's structure, each variant's file imported under its condition) and against
   bench/reference/haproxy-steps.yml (the haproxy variant's five steps alone). What each writes is
   compared byte for byte, for the haproxy and the nginx variant. An empty play on the same hosts
   runs in the same rounds, so the ratio is also given above ansible-playbook's own start-up,
   which both sides pay, and a play of as many `debug` tasks as our role has task rounds shows
   Ansible's own floor for it.
3. Module execution alone on a host: haproxy_config (steady state) against a no-op static binary.
4. Bytes on the wire per host per run (the controller's interface counters).
5. cluster.yml wall time on 3 hosts against 9 hosts.
6. Steady-state cluster.yml on the 6-host lab (a rerun with nothing to change), and the same
   rerun without the router id check.
7. The etcd certificate step on the three etcd members, ours against kubespray's own
   gen_certs_script.yml path (v2.24.1 and v2.31.0 trees), first run and rerun
   (bench/cert_step.py says how).

Usage: bench/lab_bench.py [--tasks N] [--rounds R] [--only NAME,...] [--keep | --reuse] [--out FILE]

--reuse runs on a lab that is already up (one shared with someone else, say): it neither brings
the lab up nor takes it down, and leaves library/ as it is (no `make build`: another run may be
using it); the parts that take the lab down (scaling) are refused.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cert_step

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "tests" / "lab" / "lab"
BENCH = REPO / "bench"
INVENTORY = REPO / "inventory" / "lab" / "inventory.ini"
HOSTS3 = "cp1:cp2:cp3"
WORK = "/var/tmp/kubeha-bench"


def sh(argv, *, env=None, check=True, timeout=1800, **kwargs):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=timeout,
                          **kwargs)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, argv))} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def lab(*args, inventory=INVENTORY, **kwargs):
    env = dict(os.environ, LAB_INVENTORY=str(inventory), ANSIBLE_NOCOLOR="1")
    return sh([LAB, *args], env=env, **kwargs)


def playbook(path, *extra, inventory=INVENTORY, fastpath=True, env=None, check=True):
    """Wall seconds of one ansible-playbook run in `ctl` (fails the benchmark if the play fails;
    with check=False, None when it fails); `env`: more environment variables for it."""
    env_args = ["env", f"KUBEHA_FASTPATH={1 if fastpath else 0}", *(f"{k}={v}" for k, v in (env or {}).items())]
    start = time.monotonic()
    proc = lab("ctl", *env_args, "ansible-playbook", "-i", Path(inventory).relative_to(REPO), path, *extra,
               inventory=inventory, check=check)
    if proc.returncode != 0:
        print(f"{path} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-1000:]}", flush=True)
        return None
    return time.monotonic() - start


def ctl_bytes():
    """Bytes sent + received by the controller namespace's interface."""
    out = sh(["ip", "-n", "ctl", "-j", "-s", "link", "show", "eth0"]).stdout
    stats = json.loads(out)[0]["stats64"]
    return stats["rx"]["bytes"] + stats["tx"]["bytes"]


def write_playbook(directory, name, hosts, tasks):
    path = Path(directory) / f"{name}.yml"
    body = [{"name": name, "hosts": hosts, "gather_facts": False, "tasks": tasks}]
    path.write_text(json.dumps(body, indent=1))   # JSON is YAML
    return path.relative_to(REPO)


# --- 1. per task ---------------------------------------------------------------------------------

HAPROXY_TEMPLATE = """\
global
    maxconn 4000

defaults
    mode tcp
    timeout connect 30s
    timeout client 5m
    timeout server 15m

frontend kube_api_frontend
    bind 127.0.0.1:{{ port }}
    default_backend kube_api_backend

backend kube_api_backend
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
{% for h in groups['kube_control_plane'] %}
    server {{ h }} {{ hostvars[h].ip }}:6443 check check-ssl verify none
{% endfor %}
"""


def per_task_pairs(n, tmp):
    """{name: (our tasks, builtin tasks)}: n outcomes each."""
    template = Path(tmp) / "haproxy.cfg.j2"
    template.write_text(HAPROXY_TEMPLATE)
    pairs = {}
    ours, builtin = [], []
    for i in range(n):
        dest = f"{WORK}/haproxy/{i}/haproxy.cfg"
        ours.append({"name": f"Haproxy | Write configuration {i}", "haproxy_config": {
            "dest": dest, "frontend_port": 6443 + i,
            "backends": [{"name": f"cp{k}", "address": f"10.199.0.1{k}"} for k in (1, 2, 3)]}})
        builtin += [
            {"name": f"Haproxy | Create directory {i}", "ansible.builtin.file": {
                "path": f"{WORK}/haproxy-builtin/{i}", "state": "directory", "mode": "0755"}},
            {"name": f"Haproxy | Write configuration {i}", "ansible.builtin.template": {
                "src": str(template), "dest": f"{WORK}/haproxy-builtin/{i}/haproxy.cfg", "mode": "0640",
                "validate": "haproxy -c -f %s"}, "vars": {"port": 6443 + i}},
            {"name": f"Haproxy | Stat configuration {i}", "ansible.builtin.stat": {
                "path": f"{WORK}/haproxy-builtin/{i}/haproxy.cfg", "checksum_algorithm": "sha1"},
             "register": f"haproxy_stat_{i}"},
        ]
    pairs["config file (haproxy)"] = (ours, builtin)
    pairs["package (present)"] = (
        [{"name": f"Packages | haproxy {i}", "packages": {"name": "haproxy", "state": "present"}}
         for i in range(n)],
        [{"name": f"Packages | haproxy {i}", "ansible.builtin.apt": {"name": "haproxy", "state": "present"}}
         for i in range(n)])
    return pairs


def bench_per_task(args, tmp, results):
    pairs = per_task_pairs(args.tasks, tmp)
    lab("ctl", "ansible", "-i", INVENTORY.relative_to(REPO), HOSTS3, "-m", "ansible.builtin.shell",
        "-a", f"rm -rf {WORK} && mkdir -p {WORK}")
    rows = []
    for name, (ours, builtin) in pairs.items():
        books = {"ours": write_playbook(tmp, f"ours-{len(rows)}", HOSTS3, ours),
                 "builtin": write_playbook(tmp, f"builtin-{len(rows)}", HOSTS3, builtin)}
        scratch = {side: [] for side in ("ours", "ours-standard", "builtin")}
        steady = {side: [] for side in scratch}
        for r in range(args.rounds):
            order = ["ours", "ours-standard", "builtin"]
            if r % 2:
                order.reverse()
            for side in order:
                book = books["builtin" if side == "builtin" else "ours"]
                fast = side == "ours"
                lab("ctl", "ansible", "-i", INVENTORY.relative_to(REPO), HOSTS3, "-m", "ansible.builtin.shell",
                    "-a", f"rm -rf {WORK}/haproxy {WORK}/haproxy-builtin")
                scratch[side].append(playbook(book, fastpath=fast))
                steady[side].append(playbook(book, fastpath=fast))
        for label, runs in (("steady state", steady), ("from scratch", scratch)):
            ours_s, std_s, builtin_s = (statistics.median(runs[s]) for s in ("ours", "ours-standard", "builtin"))
            ratios = [o / b for o, b in zip(runs["ours"], runs["builtin"])]
            rows.append({"outcome": name, "run": label, "ours_fastpath_s": round(ours_s, 2),
                         "ours_standard_s": round(std_s, 2), "builtin_pipelined_s": round(builtin_s, 2),
                         "ratio_fastpath_vs_builtin": round(statistics.median(ratios), 3)})
    results["per_task"] = {"tasks": args.tasks, "hosts": 3, "rounds": args.rounds, "rows": rows}


# --- 2. the whole node load balancer role ------------------------------------------------------

# Task rounds of our role on the haproxy variant: the argument spec validation Ansible inserts,
# the include, and haproxy.yml's two tasks.
ROLE_TASK_ROUNDS = 4


def bench_role(args, tmp, results):
    ours = Path(tmp).relative_to(REPO) / "role-ours.yml"
    (REPO / ours).write_text(json.dumps([{"name": "Node load balancer, kubeha", "hosts": "k8s_cluster",
                                      "gather_facts": False, "vars": {"k8s_lb_vip": ""},
                                      "roles": [{"role": "kubernetes/node"}]}], indent=1))
    # kubespray's node role structure: both variants' files imported under their conditions.
    reference = BENCH / "reference" / "node-lb.yml"
    # The five haproxy steps alone on the hosts that need them: no other variant to skip.
    steps = BENCH / "reference" / "haproxy-steps.yml"
    empty = Path(tmp).relative_to(REPO) / "role-empty.yml"
    (REPO / empty).write_text(json.dumps([{"name": "Nothing, the same hosts", "hosts": "k8s_cluster",
                                           "gather_facts": False, "tasks": []}], indent=1))
    # Ansible's own floor for our role: as many task rounds as it has (argument spec validation,
    # the include, two tasks), each a `debug` that does no work on any host.
    floor = Path(tmp).relative_to(REPO) / "role-floor.yml"
    (REPO / floor).write_text(json.dumps([{"name": "Four task rounds that do nothing", "hosts": "k8s_cluster",
                                           "gather_facts": False,
                                           "tasks": [{"name": f"Round {i}", "ansible.builtin.debug": {"msg": i}}
                                                     for i in range(1, ROLE_TASK_ROUNDS + 1)]}], indent=1))
    files = {"haproxy": ["/etc/haproxy/haproxy.cfg", "/etc/kubernetes/manifests/haproxy.yml"],
             "nginx": ["/etc/nginx/nginx.conf", "/etc/kubernetes/manifests/nginx-proxy.yml"]}
    reset = ("rm -rf /etc/haproxy/haproxy.cfg* /etc/kubernetes/manifests/haproxy.yml* /etc/nginx/nginx.conf* "
             "/etc/kubernetes/manifests/nginx-proxy.yml*")

    def variant(name):
        return ["-e", f"loadbalancer_apiserver_type={name}"]

    def clean():
        lab("ctl", "ansible", "-i", INVENTORY.relative_to(REPO), "k8s_cluster", "-m", "ansible.builtin.shell",
            "-a", reset)

    def written(book, name):
        """The files one side writes for variant `name` on node1, from a clean start."""
        clean()
        playbook(book, *variant(name))
        return {f: lab("exec", "node1", "cat", f, check=False).stdout for f in files[name]}

    # Both variants, so the reference is known to do what our role does; haproxy last, so the
    # timed rounds below start from its files (steady state: nothing left to change).
    equal = {}
    for name, books in (("nginx", [ours, reference.relative_to(REPO)]),
                        ("haproxy", [ours, reference.relative_to(REPO), steps.relative_to(REPO)])):
        outputs = [written(book, name) for book in books]
        equal[name] = all(out == outputs[0] for out in outputs) and all(outputs[0].values())
        if not equal[name]:
            results.setdefault("role", {})[f"difference_{name}"] = {
                f: [out[f][:200] for out in outputs] for f in files[name]
                if any(out[f] != outputs[0][f] for out in outputs)}
    runs = {"ours": [], "ours-standard": [], "reference": [], "steps": [], "empty": [], "floor": []}
    books = {"ours": ours, "ours-standard": ours, "reference": reference.relative_to(REPO),
             "steps": steps.relative_to(REPO), "empty": empty, "floor": floor}
    bytes_per_run = {}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for side in order:
            book = books[side]
            before = ctl_bytes()
            runs[side].append(playbook(book, *variant("haproxy"), fastpath=side == "ours"))
            bytes_per_run.setdefault(side, ctl_bytes() - before)
    hosts = 4   # k8s_cluster: cp1..cp3 and node1

    def ratio(ours_runs, theirs_runs):
        return round(statistics.median(o / b for o, b in zip(ours_runs, theirs_runs)), 3)

    def above_startup(ours_runs, theirs_runs):
        return round(statistics.median((o - e) / (b - e) for o, b, e in zip(ours_runs, theirs_runs,
                                                                             runs["empty"])), 3)

    results.setdefault("role", {}).update({
        "files_equal": all(equal.values()),
        "files_equal_by_variant": equal,
        "ours_fastpath_s": round(statistics.median(runs["ours"]), 2),
        "ours_standard_s": round(statistics.median(runs["ours-standard"]), 2),
        "reference_s": round(statistics.median(runs["reference"]), 2),
        "reference_haproxy_steps_only_s": round(statistics.median(runs["steps"]), 2),
        "empty_play_s": round(statistics.median(runs["empty"]), 2),
        f"floor_{ROLE_TASK_ROUNDS}_debug_tasks_s": round(statistics.median(runs["floor"]), 2),
        "ratio": ratio(runs["ours"], runs["reference"]),
        "ratio_vs_haproxy_steps_only": ratio(runs["ours"], runs["steps"]),
        # Both sides less the empty play of the same round: what the roles themselves cost.
        "ratio_above_startup": above_startup(runs["ours"], runs["reference"]),
        "ratio_above_startup_vs_haproxy_steps_only": above_startup(runs["ours"], runs["steps"]),
        "bytes_per_host_per_run": {k: v // hosts for k, v in bytes_per_run.items()},
        "rounds": args.rounds,
    })


# --- 3. module execution alone -----------------------------------------------------------------

NOOP_RS = "fn main() {}\n"


def bench_exec(args, tmp, results):
    noop_src = Path(tmp) / "noop.rs"
    noop_src.write_text(NOOP_RS)
    noop = Path(tmp) / "noop"
    sh(["rustc", "-O", "-C", "target-feature=+crt-static", "-C", "panic=abort", "-C", "strip=symbols",
        "--target", "x86_64-unknown-linux-gnu", "-o", noop, noop_src])
    module = REPO / "library" / "haproxy_config"
    args_json = json.dumps({"dest": f"{WORK}/exec/haproxy.cfg",
                            "backends": [{"name": "cp1", "address": "10.199.0.11"}]})
    for name, binary in (("noop", noop), ("haproxy_config", module)):
        subprocess.run([str(LAB), "exec", "cp1", "sh", "-c",
                        f"mkdir -p {WORK}/exec && cat > {WORK}/exec/{name} && chmod 0755 {WORK}/exec/{name}"],
                       input=binary.read_bytes(), check=True, capture_output=True, timeout=60)
    lab("exec", "cp1", "sh", "-c", f"cat > {WORK}/exec/args.json", input=args_json)
    lab("exec", "cp1", f"{WORK}/exec/haproxy_config", f"{WORK}/exec/args.json")   # write once: steady state
    loop = textwrap.dedent(f"""\
        n={args.exec_runs}
        t0=$(date +%s%N); i=0; while [ $i -lt $n ]; do {WORK}/exec/noop; i=$((i+1)); done; t1=$(date +%s%N)
        i=0; while [ $i -lt $n ]; do {WORK}/exec/haproxy_config {WORK}/exec/args.json >/dev/null; i=$((i+1)); done
        t2=$(date +%s%N)
        echo $(( (t1-t0)/n )) $(( (t2-t1)/n ))""")
    samples = []
    for _ in range(args.rounds):
        noop_ns, module_ns = map(int, lab("exec", "cp1", "sh", "-c", loop).stdout.split())
        samples.append((noop_ns, module_ns))
    results["exec"] = {
        "runs": args.exec_runs,
        "noop_us": round(statistics.median(s[0] for s in samples) / 1000, 1),
        "haproxy_config_us": round(statistics.median(s[1] for s in samples) / 1000, 1),
        "ratio": round(statistics.median(s[1] / s[0] for s in samples), 2),
    }
    results["sizes"] = {p.name: p.stat().st_size for p in sorted((REPO / "library").iterdir())
                        if p.is_file() and not p.suffix}


# --- 6. steady-state cluster.yml on the 6-host lab ---------------------------------------------

def bench_steady(args, tmp, results):
    """cluster.yml rerun with nothing to change, on the lab's six hosts; in the same rounds, the
    same rerun without the router id check (kubeha_lb_vrid_scan=false), which shows what the
    check costs once the probe's record answers it."""
    playbook("cluster.yml")                                   # converge
    time.sleep(4)                                             # the probes' record covers 3 s
    sides = {"cluster.yml": [], "without the router id check": []}
    for _ in range(args.rounds):
        sides["cluster.yml"].append(playbook("cluster.yml"))
        sides["without the router id check"].append(playbook("cluster.yml", "-e", "kubeha_lb_vrid_scan=false"))
    results["steady"] = {side: round(statistics.median(runs), 2) for side, runs in sides.items()}
    results["steady"]["runs"] = {side: [round(r, 2) for r in runs] for side, runs in sides.items()}


# --- 7. the etcd certificate step against kubespray's ------------------------------------------

def bench_certs(args, tmp, results):
    cert_step.bench_certs(args, tmp, results, lab=lab, playbook=playbook, work=WORK, inventory=INVENTORY)


# --- 5. 3 hosts against 9 -----------------------------------------------------------------------

def bench_scaling(args, tmp, results):
    times = {}
    for label, inventory in (("3 hosts", BENCH / "inventory3" / "inventory.ini"),
                             ("9 hosts", BENCH / "inventory9" / "inventory.ini")):
        lab("down")
        lab("up", inventory=inventory, timeout=1800)
        playbook("cluster.yml", inventory=inventory)           # converge
        runs = [playbook("cluster.yml", inventory=inventory) for _ in range(args.rounds)]
        times[label] = round(statistics.median(runs), 2)
        lab("down", inventory=inventory)
    results["scaling"] = {"cluster_yml_steady_s": times, "ratio": round(times["9 hosts"] / times["3 hosts"], 3)}


def write_results(path, results):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path}")


def machine_notes():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    ansible = sh([REPO / ".venv" / "bin" / "ansible", "--version"]).stdout.splitlines()[0]
    return {"date": datetime.date.today().isoformat(), "cpu": cpu, "cores": os.cpu_count(),
            "kernel": platform.release(), "ansible": ansible}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--exec-runs", type=int, default=200)
    parser.add_argument("--only", default="per_task,role,exec,steady,certs,scaling")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    parser.add_argument("--reuse", action="store_true",
                        help="use the lab that is up as it is, and library/ as it is; leave both")
    parser.add_argument("--out", default=str(BENCH / "results" / "lab.json"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the lab needs root")
    only = args.only.split(",")
    if args.reuse:
        if "scaling" in only:
            sys.exit("--reuse: the scaling part takes the lab down and brings up others; leave it out (--only)")
        if lab("status", check=False).returncode != 0:
            sys.exit("--reuse: the lab is not up (tests/lab/lab status)")
    else:
        sh(["make", "-C", REPO, "build"])
    results = {"machine": machine_notes()}
    if not args.reuse:
        lab("up", timeout=1800)
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp:
        for name, fn in (("per_task", bench_per_task), ("role", bench_role), ("exec", bench_exec),
                         ("steady", bench_steady), ("certs", bench_certs), ("scaling", bench_scaling)):
            if name in only:
                start = time.monotonic()
                fn(args, tmp, results)
                print(f"{name}: {json.dumps(results.get(name))} ({time.monotonic() - start:.0f} s)", flush=True)
    if not (args.keep or args.reuse):
        lab("down")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
