"""static_pod through real ansible-core 2.19 on localhost, against a temp manifest directory,
beyond what every file module promises (test_file_contract.py).

Every manifest the module writes is read back with PyYAML (a YAML 1.1 reader, like the kubelet's)
and checked against Kubernetes' Pod schema with kubernetes-validate (bundled schemas, offline),
strictly: an unknown or misspelt field fails too.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from kubeha_test import REPO

# The oldest and newest Kubernetes releases whose schemas kubernetes-validate bundles and that a
# kubespray of our generation deploys or will deploy.
K8S_VERSIONS = ["1.25", "1.37"]
GOLDEN = sorted((REPO / "modules" / "static_pod" / "tests" / "golden").glob("*.yml"))


def assert_valid_pod(path: Path) -> dict:
    """Reads a manifest as the kubelet would and checks it against the Pod schema."""
    pod = yaml.safe_load(path.read_text())
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(pod, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{path.name} is not a valid Pod for Kubernetes {version}: {e.message} at {list(e.path)}")
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    return pod


@pytest.mark.parametrize("golden", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_manifests_pass_the_pod_schema(golden):
    assert_valid_pod(golden)


def test_schema_check_catches_a_mistyped_value(tmp_path):
    """The check itself has teeth: `value: on` unquoted is a boolean to a YAML 1.1 reader."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n"
        "    - name: x\n      image: x\n      env:\n        - name: A\n          value: on\n"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(yaml.safe_load(bad.read_text()), "1.37", strict=True)


@pytest.fixture
def dirs(tmp_path):
    manifests = tmp_path / "etc" / "kubernetes" / "manifests"
    config = tmp_path / "etc" / "haproxy"
    return manifests, config


def lb_tasks(manifests, config, frontend_port=6443):
    """kubespray's haproxy variant: the config (validated by the real haproxy), then its pod."""
    return f"""\
    - name: Haproxy | Write haproxy config
      haproxy_config:
        dest: {config}/haproxy.cfg
        frontend_port: {frontend_port}
        healthcheck_port: 8081
        backends:
          - {{name: cp1, address: 10.199.0.11}}
          - {{name: cp2, address: 10.199.0.12}}
      register: haproxy_stat
    - name: Haproxy | Write static pod
      static_pod:
        preset: haproxy
        manifest_dir: {manifests}
        config_dir: {config}
        config_checksum: "{{{{ haproxy_stat.checksum }}}}"
        healthcheck_port: 8081
      register: pod
"""


def test_haproxy_pod_carries_the_config_checksum_and_is_idempotent(localhost, dirs):
    manifests, config = dirs
    first = localhost.playbook(lb_tasks(manifests, config))
    assert first.rc == 0, first.output
    assert first.last["changed"] is True
    manifest = manifests / "haproxy.yml"
    pod = assert_valid_pod(manifest)
    cfg_sha1 = hashlib.sha1((config / "haproxy.cfg").read_bytes()).hexdigest()
    assert pod["metadata"]["annotations"]["haproxy-cfg-checksum"] == cfg_sha1
    assert first.last["checksum"] == hashlib.sha1(manifest.read_bytes()).hexdigest()
    assert oct(manifest.stat().st_mode & 0o7777) == "0o640"
    spec = pod["spec"]
    assert spec["hostNetwork"] is True
    assert spec["priorityClassName"] == "system-node-critical"
    container = spec["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8081}
    assert container["volumeMounts"][0]["readOnly"] is True
    assert spec["volumes"][0]["hostPath"]["path"] == str(config)

    before = manifest.read_bytes()
    second = localhost.playbook(lb_tasks(manifests, config))
    assert second.rc == 0, second.output
    assert [r["changed"] for r in second.results] == [False, False]
    assert manifest.read_bytes() == before


def pod_user_can_read(path: Path, uid: int, groups: list) -> bool:
    """Whether a process with `uid` and supplementary `groups` (as the pod's securityContext
    gives them) can read `path`, asked of the real kernel with setpriv."""
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o755)
        copy = Path(scratch) / path.name
        shutil.copy2(path, copy)
        os.chown(copy, path.stat().st_uid, path.stat().st_gid)
        groups_arg = ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
        proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", *groups_arg, "cat", str(copy)],
                              capture_output=True, timeout=30)
        return proc.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_haproxy_image_user_can_read_the_config(localhost, dirs):
    """The haproxy image runs as uid 99 and haproxy_config writes the config 0640 and root's:
    the pod's supplementary group 0 is what lets haproxy read it."""
    manifests, config = dirs
    assert localhost.playbook(lb_tasks(manifests, config)).rc == 0
    pod = assert_valid_pod(manifests / "haproxy.yml")
    groups = pod["spec"]["securityContext"]["supplementalGroups"]
    cfg = config / "haproxy.cfg"
    assert oct(cfg.stat().st_mode & 0o7777) == "0o640" and cfg.stat().st_uid == 0
    assert pod_user_can_read(cfg, 99, groups)
    assert not pod_user_can_read(cfg, 99, []), "without the group the check proves nothing"


def test_a_config_change_changes_the_pod(localhost, dirs):
    """What makes the kubelet recreate the pod: the manifest changes with the config."""
    manifests, config = dirs
    assert localhost.playbook(lb_tasks(manifests, config)).rc == 0
    old = yaml.safe_load((manifests / "haproxy.yml").read_text())
    run = localhost.playbook(lb_tasks(manifests, config, frontend_port=7443), "--diff", callback="default")
    assert run.rc == 0, run.output
    new = assert_valid_pod(manifests / "haproxy.yml")
    old_sum = old["metadata"]["annotations"]["haproxy-cfg-checksum"]
    new_sum = new["metadata"]["annotations"]["haproxy-cfg-checksum"]
    assert old_sum != new_sum
    assert f'-    haproxy-cfg-checksum: "{old_sum}"' in run.output
    assert f'+    haproxy-cfg-checksum: "{new_sum}"' in run.output


def test_variant_switch_removes_the_other_pod(localhost, dirs):
    """kubespray's first loadbalancer step: delete the other variant's static pod."""
    manifests, config = dirs
    assert localhost.playbook(lb_tasks(manifests, config)).rc == 0
    switch = f"""\
    - name: Nginx-proxy | Delete haproxy static pod
      static_pod:
        preset: haproxy
        state: absent
        manifest_dir: {manifests}
    - name: Nginx-proxy | Write static pod
      static_pod:
        preset: nginx-proxy
        manifest_dir: {manifests}
        config_dir: {config.parent / "nginx"}
        healthcheck_port: 8081
        healthcheck_host: 127.0.0.1
"""
    run = localhost.playbook(switch, "--check")
    assert run.rc == 0, run.output
    assert [r["changed"] for r in run.results] == [True, True]
    assert sorted(p.name for p in manifests.iterdir()) == ["haproxy.yml"]

    run = localhost.playbook(switch)
    assert run.rc == 0, run.output
    assert [r["changed"] for r in run.results] == [True, True]
    assert sorted(p.name for p in manifests.iterdir()) == ["nginx-proxy.yml"], "no backup or temp file left"
    pod = assert_valid_pod(manifests / "nginx-proxy.yml")
    assert pod["metadata"]["labels"]["k8s-app"] == "kube-nginx"
    assert pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["host"] == "127.0.0.1"

    again = localhost.playbook(switch)
    assert [r["changed"] for r in again.results] == [False, False]


def test_keepalived_pod_gets_vrrp_capabilities(localhost, tmp_path):
    manifests = tmp_path / "manifests"
    run = localhost.playbook(f"""\
    - name: Keepalived | Write static pod
      static_pod:
        preset: keepalived
        manifest_dir: {manifests}
        config_checksum: da39a3ee5e6b4b0d3255bfef95601890afd80709
""")
    assert run.rc == 0, run.output
    pod = assert_valid_pod(manifests / "keepalived.yml")
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]
    assert pod["metadata"]["annotations"]["keepalived-cfg-checksum"] == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_custom_pod_spec_round_trips_through_a_yaml_1_1_reader(localhost, tmp_path):
    """Strings a YAML 1.1 reader would take for booleans, octal numbers, sexagesimals or dates
    arrive as the same strings, and the pod is still schema-valid."""
    manifests = tmp_path / "manifests"
    tricky = ["on", "yes", "No", "0640", "12:30", "2001-12-14", "1_000", "~", "<<", "=", "-1", ".inf",
              "a: b", "#x", "multi\nline\n", "caf\u00e9"]
    env = "".join(f"              - {{name: V{i}, value: {yaml.safe_dump(v, default_style=chr(34)).strip()}}}\n"
                  for i, v in enumerate(tricky))
    run = localhost.playbook(f"""\
    - name: Custom | Write static pod
      static_pod:
        preset: custom
        name: tricky
        manifest_dir: {manifests}
        annotations:
          example.org/enabled: "yes"
        spec:
          hostNetwork: true
          containers:
            - name: app
              image: registry.example.org/app:1.0
              args: ["--port", "6443", "-v"]
              env:
{env}""")
    assert run.rc == 0, run.output
    pod = assert_valid_pod(manifests / "tricky.yml")
    values = [e["value"] for e in pod["spec"]["containers"][0]["env"]]
    assert values == tricky
    assert pod["metadata"]["annotations"] == {"example.org/enabled": "yes"}
    assert pod["spec"]["containers"][0]["args"] == ["--port", "6443", "-v"]


def test_adhoc_string_arguments_are_coerced(localhost, tmp_path):
    manifests = tmp_path / "manifests"
    run = localhost.adhoc("static_pod", f"preset=nginx-proxy manifest_dir={manifests} healthcheck_port=8081")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    pod = assert_valid_pod(manifests / "nginx-proxy.yml")
    assert pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] == 8081
