"""The modules that write a file, described once for the tests they share (test_file_contract.py,
test_file_modes.py) and for their own: a valid task, where it writes, a change, what the module
refuses, its secret and its validator.

keepalived_config runs on a sandbox host: `keepalived -t` rejects interfaces the host does not
have, and the module finds the VRRP interface from the subnet holding the VIP. So its runs happen
in a private network namespace (`unshare --net`, gone with the process) whose eth0 has
198.51.100.2/24 and 2001:db8:5::2/64: a known host, with nothing configured outside it and no
traffic leaving it.
"""

import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest

from conftest import Localhost

SANDBOX_SETUP = """\
set -e
ip link set lo up
ip link add eth0 type veth peer name kh-peer0
ip address add 198.51.100.2/24 dev eth0
ip address add 2001:db8:5::2/64 dev eth0 nodad
ip link set eth0 up
ip link set kh-peer0 up
exec "$@"
"""


def sandbox_available() -> bool:
    ok = os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")
    if not ok and os.environ.get("KUBEHA_REQUIRE_TOOLS"):
        pytest.fail("these tests need root, unshare and ip (KUBEHA_REQUIRE_TOOLS is set)")
    return bool(ok)


class SandboxHost(Localhost):
    """Localhost, run inside a private network namespace with a known eth0."""

    def _run(self, argv, callback):
        return super()._run(["unshare", "--net", "sh", "-c", SANDBOX_SETUP, "sandbox", *argv], callback)


def sandbox_host(tmp_path) -> SandboxHost:
    if not sandbox_available():
        pytest.skip("needs root, unshare and ip for a private network namespace")
    assert shutil.which("keepalived") or os.path.exists("/usr/sbin/keepalived"), "keepalived must be installed"
    return SandboxHost(tmp_path)


@dataclass
class Validator:
    """The daemon that checks the file before it replaces anything."""

    rejected: dict  # options that pass the module's own checks and that the daemon rejects
    says: list  # in the failure message ({dest}: the file's path)
    output_says: str  # in its own output, `validate_output`


@dataclass
class FileModule:
    name: str
    host: Callable  # tmp_path -> the host to run on
    dest: str  # where the task writes, under tmp_path
    args: Callable  # dest -> the task's options
    dir_mode: int
    content: list  # lines of the file the task writes
    change: dict  # options that change the file ...
    diff: tuple  # ... as a diff shows it: the line removed, the lines added
    bad: list  # (options, what the failure says), beyond the unknown option every module refuses
    vars: dict = field(default_factory=dict)  # the task's vars (secrets come from a variable)
    reports: dict = field(default_factory=dict)  # fields of the first result
    adhoc: Optional[tuple] = None  # `ansible -a` arguments ({dest}) and lines of the file
    secret: Optional[str] = None
    validator: Optional[Validator] = None


def task(module: FileModule, dest, extra=None, raw="", register="result", vars=None) -> str:
    """The module's task writing `dest`, `extra` options on top (a None removes one), `raw` YAML
    option lines as users write them, for a play's task list."""
    options = {**module.args(dest), **(extra or {})}
    lines = "".join(f"        {k}: {json.dumps(v)}\n" for k, v in options.items() if v is not None)
    task_vars = {**module.vars, **(vars or {})}
    var_lines = "".join(f"        {k}: {json.dumps(v)}\n" for k, v in task_vars.items())
    return (
        f"    - name: Write {module.name}\n      {module.name}:\n{lines}{raw}"
        + (f"      vars:\n{var_lines}" if var_lines else "")
        + f"      register: {register}\n"
    )


CONTROL_PLANE = [
    {"name": "cp1", "address": "10.199.0.11"},
    {"name": "cp2", "address": "10.199.0.12"},
    {"name": "cp3", "address": "10.199.0.13"},
]
ADHOC_BACKENDS = "backends='[{\"name\": \"cp1\", \"address\": \"10.199.0.11\"}]'"
STATS_PASSWORD = "Stats-Pa55-never-shown"
# Eight characters: the most VRRP PASS authentication carries.
VRRP_PASSWORD = "Kv7_pQ2z"
CHECK = "/usr/bin/true"
SUM_A = "1111111111111111111111111111111111111111"
SUM_B = "2222222222222222222222222222222222222222"

HAPROXY = FileModule(
    name="haproxy_config",
    host=Localhost,
    dest="etc/haproxy/haproxy.cfg",
    args=lambda dest: {
        "dest": str(dest), "bind_addresses": ["0.0.0.0"], "frontend_port": 8443, "stats_port": 9000,
        "stats_user": "admin", "stats_password": "{{ stats_password }}", "backends": CONTROL_PLANE,
    },
    vars={"stats_password": STATS_PASSWORD},
    dir_mode=0o755,
    content=["    bind 0.0.0.0:8443\n", "    server cp3 10.199.0.13:6443 check", f"    stats auth admin:{STATS_PASSWORD}\n"],
    change={"balance": "roundrobin"},
    diff=("-    balance leastconn", ["+    balance roundrobin"]),
    adhoc=(f"dest={{dest}} frontend_port=8443 backup=yes validate=true {ADHOC_BACKENDS}", ["bind 127.0.0.1:8443"]),
    bad=[
        ({"check_rise": "often"}, "option 'check_rise' (in haproxy_config module) expects an integer"),
        ({"bind_addresses": ["10.0.0.300"]}, "option 'bind_addresses' must be an IP address or '*', got '10.0.0.300'"),
        ({"backends": []}, "option 'backends' must list at least one server"),
        ({"log_target": "127.0.0.1 nofacility"}, "rejected by `"),
    ],
    secret=STATS_PASSWORD,
    validator=Validator({"log_target": "127.0.0.1 nofacility"}, ["nofacility"], "nofacility"),
)

NGINX = FileModule(
    name="nginx_proxy_config",
    host=Localhost,
    dest="etc/nginx/nginx.conf",
    args=lambda dest: {"dest": str(dest), "healthcheck_port": 8081, "backends": CONTROL_PLANE},
    dir_mode=0o700,
    content=["server 10.199.0.13:6443 max_fails=1 fail_timeout=10s;  # cp3"],
    change={"proxy_timeout": "30m"},
    diff=("-        proxy_timeout 10m;", ["+        proxy_timeout 30m;"]),
    adhoc=(
        f"dest={{dest}} frontend_port=8443 backup=yes stub_status=no bind_addresses=127.0.0.1,::1 {ADHOC_BACKENDS}",
        ["listen 127.0.0.1:8443;", "listen [::1]:8443;"],
    ),
    bad=[
        ({"max_fails": "often"}, "option 'max_fails' (in nginx_proxy_config module) expects an integer"),
        ({"bind_addresses": ["10.0.0.300"]}, "option 'bind_addresses' must list IP addresses or '*', got '10.0.0.300'"),
        ({"frontend_port": 70000}, "option 'frontend_port' must be a port (1-65535), got 70000"),
        ({"fail_timeout": "soon"}, "option 'fail_timeout' must be a duration like 30s"),
        ({"backends": []}, "option 'backends' must list at least one server"),
        ({"user": "no-such-user-kubeha"}, "rejected by `"),
    ],
    validator=Validator(
        {"user": "no-such-user-kubeha"},
        ['getpwnam("no-such-user-kubeha") failed', "in {dest}:"],  # dest's line, not a scratch file's
        "no-such-user-kubeha",
    ),
)

KEEPALIVED = FileModule(
    name="keepalived_config",
    host=sandbox_host,
    dest="etc/keepalived/keepalived.conf",
    args=lambda dest: {
        "dest": str(dest), "vips": ["198.51.100.100/24"], "peers": ["lb1", "lb2"], "this_host": "lb1",
        "auth_pass": "{{ vrrp_password }}", "notify_master": f"{CHECK} master",
        "scripts": [{"name": "chk_lb", "script": CHECK, "interval": 2, "fall": 2, "rise": 2, "weight": -30}],
    },
    vars={"vrrp_password": VRRP_PASSWORD},
    dir_mode=0o755,
    # Derived: first peer is MASTER at priority_base, eth0 holds the VIP's subnet, the VRID comes
    # from cluster_name 'cluster.local' and the VIP.
    reports={"instances": [{
        "name": "VI_1", "state": "MASTER", "priority": 150, "virtual_router_id": 148, "interface": "eth0",
        "vips": ["198.51.100.100"], "unicast_peers": [],
    }]},
    content=[
        "        198.51.100.100/24 dev eth0\n", "    weight -30\n", f'    notify_master "{CHECK} master"\n',
        f"        auth_pass {VRRP_PASSWORD}\n",
    ],
    change={"this_host": "lb2"},
    diff=("-    state MASTER", ["+    state BACKUP", "+    priority 140"]),
    adhoc=(
        "dest={dest} vips=198.51.100.100/24 peers=198.51.100.2,198.51.100.3 this_host=198.51.100.2 "
        "unicast=yes advert_int=3 virtual_router_id=68 backup=true",
        ["    virtual_router_id 68\n    priority 150\n    advert_int 3\n", "    unicast_peer {\n        198.51.100.3\n    }\n"],
    ),
    bad=[
        ({"priority_base": "high"}, "option 'priority_base' (in keepalived_config module) expects an integer"),
        ({"vips": ["198.51.100.300/24"]}, "option 'vips[0]' must be an IP address"),
        ({"virtual_router_id": 0}, "option 'virtual_router_id' must be between 1 and 255, got 0"),
        ({"virtual_router_id": 256}, "option 'virtual_router_id' must be between 1 and 255, got 256"),
        ({"vips": ["203.0.113.9/24"]}, "same subnet as the VIP 203.0.113.9"),
        ({"unicast": True}, "option 'this_host' must be this host's IP address for unicast VRRP"),
        ({"interface": "eth9"}, "rejected by `"),
    ],
    secret=VRRP_PASSWORD,
    validator=Validator({"interface": "eth9"}, ["interface eth9", "-t -e -f"], "eth9"),
)

STATIC_POD = FileModule(
    name="static_pod",
    host=Localhost,
    dest="etc/kubernetes/manifests/haproxy.yml",
    args=lambda dest: {
        "preset": "haproxy", "manifest_dir": str(dest.parent), "config_dir": "/etc/haproxy",
        "config_checksum": SUM_A, "healthcheck_port": 8081,
    },
    dir_mode=0o755,
    reports={"name": "haproxy"},
    content=[f'    haproxy-cfg-checksum: "{SUM_A}"\n'],
    change={"config_checksum": SUM_B},
    diff=(f'-    haproxy-cfg-checksum: "{SUM_A}"', [f'+    haproxy-cfg-checksum: "{SUM_B}"']),
    bad=[
        ({"healthcheck_port": "http"}, "option 'healthcheck_port' (in static_pod module) expects an integer"),
        ({"name": "Nginx_Proxy"}, "option 'name' must be a DNS-1123 subdomain"),
        ({"memory_requests": "32MB"}, "option 'memory_requests' must be a Kubernetes quantity"),
        ({"config_checksum": "not-a-digest"}, "option 'config_checksum' must be a hex digest"),
    ],
)

# A proxy with a password in its URL: the one kind of secret an etcd service's environment holds.
ETCD_PROXY = "http://etcd:Pr0xy-Pa55-never-shown@proxy.example.com:3128"
ETCD_SETTINGS = {"ETCD_NAME": "etcd1", "ETCD_DATA_DIR": "/var/lib/etcd", "ETCD_INITIAL_CLUSTER_STATE": "new"}

ETCD = FileModule(
    name="etcd_config",
    host=Localhost,
    dest="etc/default/etcd",
    args=lambda dest: {
        "dest": str(dest), "settings": ETCD_SETTINGS, "secret_settings": {"HTTPS_PROXY": "{{ etcd_proxy }}"},
    },
    vars={"etcd_proxy": ETCD_PROXY},
    dir_mode=0o755,
    reports={
        "changed_settings": ["ETCD_DATA_DIR", "ETCD_INITIAL_CLUSTER_STATE", "ETCD_NAME", "HTTPS_PROXY"],
        "restart_needed": True,
    },
    content=["\nETCD_NAME=etcd1\nETCD_DATA_DIR=/var/lib/etcd\nETCD_INITIAL_CLUSTER_STATE=new\n", f"HTTPS_PROXY={ETCD_PROXY}\n"],
    change={"settings": {**ETCD_SETTINGS, "ETCD_DATA_DIR": "/srv/etcd"}},
    diff=("-ETCD_DATA_DIR=/var/lib/etcd", ["+ETCD_DATA_DIR=/srv/etcd"]),
    adhoc=(
        "dest={dest} settings='ETCD_NAME=etcd1 ETCD_DATA_DIR=/d' restart_ignore=ETCD_INITIAL_,ETCD_D backup=yes",
        ["\nETCD_NAME=etcd1\nETCD_DATA_DIR=/d\n"],
    ),
    bad=[
        ({"settings": {"etcd_name": "x"}}, "option 'settings': 'etcd_name' is not a setting name"),
        ({"settings": {"ETCD_NAME": "a\nETCD_DATA_DIR=/tmp"}}, "option 'settings': the value of ETCD_NAME must be one line"),
        ({"settings": {"ETCD_NAME": 1.5}}, "the value of ETCD_NAME must be a string, an integer or a boolean, got number 1.5"),
        ({"settings": "ETCD_NAME"}, "option 'settings' (in etcd_config module) expects a dictionary"),
        ({"restart_ignore": ["initial"]}, "option 'restart_ignore' must list setting name prefixes such as ETCD_INITIAL_"),
        ({"secret_settings": {"ETCD_NAME": "x"}}, "option 'secret_settings': ETCD_NAME is in 'settings' too"),
    ],
    secret=ETCD_PROXY,
)

MODULES = {m.name: m for m in (HAPROXY, NGINX, KEEPALIVED, STATIC_POD, ETCD)}


def on_host(name, tmp_path):
    """Module `name`, a host to run it on (in tmp_path) and the path of its file there."""
    module = MODULES[name]
    return module, module.host(tmp_path), tmp_path / module.dest
