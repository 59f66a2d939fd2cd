#!/usr/bin/env python3
"""Issue a full etcd PKI for three members with etcd_certs and with the openssl CLI, side by side.

Both sides make the same things in the same places: a CA (key and certificate) on the CA host,
and for each member four keys made in its own directory, four CSRs, four certificates signed by
the CA with kubeadm's profiles (etcd-server and etcd-peer: serverAuth+clientAuth, CN and SANs
naming the member; healthcheck-client and apiserver-etcd-client: clientAuth only), plus the CA
certificate in each member's directory. After timing, the two results are compared certificate
by certificate (subject, issuer, basic constraints, key usage, extended key usage, SANs, key
type) and both are checked with `openssl verify`, so the two sides are known to do the same job.

- etcd_certs: the flow the role runs - `ca`, `request` on each member, `sign` with every request,
  `install` on each member: 8 runs of the binary (an args file in, one JSON answer out, each).
  It also checks every CSR and certificate against its profile, backdates, and writes every file
  atomically with fsync, none of which the openssl side does.
- openssl: the fewest invocations a careful script needs - `req -x509 -newkey` for the CA, then
  per certificate `req -new -newkey` (key and CSR in one) and `x509 -req` (sign, extensions
  from a per-member extfile): 25 runs of openssl. (kubespray's make-ssl-etcd.sh needs three per
  certificate: genrsa, req, x509.)

Rounds alternate between the sides (and which goes first), so both see the same machine load;
each side's time is the wall time of the whole side, orchestration included, and its CPU time
(user + system of the processes it starts); every round starts from empty directories. A ratio
is the median of the per-round ratios. It runs once on a disk-backed temp directory (where
fsync costs what the disk makes it cost) and once on tmpfs (/dev/shm, when there is one),
prints a table and writes it, with notes on the machine, to bench/results/etcd_pki.md (or --out).

Usage: bench/etcd_pki.py [--rounds N] [--key ECDSA-P256|RSA-2048|...] [--binary PATH] [--out FILE]
"""

import argparse
import datetime
import json
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEMBERS = [("cp1", "10.0.0.11"), ("cp2", "10.0.0.12"), ("cp3", "10.0.0.13")]
PHASES = ["ca", "request", "sign", "install"]


def sans(name, ip):
    return f"DNS:{name},DNS:localhost,IP:{ip},IP:127.0.0.1,IP:::1"


def leaves(root, name):
    """The CA certificate and the four leaf certificates in a member's directory (kubeadm layout)."""
    d = root / name
    return d / "etcd/ca.crt", [d / "etcd/server.crt", d / "etcd/peer.crt", d / "etcd/healthcheck-client.crt",
                               d / "apiserver-etcd-client.crt"]


# -- etcd_certs ------------------------------------------------------------------------------

class Module:
    """Runs the binary as Ansible does: one args file in, one JSON answer on stdout."""

    def __init__(self, binary, work, phases):
        self.binary = binary
        self.args = work / "args.json"
        self.phases = phases

    def __call__(self, **options):
        start, cpu = time.perf_counter(), children_cpu()
        self.args.write_text(json.dumps(options))
        out = subprocess.run([self.binary, str(self.args)], capture_output=True, text=True)
        self.phases[options["action"]][0] += time.perf_counter() - start
        self.phases[options["action"]][1] += children_cpu() - cpu
        answer = json.loads(out.stdout)
        if answer.get("failed"):
            sys.exit(f"etcd_certs {options['action']} failed: {answer['msg']}")
        return answer


def with_etcd_certs(binary, root, key, phases):
    run = Module(binary, root, phases)
    ca_dir = root / "cp1"
    ca = run(action="ca", cert_dir=str(ca_dir), key_algorithm=key)
    requests = []
    for name, ip in MEMBERS:
        answer = run(action="request", cert_dir=str(root / name), node_name=name, node_ips=[ip],
                     key_algorithm=key, ca_cert=ca["ca_cert"])
        requests += answer["requests"]
    members = [{"node_name": n, "node_ips": [ip]} for n, ip in MEMBERS]
    signed = run(action="sign", cert_dir=str(ca_dir), requests=requests, members=members)
    for name, ip in MEMBERS:
        run(action="install", cert_dir=str(root / name), node_name=name, node_ips=[ip], key_algorithm=key,
            ca_cert=signed["ca_cert"], issued=signed["issued"])


# -- openssl ---------------------------------------------------------------------------------

EXTFILE = """\
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature{rsa_usage}
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {sans}

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature{rsa_usage}
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"openssl {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def newkey(key):
    if key == "ECDSA-P256":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    return ["-newkey", f"rsa:{key.split('-')[1]}"]


def with_openssl(root, key):
    ca_dir = root / "cp1" / "etcd"
    ca_dir.mkdir(parents=True)
    ca_crt, ca_key = ca_dir / "ca.crt", ca_dir / "ca.key"
    openssl("req", "-x509", *newkey(key), "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt),
            "-days", "3650", "-subj", "/CN=etcd-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign")
    os.chmod(ca_key, 0o600)
    # kubeadm asks for keyEncipherment on RSA keys only (it means nothing for ECDSA).
    rsa_usage = ", keyEncipherment" if key.startswith("RSA") else ""
    for name, ip in MEMBERS:
        d = root / name
        (d / "etcd").mkdir(parents=True, exist_ok=True)
        extfile = d / "extensions.cnf"
        extfile.write_text(EXTFILE.format(rsa_usage=rsa_usage, sans=sans(name, ip)))
        for stem, cn, section in [("etcd/server", name, "server"), ("etcd/peer", name, "server"),
                                  ("etcd/healthcheck-client", "kube-etcd-healthcheck-client", "client"),
                                  ("apiserver-etcd-client", "kube-apiserver-etcd-client", "client")]:
            key_file, csr, crt = d / f"{stem}.key", d / f"{stem}.csr", d / f"{stem}.crt"
            extra = ["-addext", f"subjectAltName={sans(name, ip)}"] if section == "server" else []
            openssl("req", "-new", *newkey(key), "-nodes", "-keyout", str(key_file), "-out", str(csr),
                    "-subj", f"/CN={cn}", *extra)
            os.chmod(key_file, 0o600)
            openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                    "-set_serial", "0x" + secrets.token_hex(16), "-days", "365",
                    "-extfile", str(extfile), "-extensions", section, "-out", str(crt))
        if name != "cp1":
            shutil.copyfile(ca_crt, d / "etcd/ca.crt")


# -- checks ----------------------------------------------------------------------------------

def verify(root):
    for name, _ in MEMBERS:
        ca, certs = leaves(root, name)
        out = subprocess.run(["openssl", "verify", "-CAfile", str(ca), *map(str, certs)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"openssl verify failed for {root}: {out.stdout}{out.stderr}")


def profile(cert):
    """What makes a certificate's profile, as openssl shows it (no serials, dates or key ids)."""
    text = openssl("x509", "-in", str(cert), "-noout", "-subject", "-issuer",
                   "-ext", "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName")
    algo = openssl("x509", "-in", str(cert), "-noout", "-text")
    kind = [line.strip() for line in algo.splitlines() if "Public Key Algorithm" in line or "ASN1 OID" in line
            or "Public-Key:" in line]
    return "".join(f"{line.strip()}\n" for line in text.splitlines() if line.strip()) + "\n".join(kind)


def same_profiles(ours, theirs):
    for name, _ in MEMBERS:
        (ca_a, a), (ca_b, b) = leaves(ours, name), leaves(theirs, name)
        for x, y in zip([ca_a, *a], [ca_b, *b]):
            px, py = profile(x), profile(y)
            if px != py:
                sys.exit(f"{x.name} of {name} differs between the sides:\n--- etcd_certs\n{px}\n--- openssl\n{py}")


# -- harness ---------------------------------------------------------------------------------

def children_cpu():
    """User + system CPU seconds of the finished child processes: unlike wall time, hardly
    affected by other work on the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(binary, key, rounds, where):
    """Alternating rounds of both sides under `where`; per side the times, and our phases."""
    base = Path(tempfile.mkdtemp(prefix="etcd-pki-bench-", dir=where))
    try:
        fs = subprocess.run(["df", "--output=fstype", str(base)], capture_output=True,
                            text=True).stdout.split()[-1]
        times = {"ours": [], "theirs": []}
        cpus = {"ours": [], "theirs": []}
        phases = {p: ([], []) for p in PHASES}
        for i in range(rounds):
            order = ["ours", "theirs"] if i % 2 == 0 else ["theirs", "ours"]
            for side in order:
                root = base / f"{side}-{i}"
                root.mkdir()
                start, cpu = time.perf_counter(), children_cpu()
                if side == "ours":
                    round_phases = {p: [0.0, 0.0] for p in PHASES}
                    with_etcd_certs(binary, root, key, round_phases)
                    for p, (wall, used) in round_phases.items():
                        phases[p][0].append(wall)
                        phases[p][1].append(used)
                else:
                    with_openssl(root, key)
                times[side].append(time.perf_counter() - start)
                cpus[side].append(children_cpu() - cpu)
            if i < rounds - 1:
                shutil.rmtree(base / f"ours-{i}")
                shutil.rmtree(base / f"theirs-{i}")
        last = rounds - 1
        verify(base / f"ours-{last}")
        verify(base / f"theirs-{last}")
        same_profiles(base / f"ours-{last}", base / f"theirs-{last}")
        med = statistics.median
        return {
            "fs": fs,
            "ours": med(times["ours"]),
            "theirs": med(times["theirs"]),
            "ratio": med(t / o for o, t in zip(times["ours"], times["theirs"])),
            "ours_cpu": med(cpus["ours"]),
            "theirs_cpu": med(cpus["theirs"]),
            "cpu_ratio": med(t / o for o, t in zip(cpus["ours"], cpus["theirs"]) if o > 0),
            "phases": {p: (med(wall), med(used)) for p, (wall, used) in phases.items()},
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def machine_notes(binary):
    def first(path, prefix):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(prefix):
                    return line.split(":", 1)[-1].split("=", 1)[-1].strip().strip('"')
        except OSError:
            pass
        return "unknown"

    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except OSError:
            return "unknown"

    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("commit", run("git", "describe", "--always", "--dirty")),
        ("cpu", f"{first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores"),
        ("os", f"{first('/etc/os-release', 'PRETTY_NAME=')}, Linux {platform.release()}"),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("openssl", run("openssl", "version")),
        ("python", platform.python_version()),
        ("etcd_certs", f"{Path(binary).stat().st_size} bytes, static, `make build`"),
    ]


def table(key, rounds, results):
    def ms(seconds):
        return f"{seconds * 1000:.1f} ms"

    lines = [
        f"Full etcd PKI for 3 members ({key} keys): CA, then 4 keys, CSRs and certificates per member.",
        f"Medians of {rounds} alternating rounds; a ratio is the median of the per-round ratios.",
        "Wall time is what a user waits for; CPU time (user + system, of the processes each side",
        "starts) is the work done, and hardly depends on what else the machine is doing.",
        "",
        "| filesystem | etcd_certs, 8 runs | openssl CLI, 25 runs | ratio | CPU etcd_certs | CPU openssl | CPU ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['fs']} | {ms(r['ours'])} | {ms(r['theirs'])} | {r['ratio']:.1f}x "
                     f"| {ms(r['ours_cpu'])} | {ms(r['theirs_cpu'])} | {r['cpu_ratio']:.1f}x |")
    lines += ["", "etcd_certs per action (1 ca, 3 request, 1 sign, 3 install runs), wall / CPU time per round,",
              "medians; starting the processes included:", "",
              "| filesystem | " + " | ".join(PHASES) + " |", "|---|" + "---:|" * len(PHASES)]
    for r in results:
        cells = [f"{ms(wall)} / {ms(used)}" for wall, used in (r["phases"][p] for p in PHASES)]
        lines.append(f"| {r['fs']} | " + " | ".join(cells) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--key", default="ECDSA-P256", choices=["ECDSA-P256", "RSA-2048", "RSA-3072", "RSA-4096"])
    parser.add_argument("--binary", default=str(REPO / "library" / "etcd_certs"),
                        help="the etcd_certs binary (default: library/etcd_certs from `make build`)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "etcd_pki.md"),
                        help="where to write the results (default: bench/results/etcd_pki.md)")
    args = parser.parse_args()
    if not Path(args.binary).is_file():
        sys.exit(f"{args.binary} is missing: run `make build` first")
    if shutil.which("openssl") is None:
        sys.exit("openssl is missing")
    places = [None]  # the system temp directory, normally on disk
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        places.append("/dev/shm")
    notes = machine_notes(args.binary)
    results = [measure(args.binary, args.key, args.rounds, where) for where in places]
    lines = ["# etcd_certs vs the openssl CLI", "", *table(args.key, args.rounds, results), "",
             "Machine:", "", *[f"- {k}: {v}" for k, v in notes], "",
             "Both results pass `openssl verify` and have the same profile certificate by certificate.",
             "etcd_certs also checks every CSR and certificate, backdates 5 minutes and fsyncs every",
             "file and directory it writes; the openssl side does none of that.",
             "Rerun: `make bench-pki` (or `bench/etcd_pki.py --help`)."]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    sys.stdout.write(f"\nwritten to {os.path.relpath(out, Path.cwd())}\n")


if __name__ == "__main__":
    main()
