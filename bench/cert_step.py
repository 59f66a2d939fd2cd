"""The etcd certificate step on the lab, ours against kubespray's (issue 18): `bench/lab_bench.py
--only certs` (add --reuse on a lab that is already up).

On the lab's three etcd members (cp1-cp3, also its control-plane hosts), every compared side with
the same Ansible and the same SSH settings (the lab's: ControlPersist, pipelining, its known hosts):

- ours: roles/etcd/tasks/gen_certs_script.yml, the certificate step of our etcd role (cluster.yml's
  etcd play imports it) and the file our kubespray drop-in puts in place of kubespray's. Each
  member makes its own keys and CSRs, the first etcd host signs, only certificates travel. A play
  with nothing else in it, two ways:
  - `ours`: as cluster.yml runs it, with the etcd role's variables (ECDSA P-256, one-year
    certificates, a ten-year CA, each member's certificate naming that member; files named by
    etcd_member_name);
  - `ours, kubespray's variables`: as it runs dropped into kubespray, with kubespray-defaults'
    variables only: kubespray's file names and shared SAN list, RSA-2048 keys, 100-year
    certificates, node-<other>.pem linked to the host's own on the control-plane hosts (as
    kubespray v2.28 on does). The same certificates kubespray makes, so the same key generation.
- kubespray's: for each release tree (v2.24.1, v2.31.0; ../shared/kubespray/<tag> beside the
  repo, else KUBESPRAY_SRC, as tests/kubespray_trees.py finds them; a missing tree is skipped,
  loudly), a copy of the tree with one role added: the first two tasks of that release's
  roles/etcd/tasks/main.yml, verbatim (include check_certs.yml, include gen_certs_script.yml,
  under their conditions), with the etcd role's task files, templates (make-ssl-etcd.sh.j2,
  openssl.conf.j2), handlers, defaults and vars linked in. It runs in kubespray's etcd play as
  its install_etcd.yml has it (hosts etcd:kube_control_plane, any_errors_fatal,
  proxy_disable_env), after kubespray's own defaults role, with the tree's ansible.cfg less its
  timing callbacks (ours has none) and with facts kept in memory (kubespray caches them in /tmp).
  Neither the etcd role's adduser dependencies (the lab's hosts have the etcd user) nor its CA
  trust step (upd_ca_trust.yml) are in it: ours has neither. What kubespray's fact plays leave on
  the hosts before its etcd play (fallback_ips up to v2.27; main_ip(s)/main_access_ip(s) from
  network_facts in v2.28 on) comes from a small extra inventory, so no side gathers facts;
  kubespray's defaults role still runs its own tasks, as in its etcd play (in v2.24.1 they skip
  once those facts are set).

The Ansible: kubespray's step does not run on ansible-core 2.19, the repo's pin (see
COMPARED_ANSIBLE), so every compared side runs on ansible 11.13.0 (core 2.18), the one v2.31.0
pins, which runs both releases' step; ours also runs on 2.19 (`ours, ansible-core 2.19`), for
its own figure.

Each side writes under /var/tmp/kubeha-bench/certs: its etcd_cert_dir and, for kubespray, its
etcd_config_dir (where openssl.conf goes) and etcd_script_dir (where make-ssl-etcd.sh goes,
/usr/local/bin/etcd-scripts by default). The lab's etcd keeps /etc/ssl/etcd/ssl and keeps running:
no side names those paths in its output (checked), nothing here restarts a service, and what
/etc/ssl/etcd holds, /usr/local/bin, the script's temp dirs and etcd's PIDs are compared before
and after (`hosts_left_as_found`; on a lab shared with someone who redeploys etcd meanwhile, the
difference is theirs, and is reported rather than fatal).

Before timing, every side runs once from empty directories, then again (kubespray's also with
force_etcd_cert_refresh=false), with every task shown (`what_each_does`: task rounds, each host's
recap): on every host each side must then have ca.pem and a certificate and key for member, admin
and node under the names its layout gives them, each certificate verifying against that CA
(`openssl verify`) and holding that key; otherwise the benchmark fails (`files` lists what each
left on each host). Then each round runs every side, the order reversed every other round: the
first run (its directories removed on the 3 hosts first, untimed) and a rerun with everything in
place. kubespray re-issues every certificate on a rerun by default (force_etcd_cert_refresh: true
in its etcd defaults), so its sides also rerun with force_etcd_cert_refresh=false, where a rerun
only checks. In the same rounds: an empty play on the same hosts (ansible-playbook's start-up)
and, per release, kubespray's etcd play with its defaults role alone (its start-up in its own
tree), so every ratio is also given above the start-up each side pays (`ratio_above_startup`).
A play that fails (the lab may be shared with tests that crash hosts) is measured again, at
most twice, once every host answers.
"""

import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELEASES = ("v2.24.1", "v2.31.0")
HOSTS = ("cp1", "cp2", "cp3")
ROLE = "kubeha_bench_etcd_certs"     # the role added to each kubespray copy
# kubespray's certificate step does not run on ansible-core 2.19, the repo's pin: its task files
# build lists as strings ("['a', 'b']", check_certs.yml's and gen_certs_script.yml's loops) that
# Ansible up to 2.18 turned into lists and 2.19 leaves strings, and 2.19 refuses its conditionals
# on strings. So the compared sides all run on the Ansible v2.31.0 pins, ansible 11.13.0 (core
# 2.18; `make deps` makes it as .venvs/ansible-2.18), which runs both releases' step; ours also
# runs on the repo's 2.19, for its own figure.
COMPARED_ANSIBLE = "2.18"


def kubespray_trees():
    """{name: tree} of the kubespray releases to compare with: ../shared/kubespray/<tag> beside
    the repo, else KUBESPRAY_SRC (a directory with one <tag>/ per release, or one checkout of
    your own, named KUBESPRAY_SRC), as tests/kubespray_trees.py finds them."""
    found = {}
    shared = REPO.parent / "shared" / "kubespray"
    src = Path(os.environ["KUBESPRAY_SRC"]) if os.environ.get("KUBESPRAY_SRC") else None

    def has_step(tree):
        return (tree / "roles" / "etcd" / "tasks" / "gen_certs_script.yml").is_file()

    for tag in RELEASES:
        for base in (shared, src):
            if base and has_step(base / tag):
                found[tag] = base / tag
                break
        else:
            print(f"\n*** kubespray {tag}: no tree (../shared/kubespray/{tag} or KUBESPRAY_SRC): SKIPPED ***",
                  flush=True)
    if src and has_step(src):
        found["KUBESPRAY_SRC"] = src
    return found


def copy_tree(tree, dest):
    shutil.copytree(tree, dest, symlinks=True)
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)   # the pristine trees are read-only; the copy is ours
    return dest


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")   # JSON is YAML
    return path


# --- kubespray's side ----------------------------------------------------------------------------

def kubespray_step(tree):
    """The first two tasks of the release's roles/etcd/tasks/main.yml: its certificate step."""
    main = (tree / "roles" / "etcd" / "tasks" / "main.yml").read_text()
    step = main.split("\n- name: Trust etcd CA", 1)[0]
    if "check_certs.yml" not in step or "gen_certs_script.yml" not in step or step == main:
        raise SystemExit(f"{tree}/roles/etcd/tasks/main.yml: its certificate step is not where this benchmark "
                         "expects it (include check_certs.yml, include gen_certs_script.yml, then Trust etcd CA)")
    return step.rstrip() + "\n"


def prepare_kubespray(tree, work):
    """A copy of `tree` with the certificate step as a role of its own; returns (copy, playbook,
    start-up playbook): kubespray's etcd play with and without the step."""
    copy = copy_tree(tree, work / "tree")
    # No timing callbacks (profile_tasks, ara): ours has none, and they only print.
    cfg = copy / "ansible.cfg"
    cfg.write_text("".join(line for line in cfg.read_text().splitlines(keepends=True)
                           if not line.startswith("callbacks_enabled")))
    etcd = copy / "roles" / "etcd"
    role = copy / "roles" / ROLE
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text(kubespray_step(copy))
    for task_file in (etcd / "tasks").glob("*.yml"):
        if task_file.name != "main.yml":
            (role / "tasks" / task_file.name).symlink_to(f"../../etcd/tasks/{task_file.name}")
    for part in ("templates", "handlers", "defaults", "vars"):
        if (etcd / part).is_dir():
            (role / part).symlink_to(f"../etcd/{part}")
    # From v2.29 the etcd role's defaults live in etcd_defaults, a dependency of the etcd role (its
    # other dependencies, adduser, make users: not the certificate step).
    dependencies = [{"role": "etcd_defaults"}] if (copy / "roles" / "etcd_defaults").is_dir() else []
    write_json(role / "meta" / "main.yml", {"dependencies": dependencies})
    defaults = "kubespray_defaults" if (copy / "roles" / "kubespray_defaults" / "defaults").is_dir() \
        else "kubespray-defaults"

    def play(roles):
        return [{"name": "Install etcd", "hosts": "etcd:kube_control_plane", "gather_facts": False,
                 "any_errors_fatal": "{{ any_errors_fatal | default(true) }}",
                 "environment": "{{ proxy_disable_env }}", "roles": roles}]

    book = write_json(copy / "kubeha-bench-etcd-certs.yml",
                      play([{"role": defaults}, {"role": ROLE, "tags": "etcd"}]))
    startup = write_json(copy / "kubeha-bench-startup.yml", play([{"role": defaults}]))
    return copy, book, startup


def kubespray_facts(copy, hostvars, path):
    """An inventory of what kubespray's fact plays leave on the etcd hosts before its etcd play:
    main_ip(s)/main_access_ip(s) from network_facts (v2.28 on; IPv4 only, as on the lab), else
    fallback_ips (every host's default IPv4 address; the lab has no default route, so 127.0.0.1)."""
    hosts = {}
    for host in HOSTS:
        ip = hostvars[host].get("ip", hostvars[host]["ansible_host"])
        access = hostvars[host].get("access_ip", ip)
        if (copy / "roles" / "network_facts").is_dir():
            hosts[host] = {"main_ip": ip, "main_access_ip": access, "main_ips": [ip], "main_access_ips": [access]}
        else:
            hosts[host] = {"fallback_ips": {h: "127.0.0.1" for h in hostvars}}
    return write_json(path, {"etcd": {"hosts": hosts}})


# --- checks on the hosts -------------------------------------------------------------------------

CHECK = r"""
d=$1; n=$2
[ -f "$d/ca.pem" ] || echo "no $d/ca.pem"
for kind in member admin node; do
  c=$d/$kind-$n.pem; k=$d/$kind-$n-key.pem
  if [ ! -f "$c" ] || [ ! -f "$k" ]; then echo "no $c or $k"; continue; fi
  openssl verify -CAfile "$d/ca.pem" "$c" > /dev/null 2>&1 || echo "$c does not verify against $d/ca.pem"
  [ "$(openssl x509 -in "$c" -noout -pubkey)" = "$(openssl pkey -in "$k" -pubout)" ] || echo "$c is not $k's"
done
"""

# What would show the lab's own etcd or the machine touched: its certificates, where kubespray puts
# its script by default, the script's temp dirs; and etcd's processes, unless the host itself was
# restarted meanwhile (the lab may be shared with tests that crash hosts).
FILES = r"""
find /etc/ssl/etcd -exec stat -c '%n %s %Y %a %U' {} + 2>/dev/null | sort
find /etc/ssl/etcd -type f -exec sha256sum {} + 2>/dev/null | sort
find /usr/local/bin -exec stat -c '%n %s %Y %a %U' {} + | sort
ls -d /tmp/etcd_cacert.* 2>/dev/null || true
"""


# The lab's own paths, which no side may name in its output (a loop over kubespray's certificate
# files prints their paths).
LAB_PATHS = ("/etc/ssl/etcd", "/usr/local/bin/etcd-scripts")


def fingerprint(lab):
    return {host: {"files": lab("exec", host, "sh", "-c", FILES).stdout,
                   "init": lab("exec", host, "ps", "-o", "lstart=", "-p", "1").stdout.strip(),
                   "etcd": lab("exec", host, "sh", "-c", "pidof etcd || true").stdout.strip()}
            for host in HOSTS}


def changed_hosts(before, after):
    """What changed on each host: the paths whose listing or checksum differs, and etcd's processes
    on a host that was not restarted (each host's restart is said too)."""
    changed = {}
    for host in HOSTS:
        b, a = before[host], after[host]
        # Lines are "<path> <size> <mtime> <mode> <owner>" or "<sha256> <path>".
        paths = sorted({line.split()[0] if line.startswith("/") else line.split()[-1]
                        for line in set(b["files"].splitlines()) ^ set(a["files"].splitlines()) if line.strip()})
        restarted = b["init"] != a["init"]
        if paths or (not restarted and b["etcd"] != a["etcd"]):
            changed[host] = {"paths": paths, "host restarted": restarted,
                             "etcd pids": f"{b['etcd'] or '-'} -> {a['etcd'] or '-'}"}
    return changed


def check_files(lab, cert_dir, names):
    """Problems with the certificates of one side on every host (empty: none), and each host's files."""
    problems, files = [], {}
    for host in HOSTS:
        out = lab("exec", host, "sh", "-c", CHECK, "check", cert_dir, names[host])
        problems += [f"{host}: {line}" for line in out.stdout.splitlines()]
        files[host] = sorted(lab("exec", host, "sh", "-c", f"ls {cert_dir}").stdout.split())
    return problems, files


def recap(output):
    """Task banners (every task round, skipped ones too) and each host's recap of one run."""
    hosts = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 2 and words[0] in HOSTS and words[1] == ":":
            hosts[words[0]] = {k: int(v) for k, v in (w.split("=") for w in words[2:])
                               if k in ("ok", "changed", "skipped", "failed")}
    return {"task_rounds": output.count("\nTASK ["), "hosts": hosts}


# --- the part ------------------------------------------------------------------------------------

def ansible_version(bin_dir):
    return subprocess.run([bin_dir / "ansible", "--version"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]


def bench_certs(args, tmp, results, *, lab, playbook, work, inventory):
    """See the module's docstring. `lab` and `playbook` are lab_bench.py's helpers."""
    tmp = Path(tmp)
    base = f"{work}/certs"
    compared = REPO / ".venvs" / f"ansible-{COMPARED_ANSIBLE}" / "bin"
    if not (compared / "ansible-playbook").exists():
        raise SystemExit(f"certs: {compared.parent.relative_to(REPO)} is missing (kubespray's certificate step "
                         f"needs ansible-core {COMPARED_ANSIBLE}): run make deps")
    # `lab ctl` puts the repo's .venv first on PATH; the compared sides put this one before it.
    on_compared = {"PATH": f"{compared}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    inv = inventory.relative_to(REPO)
    hostvars = json.loads(lab("ctl", "ansible-inventory", "-i", inv, "--list").stdout)["_meta"]["hostvars"]
    ssh_args = lab("ctl", "sh", "-c", 'printf %s "$ANSIBLE_SSH_COMMON_ARGS"').stdout

    # Every side: its playbook, extra arguments and environment, its cert dir, what to remove for
    # a first run, and the name each host's files carry.
    ours = write_json(tmp / "certs-ours.yml", [{
        "name": "Etcd certificates, kubeha (cluster.yml's etcd play, its certificate step)",
        "hosts": "etcd", "gather_facts": False,
        "tasks": [{"name": "Etcd certs", "ansible.builtin.import_role": {
            "name": "etcd", "tasks_from": "gen_certs_script.yml"}}]}])
    dropin = write_json(tmp / "certs-ours-kubespray-vars.yml", [{
        "name": "Etcd certificates, kubeha with kubespray's variables (as dropped into kubespray)",
        "hosts": "etcd:kube_control_plane", "gather_facts": False,
        "vars": {"etcd_owner": "etcd", "etcd_cert_group": "root"},   # kubespray's etcd role defaults
        "roles": [{"role": "kubespray-defaults"}],
        "tasks": [{"name": "Etcd certs", "ansible.builtin.import_tasks":
                   str(REPO / "roles" / "etcd" / "tasks" / "gen_certs_script.yml")}]}])
    empty = write_json(tmp / "certs-empty.yml", [{"name": "Nothing, the same hosts", "hosts": "etcd",
                                                  "gather_facts": False, "tasks": []}])

    def our_side(book, cert_dir, names, env):
        return {"book": book, "dir": cert_dir, "clean": cert_dir, "names": names, "env": env,
                "extra": ["-e", json.dumps({"etcd_cert_dir": cert_dir})]}

    member_names = {h: hostvars[h].get("etcd_member_name", h) for h in HOSTS}
    sides = {
        "ours": our_side(ours, f"{base}/ours", member_names, on_compared),
        "ours, kubespray's variables": our_side(dropin, f"{base}/ours-kubespray-vars", {h: h for h in HOSTS},
                                                on_compared),
        # cluster.yml's own Ansible, for ours alone (kubespray's step does not run on it).
        "ours, ansible-core 2.19": our_side(ours, f"{base}/ours-2.19", member_names, {}),
    }
    startups = {"empty play": {"book": empty, "env": on_compared, "extra": []}}
    trees = kubespray_trees()
    for name, tree in trees.items():
        copy, book, startup = prepare_kubespray(tree, tmp / f"kubespray-{name}")
        facts = kubespray_facts(copy, hostvars, tmp / f"kubespray-{name}" / "facts.yml")
        env = {**on_compared, "ANSIBLE_CONFIG": copy / "ansible.cfg",
               # The lab's SSH settings, as ours has them: ControlPersist and the lab's known hosts
               # (kubespray's ansible.cfg turns host keys off; its defaults role sets
               # ansible_ssh_common_args, which beats the lab's ANSIBLE_SSH_COMMON_ARGS).
               "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
               # Each run to itself: no facts from an earlier run (kubespray caches them in /tmp).
               "ANSIBLE_CACHE_PLUGIN": "memory"}
        extra = ["-i", facts, "-e", json.dumps({"ansible_ssh_common_args": ssh_args})]
        root = f"{base}/kubespray-{name}"
        sides[f"kubespray {name}"] = {
            "book": book, "dir": f"{root}/ssl", "clean": root, "env": env, "names": {h: h for h in HOSTS},
            "extra": extra + ["-e", json.dumps({"etcd_config_dir": root, "etcd_cert_dir": f"{root}/ssl",
                                                "etcd_script_dir": f"{root}/scripts"})]}
        startups[f"kubespray {name}, its defaults role alone"] = {"book": startup, "env": env, "extra": extra}
    kubespray = [name for name in sides if name.startswith("kubespray")]
    keep = ["-e", json.dumps({"force_etcd_cert_refresh": False})]

    def clean(side):
        for host in HOSTS:
            lab("exec", host, "rm", "-rf", side["clean"])

    def run(side, *more):
        return playbook(side["book"], *side["extra"], *more, env=side["env"], check=False)

    def run_output(side, *more):
        env = {**side["env"], "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "1"}
        proc = lab("ctl", "env", *(f"{k}={v}" for k, v in env.items()), "ansible-playbook", "-i", inv,
                   side["book"], *side["extra"], *more, check=False)
        if proc.returncode != 0:
            print(f"{side['book']} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-1000:]}", flush=True)
            return None
        return proc.stdout

    def retried(what, measure):
        """measure() once more (twice at most) when a play of it failed (it returns None then),
        after every lab host answers again: the lab may be shared with tests that crash hosts."""
        for attempt in range(3):
            result = measure()
            if result is not None:
                return result
            print(f"certs: {what} failed; trying again once the lab's hosts answer", flush=True)
            for _ in range(60):
                if lab("status", check=False).returncode == 0:
                    break
                time.sleep(3)
        raise SystemExit(f"certs: {what} failed three times")

    def all_or_none(*runs):
        """The results of a sequence of runs, or None as soon as one fails."""
        results = []
        for one in runs:
            results.append(one())
            if results[-1] is None:
                return None
        return results

    # One run of every side from empty directories, its files checked, then a rerun: what each
    # does (task rounds and each host's recap), and the lab's own etcd untouched. Whatever happens,
    # the hosts are left as they were found.
    out = results.setdefault("certs", {})
    before = fingerprint(lab)
    try:
        for host in HOSTS:
            lab("exec", host, "rm", "-rf", base)
        what, checks, strays = {}, {}, []
        for name, side in sides.items():
            labels = ["first run", "rerun"] + (["rerun, force_etcd_cert_refresh=false"] if name in kubespray else [])

            def verify(side=side, labels=labels):
                clean(side)
                return all_or_none(lambda: run_output(side), lambda: run_output(side),
                                   *([lambda: run_output(side, *keep)] if len(labels) > 2 else []))
            outputs = retried(f"{name}, the untimed runs", verify)
            what[name] = {label: recap(output) for label, output in zip(labels, outputs)}
            strays += [f"{name}: {path}" for path in LAB_PATHS if any(path in output for output in outputs)]
            problems, files = check_files(lab, side["dir"], side["names"])
            checks[name] = {"problems": problems, "files": files,
                            "keys": {h: sum(f.endswith("-key.pem") for f in fs) for h, fs in files.items()}}
        for name, play in startups.items():
            what[name] = {"run": recap(retried(f"{name}, the untimed run", lambda: run_output(play)))}
        out.update({"hosts": list(HOSTS), "ansible": ansible_version(compared),
                    "ours_also_on": ansible_version(REPO / ".venv" / "bin"), "kubespray_trees": list(trees),
                    "what_each_does": what, "files": checks})
        if strays:
            raise SystemExit(f"certs: a side named the lab's own paths: {strays}")
        if any(c["problems"] for c in checks.values()):
            raise SystemExit("certs: a side did not make the certificates: "
                             + json.dumps({n: c["problems"] for n, c in checks.items() if c["problems"]}))

        # The timed rounds.
        first = {name: [] for name in sides}
        rerun = {name: [] for name in sides}
        kept = {name: [] for name in kubespray}      # rerun with force_etcd_cert_refresh=false
        startup = {name: [] for name in startups}
        order = [*sides, *startups]
        for r in range(args.rounds):
            for name in (order if r % 2 == 0 else list(reversed(order))):
                if name in startups:
                    startup[name].append(retried(f"{name}, round {r + 1}", lambda: run(startups[name])))
                    continue
                side = sides[name]

                def measure(side=side, name=name):
                    clean(side)
                    return all_or_none(lambda: run(side), lambda: run(side),
                                       *([lambda: run(side, *keep)] if name in kept else []))
                times = retried(f"{name}, round {r + 1}", measure)
                first[name].append(times[0])
                rerun[name].append(times[1])
                if name in kept:
                    kept[name].append(times[2])
    finally:
        # Leave the hosts as found.
        for host in HOSTS:
            lab("exec", host, "sh", "-c", f"rm -rf {base}; rmdir {work} 2>/dev/null || true")
        changed = changed_hosts(before, fingerprint(lab))
        out["hosts_left_as_found"] = not changed
        if changed:
            out["lab_changed_meanwhile"] = changed
            print(f"certs: WARNING: the lab's etcd certificates, /usr/local/bin or etcd's processes changed during "
                  f"the benchmark on {', '.join(changed)}. Nothing here writes there or restarts etcd (every side's "
                  f"output is checked for those paths); was someone else using the lab? {json.dumps(changed)}",
                  flush=True)

    def med(runs):
        return round(statistics.median(runs), 2)

    def ratio(ours_runs, theirs_runs):
        return round(statistics.median(o / t for o, t in zip(ours_runs, theirs_runs)), 3)

    def above(ours_runs, theirs_runs, their_startup):
        """Both sides less the start-up each pays in the same round: the empty play for ours,
        kubespray's etcd play with its defaults role alone for kubespray."""
        return round(statistics.median((o - e) / (t - s) for o, t, e, s in
                                       zip(ours_runs, theirs_runs, startup["empty play"], their_startup)), 3)

    out["seconds"] = {name: {"first run": med(first[name]), "rerun": med(rerun[name]),
                             **({"rerun, force_etcd_cert_refresh=false": med(kept[name])} if name in kept else {})}
                      for name in sides}
    out["startup_seconds"] = {name: med(runs) for name, runs in startup.items()}
    out["ratios"] = {}
    for ours_name in ("ours", "ours, kubespray's variables"):
        for name in kubespray:
            their_startup = startup[f"{name}, its defaults role alone"]
            pairs = {"first run": (first[ours_name], first[name]),
                     "rerun": (rerun[ours_name], rerun[name]),
                     "rerun vs force_etcd_cert_refresh=false": (rerun[ours_name], kept[name])}
            out["ratios"][f"{ours_name} vs {name}"] = {
                label: {"ratio": ratio(o, t), "ratio_above_startup": above(o, t, their_startup)}
                for label, (o, t) in pairs.items()}
    out["runs"] = {label: {name: [round(x, 2) for x in runs] for name, runs in series.items()}
                   for label, series in (("first run", first), ("rerun", rerun),
                                         ("rerun, force_etcd_cert_refresh=false", kept), ("startup", startup))}
    out["rounds"] = args.rounds
