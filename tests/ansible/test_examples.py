"""Every EXAMPLES task of every module's sidecar (library/<name>.yml) runs through real
ansible-core and is accepted by the module it calls.

What "as-is" means here:
- Each task whose module is one of ours (short name, ansible.legacy.<name> or kubeha.ha.<name>)
  runs unchanged, on localhost, with `--check --diff`: our modules plan only in check mode, so the
  machine is never changed, while the module still validates every option (names, types,
  choices, suboptions) and plans against the real host (haproxy -c on the candidate, apt's view
  of installed packages, ...). The task must end ok or changed.
- Examples are often a flow (step 2 uses what step 1 registered): each task runs after the
  example tasks before it, in one play.
- Variables an example uses come from kubespray's defaults (roles/kubespray-defaults), as they
  do in a kubespray inventory, and from EXAMPLE_VARS (what an inventory adds); `vault_*` secrets
  get a dummy value. An undefined variable fails with Ansible's own message.
- Task keywords that need the surrounding play (notify, when, tags, delegate_to, become...) are
  dropped; name, register, loop and its kin, vars, no_log and environment are kept.
- localhost is in kubespray's groups (etcd, kube_control_plane, kube_node, k8s_cluster) and in
  lb (the dedicated load balancer hosts, with a second, never contacted, lb2), so examples
  written for an inventory resolve.
- Modules that probe addresses (vip_check) run only when every address they get is loopback:
  nothing leaves the machine.
- Modules that manage the machine's own services (services) run against a fake host
  (FAKE_HOSTS: a task `environment` that points the module at fakes in the test's directory),
  never against this machine's init system.
- Where an example needs what localhost cannot have (a bound VIP, a listening apiserver, the
  registered result of an earlier step of a flow), OVERRIDES says so for that one task, with the
  reason: `vars` (e.g. an earlier step's result), `options` (documented options only), or
  `fails_here`, a pattern for the host-state failure the task is allowed to end with. Even then
  the module must have accepted the arguments: a failure in the words of the runtime's argument
  validation (unknown option, missing required, wrong type, not a choice) always fails the test.
A static check also holds every option key of every example (and its suboptions) against the
sidecar's DOCUMENTATION, and a control test proves the harness fails on an unknown option or a
wrongly typed value.
"""

import copy
import re
from pathlib import Path

import pytest
import yaml

from kubeha_test import LIBRARY, REPO
from services_fakes import example_host

MODULES = sorted(p.stem for p in LIBRARY.glob("*.yml"))
KUBESPRAY_DEFAULTS = REPO / "roles" / "kubespray-defaults" / "defaults" / "main"

# What a user's inventory holds that examples use beyond kubespray's defaults: name -> value.
# Check mode binds nothing; the VIP is a loopback address so that a module that probes it
# (vip_check) never sends a packet off this machine.
EXAMPLE_VARS: dict = {
    "cluster_name": "cluster.local",
    "k8s_lb_vip": "127.0.0.1",
    "loadbalancer_apiserver_healthcheck_port": 8081,
    "kubeha_apiserver_backends": [
        {"name": "cp1", "address": "10.0.0.11"},
        {"name": "cp2", "address": "10.0.0.12"},
        {"name": "cp3", "address": "10.0.0.13"},
    ],
    "etcd_cert_member": {"node_name": "localhost", "node_ips": ["127.0.0.1"], "extra_sans": []},
    "ansible_default_ipv4": {"address": "127.0.0.1"},  # a fact; the plays gather none
    "etcd_cert_profiles": ["etcd-server", "etcd-peer", "etcd-healthcheck-client", "apiserver-etcd-client"],
}


def vrrp_interface() -> str | None:
    """A non-loopback interface of this machine: keepalived refuses lo for VRRP."""
    for net in sorted(Path("/sys/class/net").iterdir()):
        if net.name != "lo" and (net / "operstate").read_text().strip() in ("up", "unknown"):
            return net.name
    return None


VRRP_INTERFACE = vrrp_interface()
KEEPALIVED_HERE = {
    "why": "keepalived -t rejects a VIP on lo and needs the interface the VIP belongs on: the "
           "example's (eth0, or found by subnet) may not exist here, so use this machine's",
    "vars": {"k8s_lb_vip": "192.0.2.100/24"},
    "options": {"interface": VRRP_INTERFACE},
}
# Examples that name their peers lb1 and lb2 run as lb1 (here the host is called localhost).
AS_LB1 = {
    "why": KEEPALIVED_HERE["why"] + "; the example's peers are lb1 and lb2, so this host plays lb1",
    "options": {**KEEPALIVED_HERE["options"], "this_host": "lb1"},
}
A_CHECKSUM = {"checksum": "0" * 40}

# (module, example task name) -> {"why": reason, and any of "vars", "options", "fails_here"}.
OVERRIDES: dict = {
    ("keepalived_config", "Keepalived | Hold the apiserver VIP on the LB hosts (one VIP, roles derived from the group)"):
        KEEPALIVED_HERE,
    ("keepalived_config", "Keepalived | Seed 002's two LB hosts, written out explicitly"): AS_LB1,
    ("keepalived_config", "Keepalived | Sub-second failover in a network without multicast"): KEEPALIVED_HERE,
    ("keepalived_config", "Keepalived | Two VIPs, active/active, and a dual-stack pair"): AS_LB1,
    ("static_pod", "Keepalived | Write static pod"): {
        "why": "keepalived_stat is registered by keepalived_config's examples, not this flow",
        "vars": {"keepalived_stat": A_CHECKSUM},
    },
    ("static_pod", "Custom | Write a pod given as data"): {
        "why": "probe_stat is the result of a config task the example leaves out",
        "vars": {"probe_stat": A_CHECKSUM},
    },
    ("vip_check", "Keepalived | The VIP reaches an apiserver through the load balancer"): {
        "why": "no apiserver listens behind the (loopback) VIP on this machine",
        "fails_here": r"unreachable: 127\.0\.0\.1",
    },
    ("vip_check", "Keepalived | The backup does not hold the VIP"): {
        "why": "the example's VIP is a LAN address; probe a loopback one no interface holds",
        "options": {"vips": ["127.0.0.2"]},
    },
}
# How the runtime's argument validation words a rejection (modules/runtime/src/spec.rs).
ARGUMENT_ERROR = re.compile(
    r"Unsupported parameters for|missing required arguments|^option '[^']+' \(in [^)]*\) "
    r"(expects|must be one of)",
    re.M,
)
INVENTORY = """\
[etcd]
localhost
[lb]
localhost ip=127.0.0.1
lb2 ip=127.0.0.2
[kube_control_plane]
localhost
[kube_node]
localhost
[k8s_cluster:children]
kube_control_plane
kube_node
"""

# Modules that send packets to the addresses they are given: every address in their examples must
# be a loopback one here (via EXAMPLE_VARS or an override), or the test refuses to run them.
NETWORK_PROBES = {"vip_check"}
# Modules that manage this machine's services: module -> a function of the test's directory that
# builds a fake host there and returns the task environment pointing the module at it.
FAKE_HOSTS = {"services": example_host}
IP_LITERAL = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b", re.I)

KEPT_KEYWORDS = {
    "name", "register", "loop", "loop_control", "vars", "no_log", "environment",
    "with_items", "with_list", "with_dict", "with_subelements", "with_nested", "with_together",
}


def sidecar(module: str) -> dict:
    return yaml.safe_load((LIBRARY / f"{module}.yml").read_text())


def module_of(task: dict) -> str | None:
    """Which of our modules a task calls, if any."""
    for key in task:
        short = re.sub(r"^(ansible\.legacy\.|kubeha\.ha\.)", "", key)
        if short in MODULES and (short == key or key.startswith(("ansible.legacy.", "kubeha.ha."))):
            return key
    return None


def example_tasks():
    for module in MODULES:
        tasks = yaml.safe_load(sidecar(module)["EXAMPLES"]) or []
        ours = [t for t in tasks if isinstance(t, dict) and module_of(t)]
        assert ours, f"{module}.yml has no EXAMPLES task calling one of our modules"
        for index, task in enumerate(ours):
            yield pytest.param(module, task, ours[:index], id=f"{module}-{index}-{task.get('name', '')}")


EXAMPLES = list(example_tasks())


def undeclared(value) -> set:
    """Names a task's templates mention (a superset of the variables they use: Ansible's filters
    are not known to plain Jinja, so the expressions are scanned rather than compiled)."""
    found = set()
    if isinstance(value, str):
        for expression in re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", value, re.S):
            found |= set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", " ".join(expression)))
    elif isinstance(value, dict):
        for item in value.values():
            found |= undeclared(item)
    elif isinstance(value, list):
        for item in value:
            found |= undeclared(item)
    return found


def override(module: str, task: dict) -> dict:
    found = OVERRIDES.get((module, task.get("name")), {})
    assert not found or found.get("why"), f"override for {module} {task.get('name')!r} needs a why"
    return found


def example_vars(module: str, task: dict) -> dict:
    """kubespray's defaults, EXAMPLE_VARS, and a dummy for each `vault_*` secret. A variable
    still undefined fails the run with Ansible's own message (some are meant to be undefined,
    as in `loadbalancer_apiserver_port | default(kube_apiserver_port)`)."""
    defaults = {}
    for part in sorted(KUBESPRAY_DEFAULTS.glob("*.yml")):
        defaults.update(yaml.safe_load(part.read_text()) or {})
    values = {**defaults, **EXAMPLE_VARS, **override(module, task).get("vars", {})}
    for name in undeclared(task):
        if name.startswith("vault_") and name not in values:
            values[name] = "s3cret42"  # 8 characters: VRRP PASS authentication carries no more
    return values


def runnable(module: str, task: dict, workdir: Path | None = None) -> dict:
    key = module_of(task)
    if "interface" in override(module, task).get("options", {}) and VRRP_INTERFACE is None:
        pytest.skip("this machine has no non-loopback interface for keepalived's VRRP")
    run = {k: v for k, v in task.items() if k in KEPT_KEYWORDS or k == key}
    options = override(module, task).get("options")
    if options:
        called = re.sub(r"^(ansible\.legacy\.|kubeha\.ha\.)", "", key)
        documented = sidecar(called)["DOCUMENTATION"]["options"]
        assert set(options) <= set(documented), f"override names options {module} lacks"
        run[key] = {**(run[key] or {}), **options}
    fake_host = FAKE_HOSTS.get(re.sub(r"^(ansible\.legacy\.|kubeha\.ha\.)", "", key))
    if fake_host is not None:
        assert workdir is not None, f"{key} runs only against a fake host"
        run["environment"] = {**run.get("environment", {}), **fake_host(workdir)}
    return run


def run_example(localhost, module: str, task: dict, earlier: list = ()):
    """Runs `task` after the example tasks before it (`earlier`), so a flow's later steps get
    the results its earlier steps register, as they would in a play."""
    values = {}
    for step in (*earlier, task):
        values.update(example_vars(module, step))
    vars_file = localhost.workdir / "example-vars.yml"
    vars_file.write_text(yaml.safe_dump(values))
    inventory = localhost.workdir / "inventory.ini"
    inventory.write_text(INVENTORY)
    steps = [runnable(module, step, localhost.workdir) for step in earlier]
    for step, source in zip(steps, earlier):
        if override(module, source).get("fails_here"):
            step["ignore_errors"] = True  # its own test holds it to its pattern
    tasks = yaml.safe_dump([*steps, runnable(module, task, localhost.workdir)], sort_keys=False)
    indented = "".join(f"    {line}\n" for line in tasks.splitlines())
    # A second -i adds kubespray's groups to the fixture's `localhost,` (the last -c local holds).
    return localhost.playbook(indented, "--check", "--diff", "-e", f"@{vars_file}", "-i", str(inventory))


def assert_probes_stay_local(module: str, steps) -> None:
    values = example_vars(module, steps[-1])
    for step in steps:
        key = module_of(step)
        if re.sub(r"^(ansible\.legacy\.|kubeha\.ha\.)", "", key) not in NETWORK_PROBES:
            continue
        args = runnable(module, step)[key]
        text = yaml.safe_dump(args) + yaml.safe_dump({n: values.get(n) for n in undeclared(args)})
        remote = [a for a in IP_LITERAL.findall(text) if a.strip(":") and not a.startswith(("127.", "::1"))]
        assert not remote, f"{key} would probe {remote}: point the example at loopback with OVERRIDES"


@pytest.mark.parametrize(("module", "task", "earlier"), EXAMPLES)
def test_example_runs_in_check_mode(localhost, module, task, earlier):
    assert_probes_stay_local(module, [*earlier, task])
    run = run_example(localhost, module, task, earlier)
    assert len(run.results) == len(earlier) + 1, (
        f"{run.output}\n(an earlier step failed, or an undefined variable: see EXAMPLE_VARS and OVERRIDES)"
    )
    result = run.last
    message = str(result.get("msg", ""))
    assert not ARGUMENT_ERROR.search(message), f"the module rejected the example's arguments: {message}"
    fails_here = override(module, task).get("fails_here")
    if fails_here and result["_status"] == "FAILED":
        assert re.search(fails_here, message), run.output
        return
    assert result["_status"] in ("SUCCESS", "CHANGED"), run.output


def check_keys(args, options: dict, where: str, problems: list):
    if not isinstance(args, dict):
        return
    for key, value in args.items():
        if key not in options:
            problems.append(f"{where}: unknown option {key!r} (documented: {sorted(options)})")
            continue
        sub = options[key].get("suboptions")
        if sub:
            for item in value if isinstance(value, list) else [value]:
                check_keys(item, sub, f"{where}.{key}", problems)


@pytest.mark.parametrize(("module", "task", "earlier"), EXAMPLES)
def test_example_uses_only_documented_options(module, task, earlier):
    args = task[module_of(task)]
    called = re.sub(r"^(ansible\.legacy\.|kubeha\.ha\.)", "", module_of(task))
    problems: list = []
    check_keys(args, sidecar(called)["DOCUMENTATION"]["options"], called, problems)
    assert not problems, problems


def first_int_option(options: dict) -> str | None:
    return next((name for name, doc in options.items() if doc.get("type") == "int"), None)


@pytest.mark.parametrize("module", MODULES)
def test_the_harness_fails_on_a_wrong_example(localhost, module):
    """Control: the same harness rejects an example with an unknown option or a wrong type."""
    task = next(p.values[1] for p in EXAMPLES if p.values[0] == module)
    key = module_of(task)

    bogus = copy.deepcopy(task)
    bogus[key] = {**bogus[key], "no_such_option": 1}
    run = run_example(localhost, module, bogus)
    assert run.rc != 0 and run.last["_status"] == "FAILED", run.output
    assert "no_such_option" in run.last["msg"] and ARGUMENT_ERROR.search(run.last["msg"]), run.last

    options = sidecar(module)["DOCUMENTATION"]["options"]
    int_option = first_int_option(options)
    if int_option is None:
        return
    mistyped = copy.deepcopy(task)
    mistyped[key] = {**mistyped[key], int_option: "not-a-number"}
    run = run_example(localhost, module, mistyped)
    assert run.rc != 0 and run.last["_status"] == "FAILED", run.output
    assert int_option in run.last["msg"] and ARGUMENT_ERROR.search(run.last["msg"]), run.last


def test_every_module_has_examples():
    assert {p.values[0] for p in EXAMPLES} == set(MODULES)


def test_overrides_name_existing_examples():
    names = {(p.values[0], p.values[1].get("name")) for p in EXAMPLES}
    # Overrides for modules not built here (another branch's) are checked where they are built.
    stale = {key for key in OVERRIDES if key[0] in MODULES} - names
    assert not stale, f"overrides for examples that no longer exist: {stale}"

