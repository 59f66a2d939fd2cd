//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::params;
use serde_json::{json, Value};
use static_pod::{manifest_path, render, replaced_paths, StaticPod};

fn error(options: Value) -> String {
    match params::<StaticPod>(options.clone()) {
        Err(e) => e.msg,
        Ok(p) => match manifest_path(&p)
            .and_then(|_| replaced_paths(&p))
            .and_then(|_| render(&p))
        {
            Err(e) => e.msg,
            Ok(_) => format!("accepted: {options}"),
        },
    }
}

fn with(key: &str, value: Value) -> Value {
    let mut v = json!({"preset": "haproxy"});
    v[key] = value;
    v
}

fn custom(spec: Value) -> Value {
    json!({"preset": "custom", "name": "x", "spec": spec})
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (json!({}), "missing required arguments: preset"),
        (with("preset", json!("envoy")), "option 'preset' (in static_pod) must be one of: haproxy, nginx-proxy, keepalived, custom; got: envoy"),
        (with("state", json!("running")), "option 'state' (in static_pod) must be one of: present, absent"),
        (with("name", json!("Nginx_Proxy")), "option 'name' must be a DNS-1123 subdomain"),
        (with("namespace", json!("kube.system")), "option 'namespace' must be a DNS-1123 label"),
        (with("file_name", json!("../etc/passwd")), "option 'file_name' must be a file name (no '/', not starting with '.')"),
        (with("file_name", json!(".haproxy.yml")), "option 'file_name' must be a file name"),
        (with("replaces", json!(["../nginx-proxy.yml"])), "option 'replaces' must be a file name (no '/', not starting with '.'), got '../nginx-proxy.yml'"),
        (with("replaces", json!(["haproxy.yml"])), "option 'replaces' names this pod's own manifest 'haproxy.yml'"),
        (json!({"preset": "haproxy", "state": "absent", "replaces": ["nginx-proxy.yml"]}), "option 'replaces' is only used with state: present"),
        (with("replaces", json!("nginx-proxy.yml,")), "option 'replaces' must be a file name"),
        (with("manifest_dir", json!("manifests")), "option 'manifest_dir' must be an absolute path"),
        (with("healthcheck_port", json!(0)), "option 'healthcheck_port' must be a port (1-65535), got 0"),
        (with("healthcheck_port", json!("http")), "option 'healthcheck_port' (in static_pod) expects an integer"),
        (with("healthcheck_host", json!("127.0.0.1")), "option 'healthcheck_host' needs 'healthcheck_port'"),
        (json!({"preset": "haproxy", "healthcheck_port": 8081, "healthcheck_host": "not a host"}), "option 'healthcheck_host' must be an IP address or a DNS name"),
        (json!({"preset": "keepalived", "healthcheck_port": 8081}), "option 'healthcheck_port': keepalived serves no HTTP health endpoint"),
        (with("config_checksum", json!("not-a-digest")), "option 'config_checksum' must be a hex digest"),
        (with("checksum_annotation", json!("bad key!")), "option 'checksum_annotation' has the key 'bad key!'"),
        (json!({"preset": "haproxy", "config_checksum": "abcdef0123", "annotations": {"haproxy-cfg-checksum": "x"}}), "option 'annotations' sets 'haproxy-cfg-checksum'"),
        (with("cpu_requests", json!("a lot")), "option 'cpu_requests' must be a Kubernetes quantity"),
        (with("memory_requests", json!("32MB")), "option 'memory_requests' must be a Kubernetes quantity"),
        (with("image", json!("nginx latest")), "option 'image' must be an image reference"),
        (with("image_pull_policy", json!("sometimes")), "option 'image_pull_policy' (in static_pod) must be one of"),
        (with("config_dir", json!("etc/haproxy")), "option 'config_dir' must be an absolute path"),
        (with("labels", json!({"k8s-app": 5})), "option 'labels': the value of 'k8s-app' must be a string"),
        (with("labels", json!({"tier": "front end"})), "option 'labels': the value of 'tier' must be empty or at most 63"),
        (with("annotations", json!({"-bad": "x"})), "option 'annotations' has the key '-bad'"),
        (with("spec", json!({"containers": []})), "option 'spec' is for preset: custom"),
        (json!({"preset": "custom", "spec": {"containers": []}}), "option 'name' is required with preset: custom"),
        (json!({"preset": "custom", "name": "x"}), "option 'spec' (the pod's spec: containers, volumes, ...) is required with preset: custom"),
        (custom(json!({"containers": []})), "option 'spec' must have a non-empty 'containers' list"),
        (custom(json!({"apiVersion": "v1", "containers": [{"name": "a", "image": "b"}]})), "not a whole pod: it has the key 'apiVersion'"),
        (custom(json!({"containers": ["nginx"]})), "option 'spec.containers[0]' must be a dictionary"),
        (custom(json!({"containers": [{"image": "nginx"}]})), "option 'spec.containers[0].name' is required"),
        (custom(json!({"containers": [{"name": "Web", "image": "nginx"}]})), "option 'spec.containers[0].name' must be a DNS-1123 label"),
        (custom(json!({"containers": [{"name": "web"}]})), "option 'spec.containers[0].image' is required"),
        (custom(json!({"containers": [{"name": "a", "image": "b"}, {"name": "a", "image": "c"}]})), "the name 'a' is used twice"),
        (json!({"preset": "custom", "name": "x", "image": "nginx", "spec": {"containers": [{"name": "a", "image": "b"}]}}), "option 'image' shapes the presets; with preset: custom, put it in 'spec'"),
        (with("colour", json!("red")), "Unsupported parameters for (static_pod): colour. Supported parameters include: annotations,"),
    ];
    for (options, expected) in cases {
        let msg = error(options.clone());
        assert!(
            msg.contains(expected),
            "for {options}:\n  got: {msg}\n  want: {expected}"
        );
    }
}
