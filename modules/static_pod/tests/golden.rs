//! Rendered manifests for the pods users run, compared with reviewed golden files and read back
//! by a real YAML parser. tests/ansible/test_static_pod.py checks the same files against
//! Kubernetes' Pod schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::{golden, params};
use serde_json::{json, Value};
use static_pod::{manifest, render, StaticPod};

const CHECKSUM: &str = "0b9d2b3a7e1c45f6a8d90e12f3a4b5c6d7e8f901";

/// Renders, compares with the golden file, and checks the text reads back as the pod.
fn check(name: &str, options: Value) -> Value {
    let (p, text, _) = golden::<StaticPod>(name, options, render);
    let pod = manifest(&p).unwrap();
    let back: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(back, pod, "{name} does not read back as the pod");
    pod
}

fn container(pod: &Value) -> &Value {
    &pod["spec"]["containers"][0]
}

/// kubespray's haproxy pod with its sample inventory's health port.
#[test]
fn kubespray_haproxy() {
    let pod = check(
        "kubespray-haproxy.yml",
        json!({"preset": "haproxy", "config_checksum": CHECKSUM, "healthcheck_port": 8081}),
    );
    assert_eq!(pod["metadata"]["name"], "haproxy");
    assert_eq!(pod["metadata"]["namespace"], "kube-system");
    assert_eq!(
        pod["metadata"]["annotations"]["haproxy-cfg-checksum"],
        CHECKSUM
    );
    assert_eq!(pod["metadata"]["labels"]["k8s-app"], "kube-haproxy");
    let spec = &pod["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["priorityClassName"], "system-node-critical");
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    let c = container(&pod);
    assert_eq!(c["image"], "docker.io/library/haproxy:2.8.2-alpine");
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "25m", "memory": "32M"}})
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            c[probe],
            json!({"httpGet": {"path": "/healthz", "port": 8081}})
        );
    }
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "etc-haproxy", "mountPath": "/usr/local/etc/haproxy", "readOnly": true}])
    );
    assert!(
        c.get("securityContext").is_none(),
        "haproxy needs no capabilities"
    );
    // The image runs haproxy as uid 99; the config is root's, mode 0640.
    assert_eq!(spec["securityContext"], json!({"supplementalGroups": [0]}));
    assert_eq!(
        spec["volumes"][0]["hostPath"],
        json!({"path": "/etc/haproxy", "type": "Directory"})
    );
}

/// kubespray's nginx-proxy pod, with its image and pull-policy variables set, and the probes
/// on a health server that binds only the loopback address.
#[test]
fn kubespray_nginx_proxy() {
    let pod = check(
        "kubespray-nginx-proxy.yml",
        json!({
            "preset": "nginx-proxy",
            "config_checksum": CHECKSUM,
            "healthcheck_port": "8081",
            "healthcheck_host": "127.0.0.1",
            "image": "registry.local:5000/library/nginx:1.25.2-alpine",
            "image_pull_policy": "Always",
            "cpu_requests": "50m",
            "memory_requests": "64Mi",
        }),
    );
    assert_eq!(pod["metadata"]["name"], "nginx-proxy");
    assert_eq!(
        pod["metadata"]["annotations"]["nginx-cfg-checksum"],
        CHECKSUM
    );
    assert_eq!(pod["metadata"]["labels"]["k8s-app"], "kube-nginx");
    let c = container(&pod);
    assert_eq!(c["name"], "nginx-proxy");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["livenessProbe"]["httpGet"]["host"], "127.0.0.1");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/nginx");
    assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    assert!(
        pod["spec"].get("securityContext").is_none(),
        "nginx reads its config as root"
    );
}

/// Without a health port there is nothing to probe (kubespray's default).
#[test]
fn no_health_port_no_probes() {
    let p = params::<StaticPod>(json!({"preset": "haproxy"})).unwrap();
    let pod = manifest(&p).unwrap();
    assert!(container(&pod).get("livenessProbe").is_none());
    assert!(container(&pod).get("readinessProbe").is_none());
    assert!(pod["metadata"].get("annotations").is_none());
}

/// keepalived as kubeadm's HA guide runs it: VRRP's capabilities, and only those.
#[test]
fn kubeadm_keepalived() {
    let pod = check(
        "keepalived.yml",
        json!({"preset": "keepalived", "config_checksum": CHECKSUM}),
    );
    assert_eq!(
        pod["metadata"]["annotations"]["keepalived-cfg-checksum"],
        CHECKSUM
    );
    let c = container(&pod);
    assert_eq!(
        c["securityContext"],
        json!({"capabilities": {"add": ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]}})
    );
    assert_eq!(c["command"][5], "/etc/keepalived/keepalived.conf");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/keepalived");
    assert_eq!(pod["spec"]["hostNetwork"], true);
    assert_eq!(pod["spec"]["priorityClassName"], "system-node-critical");
}

/// Any pod given as data, with strings a YAML 1.1 reader would mistype if they were not quoted.
#[test]
fn custom_pod_as_data() {
    let pod = check(
        "custom.yml",
        json!({
            "preset": "custom",
            "name": "vip-probe",
            "config_checksum": "1234567890abcdef1234",
            "labels": {"tier": "control-plane"},
            "annotations": {"example.org/owner": "platform team", "example.org/enabled": "yes"},
            "spec": {
                "hostNetwork": true,
                "priorityClassName": "system-node-critical",
                "containers": [{
                    "name": "probe",
                    "image": "registry.example.org/vip-probe:1.0",
                    "command": ["/bin/sh", "-c", "set -e\nexec vip-probe --port 6443\n"],
                    "env": [
                        {"name": "ENABLED", "value": "on"},
                        {"name": "MODE", "value": "0640"},
                        {"name": "AT", "value": "12:30"},
                    ],
                    "ports": [{"containerPort": 6443, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "10m"}, "limits": {"memory": "64Mi"}},
                }],
            },
        }),
    );
    assert_eq!(
        pod["metadata"]["annotations"]["config-checksum"],
        "1234567890abcdef1234"
    );
    assert!(pod["metadata"]
        .get("labels")
        .unwrap()
        .get("k8s-app")
        .is_none());
    let text = std::fs::read_to_string("tests/golden/custom.yml").unwrap();
    for quoted in [
        "value: \"on\"",
        "value: \"0640\"",
        "value: \"12:30\"",
        "example.org/enabled: \"yes\"",
        "config-checksum: \"1234567890abcdef1234\"",
    ] {
        assert!(text.contains(quoted), "{quoted} not in:\n{text}");
    }
    assert!(text.contains("        - |\n          set -e\n          exec vip-probe --port 6443\n"));
}

/// The checksum annotation's name can follow another convention.
#[test]
fn checksum_annotation_override() {
    let p = params::<StaticPod>(json!({
        "preset": "haproxy",
        "config_checksum": CHECKSUM,
        "checksum_annotation": "kubeha.io/config-sha1",
    }))
    .unwrap();
    let pod = manifest(&p).unwrap();
    assert_eq!(
        pod["metadata"]["annotations"],
        json!({"kubeha.io/config-sha1": CHECKSUM})
    );
}
