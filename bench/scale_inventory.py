#!/usr/bin/env python3
"""A lab inventory of 3 control-plane hosts and N workers (bench/scale_bench.py), kubespray-shaped.

Workers boot tini (sshd and Debian's init scripts, no systemd): the node-local load balancer is
a static pod, so they run no service of ours, and a hundred of them start in seconds. Nothing is
preinstalled: kubespray's loadbalancer tasks do not validate the configs they write, so neither
side does here (loadbalancer_config_validate is false, kubeha's default).

  bench/scale_inventory.py DIR [N]   writes DIR/inventory.ini and DIR/group_vars (N: 100)
  LAB_INVENTORY=DIR/inventory.ini tests/lab/lab up    brings that lab up
"""

import sys
from pathlib import Path

GROUP_VARS = """\
---
# How Ansible reaches the lab's hosts (as inventory/lab/group_vars/all/lab.yml).
ansible_user: root
ansible_python_interpreter: /usr/bin/python3
ansible_pipelining: true
loadbalancer_apiserver_port: 6443
loadbalancer_apiserver_healthcheck_port: 8081
"""


def write_inventory(directory: Path, workers: int = 100) -> Path:
    if not 1 <= workers <= 200:
        raise ValueError(f"workers must be 1-200 (one /24 with the control plane), got {workers}")
    directory.mkdir(parents=True, exist_ok=True)
    cps = [(f"cp{i}", f"10.199.0.{10 + i}") for i in range(1, 4)]
    nodes = [(f"w{i:03d}", f"10.199.0.{50 + i}") for i in range(1, workers + 1)]
    line = "{0} ansible_host={1} ip={1} access_ip={1} lab_init=tini"
    text = "\n".join([
        f"# The scale lab: 3 control-plane hosts and {workers} workers (bench/scale_inventory.py).",
        "[all]", *(line.format(*h) for h in cps + nodes), "",
        "[kube_control_plane]", *(h for h, _ in cps), "",
        "[etcd]", *(h for h, _ in cps), "",
        "[kube_node]", *(h for h, _ in nodes), "",
        "[k8s_cluster:children]", "kube_control_plane", "kube_node", "",
        "[all:vars]", "lab_controller_ip=10.199.0.2", "lab_prefix_len=24", "",
    ])
    inventory = directory / "inventory.ini"
    inventory.write_text(text)
    (directory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (directory / "group_vars" / "all" / "lab.yml").write_text(GROUP_VARS)
    return inventory


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    print(write_inventory(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) == 3 else 100))
