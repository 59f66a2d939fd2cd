//! `static_pod`: writes (or removes) a static pod manifest in the kubelet's manifest directory.
//!
//! Presets shape the pods the way kubespray (haproxy, nginx-proxy) and kubeadm's HA guide
//! (keepalived) do: a v1 Pod in kube-system on the host network, `system-node-critical`,
//! Linux nodes only, resource requests only, the config directory mounted read-only, probes on
//! the load balancer's `/healthz` when it has a health port, and capabilities only for
//! keepalived, which needs them to manage the VIP. `preset: custom` takes any pod spec.
//!
//! `config_checksum` (the `checksum` a config module returns) goes into an annotation, so a
//! config change changes the manifest and the kubelet recreates the pod.
//!
//! The manifest is written by a YAML emitter of our own (`yaml`), deterministic and safe for
//! the kubelet's YAML 1.1 reader.

pub mod k8s;
pub mod yaml;

use kubeha_runtime::file::{self, FileOptions};
use kubeha_runtime::{check, DefaultValue, Failure, Kind, Module, Opt, Plan};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// kubespray's images (`haproxy_image_repo:tag`, `nginx_image_repo:tag`) and, for keepalived,
/// the image kubeadm's HA guide uses, at its last release.
pub const HAPROXY_IMAGE: &str = "docker.io/library/haproxy:2.8.2-alpine";
pub const NGINX_IMAGE: &str = "docker.io/library/nginx:1.25.2-alpine";
pub const KEEPALIVED_IMAGE: &str = "docker.io/osixia/keepalived:2.0.20";

/// One kind of pod the module knows how to shape.
#[derive(Debug)]
struct Preset {
    /// Pod name (and manifest file name) when `name` is not given.
    name: &'static str,
    container: &'static str,
    /// The `k8s-app` label.
    app: &'static str,
    annotation: &'static str,
    image: &'static str,
    config_dir: &'static str,
    /// Where the image expects its config; `None`: the same path as on the host.
    mount_path: Option<&'static str>,
    volume: &'static str,
    capabilities: &'static [&'static str],
    /// Whether the daemon serves `/healthz` (for probes).
    has_health_port: bool,
    /// Whether the image runs the daemon as a user other than root, who then needs group 0
    /// to read a config that is root's and not world-readable.
    runs_as_non_root: bool,
}

const HAPROXY: Preset = Preset {
    name: "haproxy",
    container: "haproxy",
    app: "kube-haproxy",
    annotation: "haproxy-cfg-checksum",
    image: HAPROXY_IMAGE,
    config_dir: "/etc/haproxy",
    // The official image runs `haproxy -f /usr/local/etc/haproxy/haproxy.cfg`.
    mount_path: Some("/usr/local/etc/haproxy"),
    volume: "etc-haproxy",
    capabilities: &[],
    has_health_port: true,
    // The official image has `USER haproxy` (uid 99), while haproxy_config writes the config
    // 0640 and root's (kubespray's 0755 is what lets its pod read it).
    runs_as_non_root: true,
};

const NGINX_PROXY: Preset = Preset {
    name: "nginx-proxy",
    container: "nginx-proxy",
    app: "kube-nginx",
    annotation: "nginx-cfg-checksum",
    image: NGINX_IMAGE,
    config_dir: "/etc/nginx",
    mount_path: Some("/etc/nginx"),
    volume: "etc-nginx",
    capabilities: &[],
    has_health_port: true,
    // The nginx master runs as root and reads the config before it starts the workers.
    runs_as_non_root: false,
};

const KEEPALIVED: Preset = Preset {
    name: "keepalived",
    container: "keepalived",
    app: "kube-keepalived",
    annotation: "keepalived-cfg-checksum",
    image: KEEPALIVED_IMAGE,
    config_dir: "/etc/keepalived",
    // Mounted at the host's path and named on the command line, so scripts the config names
    // by absolute path work the same in the pod as under an init system.
    mount_path: None,
    volume: "etc-keepalived",
    // What VRRP needs: addresses and routes, raw sockets, multicast/broadcast adverts.
    capabilities: &["NET_ADMIN", "NET_BROADCAST", "NET_RAW"],
    has_health_port: false,
    runs_as_non_root: false,
};

/// The annotation a custom pod's checksum goes into unless `checksum_annotation` says.
const CUSTOM_ANNOTATION: &str = "config-checksum";

fn preset(name: &str) -> Option<&'static Preset> {
    match name {
        "haproxy" => Some(&HAPROXY),
        "nginx-proxy" => Some(&NGINX_PROXY),
        "keepalived" => Some(&KEEPALIVED),
        _ => None,
    }
}

/// The module.
#[derive(Debug)]
pub struct StaticPod;

impl Module for StaticPod {
    const NAME: &'static str = "static_pod";
    // Named by `manifest_dir` and `file_name`; no `backup` (see `plan`).
    const FILE: Option<FileOptions> = Some(FileOptions::named_by_module());
    const SPEC: &'static [Opt] = &[
        Opt::str("preset")
            .required()
            .choices(&["haproxy", "nginx-proxy", "keepalived", "custom"]),
        Opt::str("name"),
        Opt::str("state")
            .choices(&["present", "absent"])
            .default(DefaultValue::Str("present")),
        Opt::path("manifest_dir").default(DefaultValue::Str("/etc/kubernetes/manifests")),
        Opt::str("file_name"),
        Opt::list("replaces", Kind::Str).default(DefaultValue::Json("[]")),
        Opt::str("namespace").default(DefaultValue::Str("kube-system")),
        Opt::str("image"),
        Opt::str("image_pull_policy")
            .choices(&["IfNotPresent", "Always", "Never"])
            .default(DefaultValue::Str("IfNotPresent")),
        Opt::path("config_dir"),
        Opt::str("config_checksum"),
        Opt::str("checksum_annotation"),
        Opt::int("healthcheck_port"),
        Opt::str("healthcheck_host"),
        Opt::str("cpu_requests").default(DefaultValue::Str("25m")),
        Opt::str("memory_requests").default(DefaultValue::Str("32M")),
        Opt::dict("labels"),
        Opt::dict("annotations"),
        Opt::dict("spec"),
    ];
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        let dest = manifest_path(&params)?;
        let name = pod_name(&params)?;
        let replaced = replaced_paths(&params)?;
        let mut plan = if params.state == "absent" {
            // No backup option: the kubelet runs every file in its manifest directory that does
            // not start with a dot, a backup included.
            file::plan_absent(&dest)?
        } else {
            let content = render(&params)?;
            // The pods this one replaces go first, as kubespray removes them first: both bind
            // the same port on the host network, so the new one could not start beside them.
            let mut plan = Plan::new();
            let mut removed = Vec::new();
            for path in &replaced {
                let remove = file::plan_absent(path)?;
                if remove.changed() {
                    removed.push(path.to_string_lossy().into_owned());
                }
                plan.merge(remove);
            }
            // The runtime writes through `.<name>.*` temp files, which the kubelet ignores.
            plan.merge(params.file.spec(dest, content)?.plan()?);
            plan.set("removed", removed);
            plan
        };
        plan.set("name", name);
        plan.set("state", params.state);
        Ok(plan)
    }
}

/// The options, typed (see the sidecar `static_pod.yml` for their meaning).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub preset: String,
    pub name: Option<String>,
    pub state: String,
    pub manifest_dir: String,
    pub file_name: Option<String>,
    pub replaces: Vec<String>,
    pub namespace: String,
    pub image: Option<String>,
    pub image_pull_policy: String,
    pub config_dir: Option<String>,
    pub config_checksum: Option<String>,
    pub checksum_annotation: Option<String>,
    pub healthcheck_port: Option<i64>,
    pub healthcheck_host: Option<String>,
    pub cpu_requests: String,
    pub memory_requests: String,
    pub labels: Option<Map<String, Value>>,
    pub annotations: Option<Map<String, Value>>,
    pub spec: Option<Map<String, Value>>,
    pub file: file::FileParams,
}

/// The pod's name: `name`, else the preset's.
fn pod_name(p: &Params) -> Result<String, Failure> {
    let name = match (&p.name, preset(&p.preset)) {
        (Some(name), _) => name.clone(),
        (None, Some(preset)) => preset.name.to_owned(),
        (None, None) => {
            return Err(Failure::new(
                "option 'name' is required with preset: custom",
            ))
        }
    };
    k8s::dns_subdomain("name", &name)?;
    Ok(name)
}

/// `<manifest_dir>/<file_name>`, the file name defaulting to `<name>.yml`.
pub fn manifest_path(p: &Params) -> Result<PathBuf, Failure> {
    let file_name = match &p.file_name {
        Some(f) => f.clone(),
        None => format!("{}.yml", pod_name(p)?),
    };
    manifest_file("file_name", &file_name)?;
    if !p.manifest_dir.starts_with('/') {
        return Err(Failure::new(format!(
            "option 'manifest_dir' must be an absolute path, got '{}'",
            p.manifest_dir
        )));
    }
    Ok(Path::new(&p.manifest_dir).join(file_name))
}

/// The manifests `replaces` names, in `manifest_dir`: other files than this pod's own.
pub fn replaced_paths(p: &Params) -> Result<Vec<PathBuf>, Failure> {
    if p.state == "absent" && !p.replaces.is_empty() {
        return Err(Failure::new(
            "option 'replaces' is only used with state: present",
        ));
    }
    let own = manifest_path(p)?;
    p.replaces
        .iter()
        .map(|name| {
            manifest_file("replaces", name)?;
            let path = Path::new(&p.manifest_dir).join(name);
            if path == own {
                return Err(Failure::new(format!(
                    "option 'replaces' names this pod's own manifest '{name}'"
                )));
            }
            Ok(path)
        })
        .collect()
}

/// A manifest's file name: the kubelet skips dot files; a path would escape the directory.
fn manifest_file(option: &str, name: &str) -> Result<(), Failure> {
    if name.is_empty() || name.starts_with('.') || name.contains('/') {
        return Err(Failure::new(format!(
            "option '{option}' must be a file name (no '/', not starting with '.'), got '{name}'"
        )));
    }
    Ok(())
}

/// The manifest text: a header comment and the pod as YAML.
pub fn render(p: &Params) -> Result<String, Failure> {
    let pod = manifest(p)?;
    Ok(format!(
        "# Managed by kubeha static_pod: changes made by hand are overwritten.\n---\n{}",
        yaml::to_yaml(&pod)
    ))
}

/// The pod, checked, as a JSON value.
pub fn manifest(p: &Params) -> Result<Value, Failure> {
    let name = pod_name(p)?;
    k8s::dns_label("namespace", &p.namespace)?;
    let preset = preset(&p.preset);

    let mut labels = Map::new();
    if let Some(preset) = preset {
        labels.insert("addonmanager.kubernetes.io/mode".into(), "Reconcile".into());
        labels.insert("k8s-app".into(), preset.app.into());
    }
    for (key, value) in string_map("labels", p.labels.as_ref())? {
        k8s::qualified_name("labels", &key)?;
        k8s::label_value("labels", &key, &value)?;
        labels.insert(key, value.into());
    }

    let mut annotations = Map::new();
    for (key, value) in string_map("annotations", p.annotations.as_ref())? {
        k8s::qualified_name("annotations", &key)?;
        annotations.insert(key, value.into());
    }
    let checksum_key = p.checksum_annotation.clone().unwrap_or_else(|| {
        preset
            .map_or(CUSTOM_ANNOTATION, |preset| preset.annotation)
            .to_owned()
    });
    k8s::qualified_name("checksum_annotation", &checksum_key)?;
    if let Some(sum) = &p.config_checksum {
        let key = checksum_key;
        if sum.len() < 8 || sum.len() > 128 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::new(format!(
                "option 'config_checksum' must be a hex digest such as the 'checksum' a config module returns, got '{sum}'"
            )));
        }
        if annotations.contains_key(&key) {
            return Err(Failure::new(format!(
                "option 'annotations' sets '{key}', the annotation config_checksum fills; drop one of them"
            )));
        }
        annotations.insert(key, sum.clone().into());
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), name.into());
    metadata.insert("namespace".into(), p.namespace.clone().into());
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }

    let spec = match preset {
        Some(preset) => preset_spec(preset, p)?,
        None => custom_spec(p)?,
    };
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
    }))
}

fn preset_spec(preset: &Preset, p: &Params) -> Result<Value, Failure> {
    if p.spec.is_some() {
        return Err(Failure::new(format!(
            "option 'spec' is for preset: custom; preset {} shapes the pod itself",
            p.preset
        )));
    }
    let image = p.image.as_deref().unwrap_or(preset.image);
    image_reference("image", image)?;
    k8s::quantity("cpu_requests", &p.cpu_requests)?;
    k8s::quantity("memory_requests", &p.memory_requests)?;
    let config_dir = p.config_dir.as_deref().unwrap_or(preset.config_dir);
    if !config_dir.starts_with('/') || config_dir.contains(char::is_whitespace) {
        return Err(Failure::new(format!(
            "option 'config_dir' must be an absolute path without spaces, got '{config_dir}'"
        )));
    }
    let config_dir = config_dir.trim_end_matches('/');
    let config_dir = if config_dir.is_empty() {
        "/"
    } else {
        config_dir
    };
    let mount_path = preset.mount_path.unwrap_or(config_dir);

    let mut container = json!({
        "name": preset.container,
        "image": image,
        "imagePullPolicy": p.image_pull_policy,
        "resources": {
            "requests": {"cpu": p.cpu_requests, "memory": p.memory_requests},
        },
        "volumeMounts": [{"name": preset.volume, "mountPath": mount_path, "readOnly": true}],
    });
    if preset.name == KEEPALIVED.name {
        container["command"] = json!([
            "/usr/local/sbin/keepalived",
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--use-file",
            format!("{mount_path}/keepalived.conf"),
        ]);
    }
    if !preset.capabilities.is_empty() {
        container["securityContext"] = json!({"capabilities": {"add": preset.capabilities}});
    }
    match (p.healthcheck_port, preset.has_health_port) {
        (Some(_), false) => {
            return Err(Failure::new(format!(
                "option 'healthcheck_port': {} serves no HTTP health endpoint to probe",
                p.preset
            )))
        }
        (Some(port), true) => {
            let port = check::port("healthcheck_port", port)?;
            let mut get = json!({"path": "/healthz", "port": port});
            if let Some(host) = &p.healthcheck_host {
                check::host("healthcheck_host", host)?;
                get["host"] = host.clone().into();
            }
            container["livenessProbe"] = json!({"httpGet": get});
            container["readinessProbe"] = json!({"httpGet": get});
        }
        (None, _) => {
            if p.healthcheck_host.is_some() {
                return Err(Failure::new(
                    "option 'healthcheck_host' needs 'healthcheck_port' (the probes it addresses)",
                ));
            }
        }
    }

    let mut spec = json!({
        "hostNetwork": true,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "priorityClassName": "system-node-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [container],
        "volumes": [{
            "name": preset.volume,
            // Directory: the kubelet refuses to start the pod on a missing config rather than
            // running the daemon on an empty one.
            "hostPath": {"path": config_dir, "type": "Directory"},
        }],
    });
    if preset.runs_as_non_root {
        // Group 0 as a supplementary group reads a root-owned 0640 config without running the
        // daemon as root.
        spec["securityContext"] = json!({"supplementalGroups": [0]});
    }
    Ok(spec)
}

fn custom_spec(p: &Params) -> Result<Value, Failure> {
    for (option, given) in [
        ("image", p.image.is_some()),
        ("config_dir", p.config_dir.is_some()),
        ("healthcheck_port", p.healthcheck_port.is_some()),
        ("healthcheck_host", p.healthcheck_host.is_some()),
    ] {
        if given {
            return Err(Failure::new(format!(
                "option '{option}' shapes the presets; with preset: custom, put it in 'spec'"
            )));
        }
    }
    let spec = p.spec.as_ref().ok_or_else(|| {
        Failure::new("option 'spec' (the pod's spec: containers, volumes, ...) is required with preset: custom")
    })?;
    for key in ["apiVersion", "kind", "metadata", "spec"] {
        if spec.contains_key(key) {
            return Err(Failure::new(format!(
                "option 'spec' is the pod's spec (containers, volumes, ...), not a whole pod: it has the key '{key}'"
            )));
        }
    }
    let containers = match spec.get("containers") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(Failure::new(
                "option 'spec' must have a non-empty 'containers' list",
            ))
        }
    };
    let mut names: Vec<&str> = Vec::new();
    for (i, container) in containers.iter().enumerate() {
        let here = format!("spec.containers[{i}]");
        let Value::Object(container) = container else {
            return Err(Failure::new(format!(
                "option '{here}' must be a dictionary"
            )));
        };
        let name = match container.get("name") {
            Some(Value::String(name)) => name,
            _ => {
                return Err(Failure::new(format!(
                    "option '{here}.name' is required (a DNS-1123 label)"
                )))
            }
        };
        k8s::dns_label(&format!("{here}.name"), name)?;
        if names.contains(&name.as_str()) {
            return Err(Failure::new(format!(
                "option 'spec.containers': the name '{name}' is used twice"
            )));
        }
        names.push(name);
        match container.get("image") {
            Some(Value::String(image)) => image_reference(&format!("{here}.image"), image)?,
            _ => {
                return Err(Failure::new(format!(
                    "option '{here}.image' is required (a static pod cannot take it from elsewhere)"
                )))
            }
        }
    }
    Ok(Value::Object(spec.clone()))
}

fn image_reference(option: &str, image: &str) -> Result<(), Failure> {
    if !image.is_empty() && image.chars().all(|c| c.is_ascii_graphic()) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' must be an image reference such as {NGINX_IMAGE}, got '{image}'"
    )))
}

/// A dict option whose values must be strings (labels, annotations).
fn string_map(
    option: &str,
    map: Option<&Map<String, Value>>,
) -> Result<Vec<(String, String)>, Failure> {
    let Some(map) = map else {
        return Ok(Vec::new());
    };
    map.iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            other => Err(Failure::new(format!(
                "option '{option}': the value of '{key}' must be a string (quote it), got {}",
                kubeha_runtime::spec::describe(other)
            ))),
        })
        .collect()
}
