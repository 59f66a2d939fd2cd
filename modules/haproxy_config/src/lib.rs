//! `haproxy_config`: renders haproxy.cfg for a Kubernetes apiserver load balancer, validates it
//! with the real `haproxy -c` and writes it atomically.
//!
//! It expresses both of the shapes users run:
//! - kubespray's node-local LB: frontend on 127.0.0.1 (and `::1` when dual-stack), an optional
//!   `/healthz` monitor frontend, every control-plane host as a backend checked with
//!   `GET /healthz` over TLS, kubespray's timings;
//! - a VIP-fronted LB on dedicated or control-plane hosts: bind on the VIP or 0.0.0.0, any
//!   balance algorithm, per-server check timings, an optional stats page with a password.
//!
//! The result carries `checksum` (SHA-1 of the file, as `stat` reports it) so a static pod
//! manifest can carry it in its `haproxy-cfg-checksum` annotation.

use kubeha_runtime::balancer::{self, Balancer, Server};
use kubeha_runtime::file::{self, FileOptions};
use kubeha_runtime::validate::{self, Validator};
use kubeha_runtime::{check, template, DefaultValue, Failure, Module, Opt, Plan};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const TEMPLATE: &str = include_str!("../templates/haproxy.cfg.j2");
const DURATION_UNITS: &[&str] = &["us", "ms", "s", "m", "h", "d"];

/// The module.
#[derive(Debug)]
pub struct HaproxyConfig;

const BACKEND: &[Opt] = &[
    Opt::str("name").required(),
    Opt::str("address").required(),
    Opt::int("port"),
];

impl Module for HaproxyConfig {
    const NAME: &'static str = "haproxy_config";
    const FILE: Option<FileOptions> = Some(FileOptions::config("/etc/haproxy/haproxy.cfg"));
    const SPEC: &'static [Opt] = &[
        Opt::str("haproxy_path").default(DefaultValue::Str("haproxy")),
        Opt::bool("warnings_as_errors").default(DefaultValue::Bool(false)),
        balancer::BIND_ADDRESSES,
        balancer::FRONTEND_PORT,
        balancer::backends(BACKEND),
        balancer::BACKEND_PORT,
        balancer::balance(&["leastconn", "roundrobin", "source"], "leastconn"),
        Opt::str("health_check")
            .choices(&["https", "tcp", "none"])
            .default(DefaultValue::Str("https")),
        Opt::str("health_check_path").default(DefaultValue::Str("/healthz")),
        Opt::str("check_inter").default(DefaultValue::Str("15s")),
        Opt::str("check_downinter").default(DefaultValue::Str("15s")),
        Opt::int("check_rise").default(DefaultValue::Int(2)),
        Opt::int("check_fall").default(DefaultValue::Int(2)),
        Opt::str("check_slowstart").default(DefaultValue::Str("60s")),
        Opt::int("server_maxconn").default(DefaultValue::Int(1000)),
        Opt::int("server_maxqueue").default(DefaultValue::Int(256)),
        Opt::int("server_weight").default(DefaultValue::Int(100)),
        Opt::int("maxconn").default(DefaultValue::Int(4000)),
        Opt::int("retries").default(DefaultValue::Int(5)),
        Opt::str("timeout_connect").default(DefaultValue::Str("30s")),
        Opt::str("timeout_client").default(DefaultValue::Str("5m")),
        Opt::str("timeout_server").default(DefaultValue::Str("15m")),
        Opt::str("timeout_check").default(DefaultValue::Str("30s")),
        Opt::int("healthcheck_port"),
        Opt::str("healthcheck_bind_address").default(DefaultValue::Str("*")),
        Opt::int("stats_port"),
        Opt::str("stats_bind_address").default(DefaultValue::Str("127.0.0.1")),
        Opt::str("stats_uri").default(DefaultValue::Str("/stats")),
        Opt::str("stats_user"),
        Opt::str("stats_password").no_log(),
        Opt::path("stats_socket"),
        Opt::str("log_target"),
    ];
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        let content = render(&params)?;
        let mut spec = params.file.spec(&params.file.dest, content)?;
        if params.file.validate {
            let haproxy = validate::program(&params.haproxy_path, "haproxy_path", "haproxy")?;
            let mut argv = vec![haproxy.to_string_lossy().into_owned(), "-c".into()];
            if params.warnings_as_errors {
                argv.push("-dW".into());
            }
            argv.extend(["-f".into(), "%s".into()]);
            spec.validate = Some(Arc::new(Validator::new(argv)));
        }
        spec.plan()
    }
}

/// The config text for these options (checked; not validated by haproxy).
pub fn render(params: &Params) -> Result<String, Failure> {
    let config = Config::from_params(params)?;
    template::render("haproxy.cfg.j2", TEMPLATE, &config)
}

/// The options, typed (see the sidecar `haproxy_config.yml` for their meaning).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(skip_serializing)]
    pub file: file::FileParams,
    pub haproxy_path: String,
    pub warnings_as_errors: bool,
    pub balancer: Balancer,
    pub health_check: String,
    pub health_check_path: String,
    pub check_inter: String,
    pub check_downinter: String,
    pub check_rise: i64,
    pub check_fall: i64,
    pub check_slowstart: String,
    pub server_maxconn: i64,
    pub server_maxqueue: i64,
    pub server_weight: i64,
    pub maxconn: i64,
    pub retries: i64,
    pub timeout_connect: String,
    pub timeout_client: String,
    pub timeout_server: String,
    pub timeout_check: String,
    pub healthcheck_port: Option<i64>,
    pub healthcheck_bind_address: String,
    pub stats_port: Option<i64>,
    pub stats_bind_address: String,
    pub stats_uri: String,
    pub stats_user: Option<String>,
    pub stats_password: Option<String>,
    pub stats_socket: Option<String>,
    pub log_target: Option<String>,
}

/// What the template sees: the options, once checked, and the values derived from them.
#[derive(Debug, Serialize)]
struct Config<'a> {
    #[serde(flatten)]
    options: &'a Params,
    binds: Vec<String>,
    servers: Vec<Server>,
    healthcheck_bind: Option<String>,
    stats_bind: Option<String>,
    stats_auth: Option<String>,
    server_check: &'static str,
}

impl Config<'_> {
    fn from_params(p: &Params) -> Result<Config<'_>, Failure> {
        let frontend_port = p.balancer.frontend_port()?;
        let binds = p
            .balancer
            .bind_addresses
            .iter()
            .map(|a| bind_text("bind_addresses", a, frontend_port))
            .collect::<Result<Vec<_>, _>>()?;
        let servers = p.balancer.servers()?;

        for (option, value) in [
            ("check_inter", &p.check_inter),
            ("check_downinter", &p.check_downinter),
            ("check_slowstart", &p.check_slowstart),
            ("timeout_connect", &p.timeout_connect),
            ("timeout_client", &p.timeout_client),
            ("timeout_server", &p.timeout_server),
            ("timeout_check", &p.timeout_check),
        ] {
            check::duration(option, value, DURATION_UNITS)?;
        }
        for (option, value, min, max) in [
            ("check_rise", p.check_rise, 1, 1_000_000),
            ("check_fall", p.check_fall, 1, 1_000_000),
            ("server_maxconn", p.server_maxconn, 0, 1_000_000),
            ("server_maxqueue", p.server_maxqueue, 0, 1_000_000),
            ("server_weight", p.server_weight, 0, 256),
            ("maxconn", p.maxconn, 1, 1_000_000),
            ("retries", p.retries, 0, 1_000_000),
        ] {
            check::range(option, value, min, max)?;
        }
        check::uri_path("health_check_path", &p.health_check_path)?;

        let mut ports = vec![("frontend_port", frontend_port)];
        let healthcheck_bind = match p.healthcheck_port {
            Some(port) => {
                let port = check::port("healthcheck_port", port)?;
                ports.push(("healthcheck_port", port));
                Some(bind_text(
                    "healthcheck_bind_address",
                    &p.healthcheck_bind_address,
                    port,
                )?)
            }
            None => None,
        };
        let stats_bind = match p.stats_port {
            Some(port) => {
                let port = check::port("stats_port", port)?;
                ports.push(("stats_port", port));
                check::uri_path("stats_uri", &p.stats_uri)?;
                Some(bind_text(
                    "stats_bind_address",
                    &p.stats_bind_address,
                    port,
                )?)
            }
            None => None,
        };
        for (i, (a, pa)) in ports.iter().enumerate() {
            if let Some((b, _)) = ports[i + 1..].iter().find(|(_, pb)| pb == pa) {
                return Err(Failure::new(format!(
                    "options '{a}' and '{b}' are both {pa}; each listener needs its own port"
                )));
            }
        }
        let stats_auth = match (&p.stats_user, &p.stats_password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                if p.stats_port.is_none() {
                    return Err(Failure::new(
                        "options 'stats_user'/'stats_password' need 'stats_port' (the stats page they protect)",
                    ));
                }
                check::token("stats_user", user, false)?;
                if user.contains(':') {
                    return Err(Failure::new("option 'stats_user' must not contain ':'"));
                }
                check::token("stats_password", password, true)?;
                Some(format!("{user}:{password}"))
            }
            _ => {
                return Err(Failure::new(
                    "options 'stats_user' and 'stats_password' must be given together",
                ))
            }
        };
        if let Some(target) = &p.log_target {
            if target.trim().is_empty() || target.contains(['\n', '#']) {
                return Err(Failure::new(format!(
                    "option 'log_target' must be one haproxy log line such as '127.0.0.1 local0', got '{target}'"
                )));
            }
        }
        if let Some(socket) = &p.stats_socket {
            if !socket.starts_with('/') || socket.contains(char::is_whitespace) {
                return Err(Failure::new(format!(
                    "option 'stats_socket' must be an absolute path without spaces, got '{socket}'"
                )));
            }
        }

        Ok(Config {
            options: p,
            binds,
            servers,
            healthcheck_bind,
            stats_bind,
            stats_auth,
            server_check: match p.health_check.as_str() {
                "https" => " check check-ssl verify none",
                "tcp" => " check",
                _ => "",
            },
        })
    }
}

/// A bind line's address: an IP literal or `*` (all IPv4 addresses).
fn bind_text(option: &str, address: &str, port: u16) -> Result<String, Failure> {
    if address != "*" {
        check::ip(option, address).map_err(|_| {
            Failure::new(format!(
                "option '{option}' must be an IP address or '*', got '{address}'"
            ))
        })?;
    }
    Ok(check::socket_text(address, port))
}
