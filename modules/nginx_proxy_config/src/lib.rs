//! `nginx_proxy_config`: renders a standalone nginx.conf that proxies TCP to the Kubernetes
//! apiservers (kubespray's nginx-proxy), validates it with the real `nginx -t` and writes it
//! atomically.
//!
//! The config is complete on its own (no includes): an optional `load_module` line for builds
//! that ship the stream module as a dynamic module (Debian, Ubuntu), a `stream` upstream of every
//! control-plane host with passive health accounting (`max_fails`/`fail_timeout`), a listener on
//! 127.0.0.1 (and `::1` when dual-stack), and an optional `http` server on the health port that
//! answers `/healthz` (and `/stub_status`). The same file serves the nginx-proxy static pod
//! (kubespray's way) and nginx run as an OS service (the init script reads its `pid` line).
//!
//! The result carries `checksum` (SHA-1 of the file, as `stat` reports it) for the static pod's
//! `nginx-cfg-checksum` annotation.

mod validate;

use kubeha_runtime::balancer::{self, Balancer, Server};
use kubeha_runtime::file::{self, FileOptions};
use kubeha_runtime::{check, template, DefaultValue, Failure, Kind, Module, Opt, Plan};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use validate::{check_config, NginxCheck};

const TEMPLATE: &str = include_str!("../templates/nginx.conf.j2");
/// nginx's time units (`ngx_parse_time`).
const DURATION_UNITS: &[&str] = &["ms", "s", "m", "h", "d", "w", "M", "y"];
/// Debian and Ubuntu build the stream module dynamically (package libnginx-mod-stream).
pub const DEBIAN_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// The module.
#[derive(Debug)]
pub struct NginxProxyConfig;

const BACKEND: &[Opt] = &[
    Opt::str("name"),
    Opt::str("address").required(),
    Opt::int("port"),
];

impl Module for NginxProxyConfig {
    const NAME: &'static str = "nginx_proxy_config";
    const FILE: Option<FileOptions> =
        Some(FileOptions::config("/etc/nginx/nginx.conf").dir_mode("0700"));
    const SPEC: &'static [Opt] = &[
        Opt::str("nginx_path").default(DefaultValue::Str("nginx")),
        Opt::str("stream_module_path").default(DefaultValue::Str(DEBIAN_STREAM_MODULE)),
        balancer::BIND_ADDRESSES,
        balancer::FRONTEND_PORT,
        balancer::backends(BACKEND),
        balancer::BACKEND_PORT,
        balancer::balance(
            &["least_conn", "round_robin", "random", "hash"],
            "least_conn",
        ),
        Opt::int("max_fails").default(DefaultValue::Int(1)),
        Opt::str("fail_timeout").default(DefaultValue::Str("10s")),
        Opt::str("proxy_timeout").default(DefaultValue::Str("10m")),
        Opt::str("proxy_connect_timeout").default(DefaultValue::Str("1s")),
        Opt::int("healthcheck_port"),
        Opt::list("healthcheck_bind_addresses", Kind::Str).default(DefaultValue::Json(r#"["*"]"#)),
        Opt::bool("stub_status").default(DefaultValue::Bool(true)),
        Opt::str("keepalive_timeout").default(DefaultValue::Str("5m")),
        Opt::str("worker_processes").default(DefaultValue::Str("2")),
        Opt::int("worker_connections").default(DefaultValue::Int(16384)),
        Opt::int("worker_rlimit_nofile").default(DefaultValue::Int(130048)),
        Opt::str("user"),
        Opt::str("pid_file").default(DefaultValue::Str("/run/nginx.pid")),
        Opt::str("error_log").default(DefaultValue::Str("stderr")),
        Opt::str("error_log_level")
            .choices(&[
                "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
            ])
            .default(DefaultValue::Str("notice")),
        Opt::str("stream_access_log"),
    ];
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        let config = Config::from_params(&params)?;
        let content = config.render()?;
        let mut spec = params.file.spec(&params.file.dest, content)?;
        if params.file.validate {
            // nginx -t runs on a twin of the candidate (see `validate`).
            let check = NginxCheck::probe(&params.nginx_path)?;
            spec.validate = Some(Arc::new(validate::Twin { check, config }));
        }
        spec.plan()
    }
}

/// The config text for these options (checked; not validated by nginx).
pub fn render(params: &Params) -> Result<String, Failure> {
    Config::from_params(params)?.render()
}

/// The options, typed (see the sidecar `nginx_proxy_config.yml` for their meaning).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(skip_serializing)]
    pub file: file::FileParams,
    pub nginx_path: String,
    pub stream_module_path: String,
    pub balancer: Balancer,
    pub max_fails: i64,
    pub fail_timeout: String,
    pub proxy_timeout: String,
    pub proxy_connect_timeout: String,
    pub healthcheck_port: Option<i64>,
    pub healthcheck_bind_addresses: Vec<String>,
    pub stub_status: bool,
    pub keepalive_timeout: String,
    pub worker_processes: String,
    pub worker_connections: i64,
    pub worker_rlimit_nofile: i64,
    pub user: Option<String>,
    pub pid_file: String,
    pub error_log: String,
    pub error_log_level: String,
    pub stream_access_log: Option<String>,
}

/// What the template sees: every value checked and pre-formatted.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Config {
    /// The options, checked (`worker_processes` trimmed).
    #[serde(flatten)]
    pub(crate) options: Params,
    stream_module: Option<String>,
    balance: Option<&'static str>,
    servers: Vec<Server>,
    binds: Vec<String>,
    healthcheck_listens: Vec<String>,
}

impl Config {
    pub(crate) fn render(&self) -> Result<String, Failure> {
        template::render("nginx.conf.j2", TEMPLATE, self)
    }

    /// Whether the config loads the stream module itself.
    pub(crate) fn loads_stream_module(&self) -> bool {
        self.stream_module.is_some()
    }

    fn from_params(p: &Params) -> Result<Config, Failure> {
        let frontend_port = p.balancer.frontend_port()?;
        let binds = listen_texts("bind_addresses", &p.balancer.bind_addresses, frontend_port)?;
        let servers = p.balancer.servers()?;
        for (i, server) in servers.iter().enumerate() {
            if servers[..i].iter().any(|s| s.address == server.address) {
                return Err(Failure::new(format!(
                    "option 'backends': {} is listed twice; each apiserver once",
                    server.address
                )));
            }
        }

        for (option, value) in [
            ("fail_timeout", &p.fail_timeout),
            ("proxy_timeout", &p.proxy_timeout),
            ("proxy_connect_timeout", &p.proxy_connect_timeout),
            ("keepalive_timeout", &p.keepalive_timeout),
        ] {
            check::duration(option, value, DURATION_UNITS)?;
        }
        for (option, value, min, max) in [
            ("max_fails", p.max_fails, 0, 1000),
            ("worker_connections", p.worker_connections, 1, 1_048_576),
            (
                "worker_rlimit_nofile",
                p.worker_rlimit_nofile,
                1,
                1_073_741_816,
            ),
        ] {
            check::range(option, value, min, max)?;
        }
        let workers = p.worker_processes.trim();
        if workers != "auto" && !matches!(workers.parse::<u32>(), Ok(1..=1024)) {
            return Err(Failure::new(format!(
                "option 'worker_processes' must be 'auto' or a number from 1 to 1024, got '{}'",
                p.worker_processes
            )));
        }

        let healthcheck_listens = match p.healthcheck_port {
            Some(port) => {
                let port = check::port("healthcheck_port", port)?;
                if port == frontend_port {
                    return Err(Failure::new(format!(
                        "options 'frontend_port' and 'healthcheck_port' are both {port}; each listener needs its own port"
                    )));
                }
                if p.healthcheck_bind_addresses.is_empty() {
                    return Err(Failure::new(
                        "option 'healthcheck_bind_addresses' must list at least one address when 'healthcheck_port' is set",
                    ));
                }
                listen_texts(
                    "healthcheck_bind_addresses",
                    &p.healthcheck_bind_addresses,
                    port,
                )?
            }
            None => Vec::new(),
        };

        let stream_module = match p.stream_module_path.trim() {
            "" => None,
            path => {
                config_path("stream_module_path", path, false)?;
                Some(path.to_owned())
            }
        };
        if let Some(user) = &p.user {
            check::token("user", user, false)?;
            if user.contains([';', '{', '}', '$']) {
                return Err(Failure::new(format!(
                    "option 'user' must be a user name (optionally 'user group'), got '{user}'"
                )));
            }
        }
        config_path("pid_file", &p.pid_file, true)?;
        if p.error_log != "stderr" {
            config_path("error_log", &p.error_log, true).map_err(|_| {
                Failure::new(format!(
                    "option 'error_log' must be 'stderr' or an absolute path, got '{}'",
                    p.error_log
                ))
            })?;
        }
        if let Some(path) = &p.stream_access_log {
            config_path("stream_access_log", path, true)?;
        }

        let mut options = p.clone();
        options.worker_processes = workers.to_owned();
        Ok(Config {
            options,
            stream_module,
            balance: match p.balancer.balance.as_str() {
                "least_conn" => Some("least_conn"),
                "random" => Some("random"),
                "hash" => Some("hash $remote_addr consistent"),
                _ => None,
            },
            servers,
            binds,
            healthcheck_listens,
        })
    }
}

/// `listen` arguments: an IP literal, `*` (all IPv4 addresses) or `::` (all IPv6 addresses).
fn listen_texts(option: &str, addresses: &[String], port: u16) -> Result<Vec<String>, Failure> {
    let mut out: Vec<String> = Vec::with_capacity(addresses.len());
    for address in addresses {
        if address != "*" {
            check::ip(option, address).map_err(|_| {
                Failure::new(format!(
                    "option '{option}' must list IP addresses or '*', got '{address}'"
                ))
            })?;
        }
        let text = check::socket_text(address, port);
        if out.contains(&text) {
            return Err(Failure::new(format!(
                "option '{option}' lists {address} twice"
            )));
        }
        out.push(text);
    }
    Ok(out)
}

/// A file path written as one nginx token: no whitespace, quotes, `;`, braces, `#` or `$`
/// (nginx would read a variable).
fn config_path(option: &str, value: &str, absolute: bool) -> Result<(), Failure> {
    let bad_char =
        check::token(option, value, false).is_err() || value.contains([';', '{', '}', '$']);
    if bad_char || (absolute && !value.starts_with('/')) {
        let what = if absolute {
            "an absolute path"
        } else {
            "a path"
        };
        return Err(Failure::new(format!(
            "option '{option}' must be {what} without spaces, quotes or any of ; {{ }} # $, got '{value}'"
        )));
    }
    Ok(())
}
