"""etcd_config through real ansible-core on localhost, beyond what every file module promises
(test_file_contract.py): it replaces the etcd role's `template` + `set_fact` pair.

The role wrote /etc/default/etcd with ansible.builtin.template (roles/etcd/templates/etcd.env.j2)
and then decided with a set_fact whether a member with data restarts: whether any line other
than the ETCD_INITIAL_* ones changed. TEMPLATE below is that template as it was when etcd_config
came (2026-12-07), and ROLE_TASK the task that replaces both: its KEY=value lines must be the
template's byte for byte and in its order, a host moving from the template's file to the
module's must see no setting change (no restart), and for every change of the role's variables
`restart_needed` must say what the set_fact said.
"""

import json
import subprocess

import pytest
import yaml

from kubeha_test import REPO

ETCD_VARS = {
    "etcd_data_dir": "/var/lib/etcd",
    "etcd_address": "10.199.0.11",
    "etcd_client_port": 2379,
    "etcd_peer_port": 2380,
    "etcd_initial_cluster": "etcd1=https://10.199.0.11:2380,etcd2=https://10.199.0.12:2380,etcd3=https://10.199.0.13:2380",
    "etcd_initial_cluster_state": "new",
    "etcd_initial_cluster_token": "k8s_etcd",
    "etcd_cert_dir": "/etc/ssl/etcd/ssl",
    "etcd_member_name": "etcd1",
    "etcd_node_name": "etcd1",
}

TEMPLATE = """\
# {{ ansible_managed }}
# Read by the etcd service (Debian's /etc/default/etcd); every setting is an etcd flag.
ETCD_NAME={{ etcd_member_name | default(inventory_hostname) }}
ETCD_DATA_DIR={{ etcd_data_dir }}
ETCD_LISTEN_CLIENT_URLS=https://{{ etcd_address }}:{{ etcd_client_port }},https://127.0.0.1:{{ etcd_client_port }}
ETCD_ADVERTISE_CLIENT_URLS=https://{{ etcd_address }}:{{ etcd_client_port }}
ETCD_LISTEN_PEER_URLS=https://{{ etcd_address }}:{{ etcd_peer_port }}
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://{{ etcd_address }}:{{ etcd_peer_port }}
ETCD_INITIAL_CLUSTER={{ etcd_initial_cluster }}
ETCD_INITIAL_CLUSTER_STATE={{ etcd_initial_cluster_state }}
ETCD_INITIAL_CLUSTER_TOKEN={{ etcd_initial_cluster_token }}
ETCD_CLIENT_CERT_AUTH=true
ETCD_TRUSTED_CA_FILE={{ etcd_cert_dir }}/ca.pem
ETCD_CERT_FILE={{ etcd_cert_dir }}/member-{{ etcd_node_name }}.pem
ETCD_KEY_FILE={{ etcd_cert_dir }}/member-{{ etcd_node_name }}-key.pem
ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_PEER_TRUSTED_CA_FILE={{ etcd_cert_dir }}/ca.pem
ETCD_PEER_CERT_FILE={{ etcd_cert_dir }}/member-{{ etcd_node_name }}.pem
ETCD_PEER_KEY_FILE={{ etcd_cert_dir }}/member-{{ etcd_node_name }}-key.pem
"""

# What the role gets instead: the settings in roles/etcd/vars/main.yml, read from there (one
# place for tasks/main.yml and join-member.yml, whose task vars set the ETCD_INITIAL_* ones of a
# joining member), and the task. Here the vars are the task's and dest is the test's; the role's
# task also has `owner: root` and `group: root`.
ROLE_VARS = yaml.safe_dump(
    {"etcd_env_settings": yaml.safe_load((REPO / "roles" / "etcd" / "vars" / "main.yml").read_text())["etcd_env_settings"]},
    sort_keys=False, width=1000,
)
ROLE_TASK = """\
    - name: Etcd | Write the member's configuration
      etcd_config:
        dest: "{{ etcd_env_file }}"
        mode: "0644"
        settings: "{{ etcd_env_settings }}"
      register: etcd_env
      vars:
""" + "".join(f"        {line}\n" for line in ROLE_VARS.splitlines())

# Today's pair: the template, then the set_fact deciding on a restart (roles/etcd/tasks/main.yml).
TEMPLATE_TASKS = """\
    - name: Etcd | Write the member's configuration (the template)
      ansible.builtin.template:
        src: "{{ etcd_template }}"
        dest: "{{ etcd_template_file }}"
        mode: "0644"
      diff: true
      register: etcd_template_env
    - name: Etcd | Say whether the member runs with changed settings
      ansible.builtin.set_fact:
        etcd_settings_changed: >-
          {{ etcd_template_env is changed and etcd_template_env.diff is not mapping
          and (etcd_template_env.diff[0].before | default('')).splitlines() | reject('match', 'ETCD_INITIAL_') | list
          != (etcd_template_env.diff[0].after | default('')).splitlines() | reject('match', 'ETCD_INITIAL_') | list }}
"""


@pytest.fixture
def member(localhost, tmp_path):
    template = tmp_path / "etcd.env.j2"
    template.write_text(TEMPLATE)
    paths = {
        "etcd_template": str(template),
        "etcd_template_file": str(tmp_path / "template" / "etcd"),
        "etcd_env_file": str(tmp_path / "module" / "etcd"),
    }
    (tmp_path / "template").mkdir()
    return localhost, tmp_path, paths


def run(host, tasks, variables, *args):
    run = host.playbook(tasks, "-e", json.dumps(variables), *args)
    assert run.rc == 0, run.output
    return run


def settings_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def read_by_sh(path, keys):
    """The values /bin/sh holds after `set -a; . FILE`, as Debian's init script reads the file."""
    script = "set -a; . \"$1\"; set +a; printf '%s\\0' " + " ".join(f'"${k}"' for k in keys)
    out = subprocess.run(["/bin/sh", "-c", script, "sh", str(path)], capture_output=True, check=True, env={})
    return out.stdout.decode().split("\0")[:-1]


def test_the_role_task_writes_the_templates_lines_in_its_order(member):
    host, tmp_path, paths = member
    variables = {**ETCD_VARS, **paths}
    first = run(host, TEMPLATE_TASKS + ROLE_TASK, variables)
    result = first.last
    templated = (tmp_path / "template" / "etcd").read_text()
    written = (tmp_path / "module" / "etcd").read_text()

    assert settings_lines(written) == settings_lines(templated)
    assert written.splitlines()[2:] == templated.splitlines()[2:], "the same lines, byte for byte"
    assert written.startswith("# Managed by kubeha etcd_config: changes made by hand are overwritten.\n# Read by")
    assert result["changed"] is True and result["restart_needed"] is True
    assert result["changed_settings"] == sorted(line.split("=", 1)[0] for line in settings_lines(written))
    keys = [line.split("=", 1)[0] for line in settings_lines(written)]
    assert read_by_sh(tmp_path / "module" / "etcd", keys) == read_by_sh(tmp_path / "template" / "etcd", keys)

    again = run(host, ROLE_TASK, variables).last
    assert (again["changed"], again["changed_settings"], again["restart_needed"]) == (False, [], False)


def test_a_host_moving_from_the_templates_file_restarts_nothing(member):
    host, tmp_path, paths = member
    # The role's first run with the module finds the template's file (and Debian's mode on it).
    variables = {**ETCD_VARS, **paths, "etcd_env_file": paths["etcd_template_file"]}
    run(host, TEMPLATE_TASKS, variables)
    templated = (tmp_path / "template" / "etcd").read_text()

    check = run(host, ROLE_TASK, variables, "--check", "--diff").last
    assert (check["changed"], check["changed_settings"], check["restart_needed"]) == (True, [], False)
    assert (tmp_path / "template" / "etcd").read_text() == templated, "check mode changed the file"

    moved = run(host, ROLE_TASK, variables).last
    assert (moved["changed"], moved["changed_settings"], moved["restart_needed"]) == (True, [], False)
    assert settings_lines((tmp_path / "template" / "etcd").read_text()) == settings_lines(templated)


CHANGES = [
    pytest.param({}, [], id="nothing"),
    pytest.param({"etcd_initial_cluster_state": "existing"}, ["ETCD_INITIAL_CLUSTER_STATE"], id="initial-state"),
    pytest.param(
        {"etcd_initial_cluster": "etcd1=https://10.199.0.11:2380", "etcd_initial_cluster_token": "other"},
        ["ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_TOKEN"],
        id="initial-cluster",
    ),
    pytest.param({"etcd_data_dir": "/srv/etcd"}, ["ETCD_DATA_DIR"], id="data-dir"),
    pytest.param(
        {"etcd_client_port": 2381, "etcd_initial_cluster_state": "existing"},
        ["ETCD_ADVERTISE_CLIENT_URLS", "ETCD_INITIAL_CLUSTER_STATE", "ETCD_LISTEN_CLIENT_URLS"],
        id="client-port-and-initial-state",
    ),
    pytest.param(
        {"etcd_cert_dir": "/etc/etcd/pki"},
        ["ETCD_CERT_FILE", "ETCD_KEY_FILE", "ETCD_PEER_CERT_FILE", "ETCD_PEER_KEY_FILE", "ETCD_PEER_TRUSTED_CA_FILE",
         "ETCD_TRUSTED_CA_FILE"],
        id="cert-dir",
    ),
]


@pytest.mark.parametrize("change, changed_settings", CHANGES)
def test_restart_needed_says_what_the_set_fact_said(member, change, changed_settings):
    host, tmp_path, paths = member
    variables = {**ETCD_VARS, **paths}
    run(host, TEMPLATE_TASKS + ROLE_TASK, variables)
    before = (tmp_path / "module" / "etcd").read_bytes()
    said = TEMPLATE_TASKS + ROLE_TASK + """\
    - name: Both answers
      ansible.builtin.debug:
        msg: "{{ {'set_fact': etcd_settings_changed, 'module': etcd_env.restart_needed} }}"
"""
    check = run(host, ROLE_TASK, {**variables, **change}, "--check").last
    assert (tmp_path / "module" / "etcd").read_bytes() == before
    answers = run(host, said, {**variables, **change}).last["msg"]
    assert answers["module"] == answers["set_fact"]
    assert answers["module"] == any(not k.startswith("ETCD_INITIAL_") for k in changed_settings)
    assert check["changed_settings"] == changed_settings
    assert check["restart_needed"] == answers["module"]


def test_values_that_need_quoting_reach_the_shell_as_given(localhost, tmp_path):
    dest = tmp_path / "etcd.env"
    values = {
        "ETCD_A": "two words",
        "ETCD_B": "say \"hi\", it's $HOME `id` \\ #x ~/y",
        "ETCD_C": "",
        "ETCD_D": 8589934592,
        "ETCD_E": False,
    }
    task = f"""\
    - name: Etcd | Odd values
      etcd_config:
        dest: {dest}
        settings: {json.dumps(values)}
      register: odd
"""
    result = run(localhost, task, {}).last
    assert result["changed"] is True
    text = dest.read_text()
    assert 'ETCD_A="two words"\n' in text
    assert 'ETCD_B="say \\"hi\\", it\'s \\$HOME \\`id\\` \\\\ #x ~/y"\n' in text
    assert "ETCD_C=\nETCD_D=8589934592\nETCD_E=false\n" in text
    assert read_by_sh(dest, list(values)) == ["two words", values["ETCD_B"], "", "8589934592", "false"]
