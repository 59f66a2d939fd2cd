//! `keepalived_config`: renders keepalived.conf for the VRRP instances that hold a Kubernetes API
//! VIP, validates it with the real `keepalived -t` and writes it atomically.
//!
//! The common case is one VIP and is written with top-level options only: the VIP, the ordered
//! list of the LB hosts (`peers`) and this host's entry in it (`this_host`). From those the module
//! derives what users otherwise hand-write per host and get wrong: the state and priority (first
//! peer MASTER, then descending), the interface (the one whose subnet holds the VIP), a
//! `virtual_router_id` that differs between clusters, and the unicast peers. Several instances
//! (dual VIPs, active/active) are `instances`, each inheriting the top-level values it does not
//! set.

mod config;
pub mod net;

use kubeha_runtime::file::{self, FileOptions};
use kubeha_runtime::validate::{self, Validator};
use kubeha_runtime::{template, DefaultValue, Failure, Kind, Module, Opt, Plan};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use config::Config;
pub use kubeha_runtime::net::HostAddr;

const TEMPLATE: &str = include_str!("../templates/keepalived.conf.j2");

/// The module.
#[derive(Debug)]
pub struct KeepalivedConfig;

const SCRIPT: &[Opt] = &[
    Opt::str("name").required(),
    Opt::str("script").required(),
    Opt::int("interval").default(DefaultValue::Int(1)),
    Opt::int("timeout"),
    Opt::int("fall"),
    Opt::int("rise"),
    Opt::int("weight"),
];

/// The VRRP settings: each instance's own, else the top-level option of the same name, whose
/// defaults are thereby every instance's. At the top level they are `Params::vrrp`.
const VRRP: [Opt; 22] = [
    Opt::list("vips", Kind::Str),
    Opt::str("interface"),
    Opt::str("state").choices(&["MASTER", "BACKUP"]),
    Opt::int("priority"),
    Opt::int("virtual_router_id"),
    Opt::new("advert_int", Kind::Float).default(DefaultValue::Int(1)),
    Opt::int("vrrp_version").choices(&["2", "3"]),
    Opt::str("auth_pass").no_log(),
    Opt::list("peers", Kind::Str),
    Opt::bool("unicast").default(DefaultValue::Bool(false)),
    Opt::str("unicast_src_ip"),
    Opt::list("unicast_peers", Kind::Str),
    Opt::bool("nopreempt").default(DefaultValue::Bool(false)),
    Opt::new("preempt_delay", Kind::Float),
    Opt::list("track_scripts", Kind::Str),
    Opt::str("notify_master"),
    Opt::str("notify_backup"),
    Opt::str("notify_fault"),
    Opt::str("notify_stop"),
    Opt::str("notify"),
    Opt::int("garp_master_delay"),
    Opt::int("garp_master_refresh"),
];

/// An instance's options: its name and the VRRP settings, none with a default (an unset one is
/// the top level's).
const INSTANCE: [Opt; 23] = {
    let mut out = [Opt::str("name"); 23];
    let mut i = 0;
    while i < VRRP.len() {
        out[i + 1] = VRRP[i].default(DefaultValue::Null);
        i += 1;
    }
    out
};

/// The top-level options: the checker, `global_defs` and what the per-host values are derived
/// from, the scripts and instances, then the VRRP settings (of the only instance when
/// `instances` is not given).
const TOP: [Opt; 32] = {
    let own = [
        Opt::str("keepalived_path").default(DefaultValue::Str("keepalived")),
        Opt::str("router_id"),
        Opt::bool("enable_script_security").default(DefaultValue::Bool(true)),
        Opt::str("script_user").default(DefaultValue::Str("root")),
        Opt::str("cluster_name").default(DefaultValue::Str("cluster.local")),
        Opt::str("this_host"),
        Opt::int("priority_base").default(DefaultValue::Int(150)),
        Opt::int("priority_step").default(DefaultValue::Int(10)),
        Opt::list("scripts", Kind::Dict).suboptions(SCRIPT),
        Opt::list("instances", Kind::Dict).suboptions(&INSTANCE),
    ];
    let mut out = [Opt::str(""); 32];
    let mut i = 0;
    while i < own.len() {
        out[i] = own[i];
        i += 1;
    }
    while i < out.len() {
        out[i] = VRRP[i - own.len()].in_group("vrrp");
        i += 1;
    }
    out
};

impl Module for KeepalivedConfig {
    const NAME: &'static str = "keepalived_config";
    const FILE: Option<FileOptions> = Some(FileOptions::config("/etc/keepalived/keepalived.conf"));
    const SPEC: &'static [Opt] = &TOP;
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        let local = if config::needs_interface_detection(&params) {
            kubeha_runtime::net::host_addresses()?
        } else {
            Vec::new()
        };
        let config = Config::build(&params, &local)?;
        let content = text(&config)?;

        let mut spec = params.file.spec(&params.file.dest, content)?;

        if params.file.validate {
            let keepalived =
                validate::program(&params.keepalived_path, "keepalived_path", "keepalived")?;
            config.check_host()?;
            // Without -e keepalived exits 0 when the file is missing.
            let mut validator =
                Validator::new([&*keepalived.to_string_lossy(), "-t", "-e", "-f", "%s"]);
            // keepalived 2.2.7 (Debian 12) kills itself during `-t` whenever a script runs as a
            // non-root user (acassen/keepalived#2587, fixed in 2.2.8), before it has checked the
            // instances. Such configs are tested as the same config with script_user root.
            if config.scripts_run_unprivileged() {
                validator = validator.on_stand_in(text(&config.as_root())?);
            }
            spec.validate = Some(Arc::new(validator));
        }

        let mut plan = spec.plan()?;
        plan.set("instances", config.summary());
        Ok(plan)
    }
}

/// The config text for these options and this host's addresses (checked; not validated by
/// keepalived). `local` is only read for instances without an `interface`.
pub fn render(params: &Params, local: &[HostAddr]) -> Result<String, Failure> {
    text(&Config::build(params, local)?)
}

fn text(config: &Config) -> Result<String, Failure> {
    template::render("keepalived.conf.j2", TEMPLATE, config)
}

/// The options, typed (see the sidecar `keepalived_config.yml` for their meaning).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub file: file::FileParams,
    pub keepalived_path: String,
    pub router_id: Option<String>,
    pub enable_script_security: bool,
    pub script_user: String,
    pub cluster_name: String,
    pub this_host: Option<String>,
    pub priority_base: i64,
    pub priority_step: i64,
    pub scripts: Option<Vec<Script>>,
    pub instances: Option<Vec<Instance>>,
    /// The top-level VRRP settings, every instance's defaults (no `name`).
    pub vrrp: Instance,
}

/// A `vrrp_script`: a health check whose result moves this host's priority (with `weight`) or
/// puts its instances in FAULT (without).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    pub script: String,
    pub interval: i64,
    pub timeout: Option<i64>,
    pub fall: Option<i64>,
    pub rise: Option<i64>,
    pub weight: Option<i64>,
}

/// One `vrrp_instance`'s settings; every unset field takes the top-level option's value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: Option<String>,
    pub vips: Option<Vec<String>>,
    pub interface: Option<String>,
    pub state: Option<String>,
    pub priority: Option<i64>,
    pub virtual_router_id: Option<i64>,
    pub advert_int: Option<f64>,
    pub vrrp_version: Option<i64>,
    pub auth_pass: Option<String>,
    pub peers: Option<Vec<String>>,
    pub unicast: Option<bool>,
    pub unicast_src_ip: Option<String>,
    pub unicast_peers: Option<Vec<String>>,
    pub nopreempt: Option<bool>,
    pub preempt_delay: Option<f64>,
    pub track_scripts: Option<Vec<String>>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    pub garp_master_delay: Option<i64>,
    pub garp_master_refresh: Option<i64>,
}
