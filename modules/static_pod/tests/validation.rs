//! Bad input fails with a message naming the option and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::{assert_refusals, refusal};
use serde_json::{json, Value};
use static_pod::{manifest_path, render, replaced_paths, StaticPod};

fn error(options: &Value) -> String {
    refusal::<StaticPod, _>(options, |p| {
        manifest_path(p)
            .and_then(|_| replaced_paths(p))
            .and_then(|_| render(p))
    })
}

fn custom(spec: Value) -> Value {
    json!({"preset": "custom", "name": "x", "spec": spec})
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (json!({"preset": null}), "missing required arguments: preset"),
        (json!({"preset": "envoy"}), "option 'preset' (in static_pod) must be one of: haproxy, nginx-proxy, keepalived, custom; got: envoy"),
        (json!({"state": "running"}), "option 'state' (in static_pod) must be one of: present, absent"),
        (json!({"name": "Nginx_Proxy"}), "option 'name' must be a DNS-1123 subdomain"),
        (json!({"namespace": "kube.system"}), "option 'namespace' must be a DNS-1123 label"),
        (json!({"file_name": "../etc/passwd"}), "option 'file_name' must be a file name (no '/', not starting with '.')"),
        (json!({"file_name": ".haproxy.yml"}), "option 'file_name' must be a file name"),
        (json!({"replaces": ["../nginx-proxy.yml"]}), "option 'replaces' must be a file name (no '/', not starting with '.'), got '../nginx-proxy.yml'"),
        (json!({"replaces": ["haproxy.yml"]}), "option 'replaces' names this pod's own manifest 'haproxy.yml'"),
        (json!({"preset": "haproxy", "state": "absent", "replaces": ["nginx-proxy.yml"]}), "option 'replaces' is only used with state: present"),
        (json!({"replaces": "nginx-proxy.yml,"}), "option 'replaces' must be a file name"),
        (json!({"manifest_dir": "manifests"}), "option 'manifest_dir' must be an absolute path"),
        (json!({"healthcheck_port": 0}), "option 'healthcheck_port' must be a port (1-65535), got 0"),
        (json!({"healthcheck_port": "http"}), "option 'healthcheck_port' (in static_pod) expects an integer"),
        (json!({"healthcheck_host": "127.0.0.1"}), "option 'healthcheck_host' needs 'healthcheck_port'"),
        (json!({"preset": "haproxy", "healthcheck_port": 8081, "healthcheck_host": "not a host"}), "option 'healthcheck_host' must be an IP address or a DNS name"),
        (json!({"preset": "keepalived", "healthcheck_port": 8081}), "option 'healthcheck_port': keepalived serves no HTTP health endpoint"),
        (json!({"config_checksum": "not-a-digest"}), "option 'config_checksum' must be a hex digest"),
        (json!({"checksum_annotation": "bad key!"}), "option 'checksum_annotation' has the key 'bad key!'"),
        (json!({"preset": "haproxy", "config_checksum": "abcdef0123", "annotations": {"haproxy-cfg-checksum": "x"}}), "option 'annotations' sets 'haproxy-cfg-checksum'"),
        (json!({"cpu_requests": "a lot"}), "option 'cpu_requests' must be a Kubernetes quantity"),
        (json!({"memory_requests": "32MB"}), "option 'memory_requests' must be a Kubernetes quantity"),
        (json!({"image": "nginx latest"}), "option 'image' must be an image reference"),
        (json!({"image_pull_policy": "sometimes"}), "option 'image_pull_policy' (in static_pod) must be one of"),
        (json!({"config_dir": "etc/haproxy"}), "option 'config_dir' must be an absolute path"),
        (json!({"labels": {"k8s-app": 5}}), "option 'labels': the value of 'k8s-app' must be a string"),
        (json!({"labels": {"tier": "front end"}}), "option 'labels': the value of 'tier' must be empty or at most 63"),
        (json!({"annotations": {"-bad": "x"}}), "option 'annotations' has the key '-bad'"),
        (json!({"spec": {"containers": []}}), "option 'spec' is for preset: custom"),
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
        (json!({"colour": "red"}), "Unsupported parameters for (static_pod): colour. Supported parameters include: annotations,"),
    ];
    assert_refusals(error, &json!({"preset": "haproxy"}), &cases);
}
