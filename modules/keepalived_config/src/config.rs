//! Options → the checked, derived values the template writes.
//!
//! Everything keepalived would reject or silently "fix" (it truncates passwords, rounds advert
//! intervals, clears nopreempt on a MASTER, drops VIPs of the wrong family) is refused here
//! with a message naming the option, so `keepalived -t` is a second line of defence.

use crate::net;
use crate::{Instance, Params, Script};
use kubeha_runtime::net::{Cidr, HostAddr};
use kubeha_runtime::{check, tool, users, Failure};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// What the template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    router_id: Option<String>,
    enable_script_security: bool,
    script_user: String,
    scripts: Vec<Script>,
    instances: Vec<InstanceBlock>,
    /// Every command keepalived may run, with the option that set it.
    #[serde(skip)]
    commands: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
struct InstanceBlock {
    name: String,
    /// Why the derived values are what they are, for whoever reads the file.
    comments: Vec<String>,
    state: &'static str,
    interface: String,
    virtual_router_id: u8,
    priority: u8,
    advert_int: String,
    /// Written only for VRRPv3 (version 2 is keepalived's default for IPv4).
    version: Option<u8>,
    auth_pass: Option<String>,
    unicast_src_ip: Option<String>,
    unicast_peers: Vec<String>,
    nopreempt: bool,
    preempt_delay: Option<String>,
    garp_master_delay: Option<String>,
    garp_master_refresh: Option<String>,
    vips: Vec<String>,
    excluded_vips: Vec<String>,
    track_scripts: Vec<String>,
    notify: Vec<Notify>,
    #[serde(skip)]
    ipv6: bool,
    #[serde(skip)]
    addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Notify {
    keyword: &'static str,
    command: String,
}

/// Whether some instance has no `interface` (so this host's addresses must be read).
pub fn needs_interface_detection(p: &Params) -> bool {
    if p.vrrp.interface.is_some() {
        return false;
    }
    match &p.instances {
        None => true,
        Some(list) => list.iter().any(|i| i.interface.is_none()),
    }
}

impl Config {
    /// Checks the options and derives every per-host value. `local` is this host's addresses,
    /// read only for instances without an `interface`.
    pub fn build(p: &Params, local: &[HostAddr]) -> Result<Config, Failure> {
        if let Some(id) = &p.router_id {
            check::token("router_id", id, false)?;
        }
        check::identifier("script_user", &p.script_user)?;
        check::token("cluster_name", &p.cluster_name, false)?;
        if let Some(host) = &p.this_host {
            check::token("this_host", host, false)?;
        }
        check::range("priority_base", p.priority_base, 1, 255)?;
        check::range("priority_step", p.priority_step, 1, 254)?;

        let mut commands = Vec::new();
        let scripts = scripts(p.scripts.as_deref().unwrap_or_default(), &mut commands)?;

        let implicit = [Instance::default()];
        let (list, explicit) = match &p.instances {
            Some(list) if list.is_empty() => {
                return Err(Failure::new(
                    "option 'instances' must list at least one instance, or be left out to use the top-level options",
                ))
            }
            Some(list) => (list.as_slice(), true),
            None => (&implicit[..], false),
        };
        let mut instances: Vec<InstanceBlock> = Vec::with_capacity(list.len());
        for (i, inst) in list.iter().enumerate() {
            let at = Merge {
                p,
                inst,
                index: explicit.then_some(i),
            };
            let block = instance(&at, i, &scripts, local, &mut commands)?;
            if let Some(other) = instances.iter().find(|o| o.name == block.name) {
                return Err(Failure::new(format!(
                    "two instances are named '{}'; each needs its own name",
                    other.name
                )));
            }
            for vip in &block.addresses {
                if let Some(other) = instances.iter().find(|o| o.addresses.contains(vip)) {
                    return Err(Failure::new(format!(
                        "the VIP {vip} is in instances {} and {}; a VIP belongs to one instance",
                        other.name, block.name
                    )));
                }
            }
            if let Some(other) = instances.iter().find(|o| {
                o.virtual_router_id == block.virtual_router_id
                    && o.interface == block.interface
                    && o.ipv6 == block.ipv6
            }) {
                return Err(Failure::new(format!(
                    "instances {} and {} both use virtual_router_id {} on {} ({}); keepalived \
                     refuses that: set virtual_router_id on one of them",
                    other.name,
                    block.name,
                    block.virtual_router_id,
                    block.interface,
                    if block.ipv6 { "IPv6" } else { "IPv4" }
                )));
            }
            instances.push(block);
        }

        Ok(Config {
            router_id: p.router_id.clone(),
            enable_script_security: p.enable_script_security,
            script_user: p.script_user.clone(),
            scripts,
            instances,
            commands,
        })
    }

    /// Checks what keepalived needs from this host besides the file: every script it runs
    /// exists and is executable (`keepalived -t` checks only track scripts, and not whether
    /// they are executable), and the script user exists.
    pub fn check_host(&self) -> Result<(), Failure> {
        for (option, command) in &self.commands {
            let program = first_word(command);
            let path = if program.starts_with('/') {
                PathBuf::from(program)
            } else {
                tool::find(program).map_err(|_| {
                    Failure::new(format!(
                        "option '{option}': '{program}' is not on this host's PATH, so keepalived \
                         could not run it; install it first, or set validate: false"
                    ))
                })?
            };
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {}
                Ok(_) => {
                    return Err(Failure::new(format!(
                        "option '{option}': {} is not an executable file, so keepalived could not run it",
                        path.display()
                    )))
                }
                Err(_) => {
                    return Err(Failure::new(format!(
                        "option '{option}': {} does not exist on this host, so keepalived could \
                         not run it; install it before writing the config, or set validate: false",
                        path.display()
                    )))
                }
            }
        }
        if self.scripts_run_unprivileged() {
            users::lookup_user(&self.script_user).map_err(|_| {
                Failure::new(format!(
                    "option 'script_user': there is no user '{}' on this host to run the scripts as",
                    self.script_user
                ))
            })?;
        }
        Ok(())
    }

    /// Whether keepalived runs scripts, as a user other than root.
    pub fn scripts_run_unprivileged(&self) -> bool {
        !self.commands.is_empty() && !matches!(self.script_user.as_str(), "root" | "0")
    }

    /// The same config with scripts run as root: what keepalived 2.2.7 can config-test.
    pub fn as_root(&self) -> Config {
        Config {
            script_user: "root".into(),
            ..self.clone()
        }
    }

    /// What the result reports per instance (no secrets).
    pub fn summary(&self) -> Value {
        Value::Array(
            self.instances
                .iter()
                .map(|i| {
                    json!({
                        "name": i.name,
                        "state": i.state,
                        "priority": i.priority,
                        "virtual_router_id": i.virtual_router_id,
                        "interface": i.interface,
                        "vips": i.addresses,
                        "unicast_peers": i.unicast_peers,
                    })
                })
                .collect(),
        )
    }
}

fn scripts(list: &[Script], commands: &mut Vec<(String, String)>) -> Result<Vec<Script>, Failure> {
    for (i, s) in list.iter().enumerate() {
        let at = |key: &str| format!("scripts[{i}].{key}");
        check::identifier(&at("name"), &s.name)?;
        if list[..i].iter().any(|o| o.name == s.name) {
            return Err(Failure::new(format!(
                "option 'scripts': the name '{}' is used twice; each script needs its own",
                s.name
            )));
        }
        command(&at("script"), &s.script)?;
        // keepalived 2.2.7 takes whole seconds only (it rejects 1.5); the spec's int type says so.
        check::range(&at("interval"), s.interval, 1, 4294)?;
        for (key, value, min, max) in [
            ("timeout", s.timeout, 1, 4294),
            ("fall", s.fall, 1, 1_000_000),
            ("rise", s.rise, 1, 1_000_000),
            ("weight", s.weight, -253, 253),
        ] {
            if let Some(value) = value {
                check::range(&at(key), value, min, max)?;
            }
        }
        commands.push((at("script"), s.script.clone()));
    }
    Ok(list.to_vec())
}

/// One setting of an instance (or of the top level, whose settings are an `Instance` too).
type Field<T> = fn(&Instance) -> &Option<T>;

/// An instance's options merged with the top-level ones, remembering where each came from so
/// messages name the option the user actually wrote. Each concern of an instance is a method.
struct Merge<'a> {
    p: &'a Params,
    inst: &'a Instance,
    /// `Some(i)` for `instances[i]`; `None` for the implicit instance of the top-level options.
    index: Option<usize>,
}

impl Merge<'_> {
    /// The instance's value of `field` if set, else the top-level one, with the option's name.
    fn pick<T: Clone>(&self, name: &str, field: Field<T>) -> (Option<T>, String) {
        match (field(self.inst), self.index) {
            (Some(v), Some(i)) => (Some(v.clone()), format!("instances[{i}].{name}")),
            _ => (field(&self.p.vrrp).clone(), name.to_owned()),
        }
    }

    /// The instance's name: its own, else `VI_<n>` for the n-th.
    fn name(&self, n: usize) -> Result<String, Failure> {
        let name = self.inst.name.clone();
        let name = name.unwrap_or_else(|| format!("VI_{}", n + 1));
        let option = match self.index {
            Some(i) => format!("instances[{i}].name"),
            None => "name".into(),
        };
        check::identifier(&option, &name)?;
        Ok(name)
    }

    /// The VIPs, at least one, each once; the first decides the instance's address family.
    fn vips(&self, instance: &str) -> Result<Vec<Cidr>, Failure> {
        let (vips, option) = self.pick("vips", |i| &i.vips);
        let vips = vips.filter(|v| !v.is_empty()).ok_or_else(|| {
            Failure::new(format!(
                "option '{option}' is required: the virtual IP(s) of instance {instance}, e.g. [192.168.2.88/24]"
            ))
        })?;
        let vips = vips
            .iter()
            .enumerate()
            .map(|(j, v)| net::parse_vip(&format!("{option}[{j}]"), v))
            .collect::<Result<Vec<_>, _>>()?;
        for (j, v) in vips.iter().enumerate() {
            if vips[..j].iter().any(|w| w.addr == v.addr) {
                return Err(Failure::new(format!(
                    "option '{option}' lists {} twice",
                    v.addr
                )));
            }
        }
        Ok(vips)
    }

    /// The interface: given, or the one whose subnet holds the first VIP (then said in a
    /// comment).
    fn interface(
        &self,
        instance: &str,
        vip: IpAddr,
        local: &[HostAddr],
        comments: &mut Vec<String>,
    ) -> Result<String, Failure> {
        match self.pick("interface", |i| &i.interface) {
            (Some(name), option) => {
                if name.len() > 15 || name.contains(['/', '@']) {
                    return Err(Failure::new(format!(
                        "option '{option}' must be an interface name (at most 15 characters), got '{name}'"
                    )));
                }
                check::identifier(&option, &name)?;
                Ok(name)
            }
            (None, _) => {
                let found = net::interface_for(vip, instance, local)?;
                comments.push(format!(
                    "interface {found}: the one whose subnet holds {vip}"
                ));
                Ok(found)
            }
        }
    }

    /// The VRRP version (VRRPv2 has no IPv6), and the advert interval it allows (VRRPv2
    /// adverts in whole seconds).
    fn version_and_advert(&self, instance: &str, primary: Cidr) -> Result<(u8, String), Failure> {
        let (version, option) = self.pick("vrrp_version", |i| &i.vrrp_version);
        let version: u8 = match (version, primary.addr.is_ipv6()) {
            (Some(2), true) => {
                return Err(Failure::new(format!(
                    "option '{option}' is 2, but instance {instance} has an IPv6 VIP ({primary}) \
                     and VRRP over IPv6 is version 3 only; drop the option or set 3"
                )))
            }
            (Some(v), _) => u8::try_from(v).unwrap_or(2),
            (None, true) => 3,
            (None, false) => 2,
        };
        let (advert, option) = self.pick("advert_int", |i| &i.advert_int);
        let advert = advert_interval(&option, advert.unwrap_or(1.0), version)?;
        Ok((version, advert))
    }

    /// The PASS password, which only VRRPv2 carries.
    fn auth_pass(
        &self,
        instance: &str,
        version: u8,
        ipv6: bool,
    ) -> Result<Option<String>, Failure> {
        match self.pick("auth_pass", |i| &i.auth_pass) {
            (Some(_), option) if version == 3 => Err(Failure::new(format!(
                "option '{option}' is set, but instance {instance} runs VRRP version 3{}, which has \
                 no authentication (keepalived ignores it); remove it, or use vrrp_version 2 with IPv4",
                if ipv6 { " (IPv6)" } else { "" }
            ))),
            (Some(pass), option) => auth_password(&option, pass).map(Some),
            (None, _) => Ok(None),
        }
    }

    /// `nopreempt`, and `preempt_delay` as written (unset when 0); not both.
    fn preemption(&self) -> Result<(bool, Option<String>), Failure> {
        let nopreempt = self.pick("nopreempt", |i| &i.nopreempt).0.unwrap_or(false);
        let (delay, option) = self.pick("preempt_delay", |i| &i.preempt_delay);
        let delay = match delay {
            Some(d) if !(0.0..=1000.0).contains(&d) => {
                return Err(Failure::new(format!(
                    "option '{option}' must be between 0 and 1000 seconds, got {d}"
                )))
            }
            Some(d) if d > 0.0 => Some(seconds_text(d)),
            _ => None,
        };
        if nopreempt && delay.is_some() {
            return Err(Failure::new(format!(
                "options 'nopreempt' and '{option}' exclude each other (a host that never \
                 preempts has no preemption to delay); choose one"
            )));
        }
        Ok((nopreempt, delay))
    }

    /// The `virtual_router_id`: given, or derived from the cluster name and the first VIP
    /// (then said in a comment).
    fn router_id(&self, vip: IpAddr, comments: &mut Vec<String>) -> Result<u8, Failure> {
        match self.pick("virtual_router_id", |i| &i.virtual_router_id) {
            (Some(id), option) => Ok(u8::try_from(check::range(&option, id, 1, 255)?).unwrap_or(1)),
            (None, _) => {
                let cluster = &self.p.cluster_name;
                let id = net::derived_router_id(cluster, vip);
                comments.push(format!(
                    "virtual_router_id {id}: derived from cluster_name '{cluster}' and {vip}"
                ));
                Ok(id)
            }
        }
    }

    /// With unicast, this host's address and every other peer's; without, neither may be set.
    fn unicast(
        &self,
        instance: &str,
        ipv6: bool,
        peers: Option<(&[String], &str)>,
    ) -> Result<(Option<String>, Vec<String>), Failure> {
        let (src, src_option) = self.pick("unicast_src_ip", |i| &i.unicast_src_ip);
        let (explicit, explicit_option) = self.pick("unicast_peers", |i| &i.unicast_peers);
        if !self.pick("unicast", |i| &i.unicast).0.unwrap_or(false) {
            for (set, option) in [
                (src.is_some(), &src_option),
                (explicit.is_some(), &explicit_option),
            ] {
                if set {
                    return Err(Failure::new(format!(
                        "option '{option}' is set but unicast is off; set unicast: true (multicast needs no peer addresses)"
                    )));
                }
            }
            return Ok((None, Vec::new()));
        }
        let this_host = self.p.this_host.as_deref();
        let src = unicast_source(instance, src, &src_option, this_host, ipv6)?;
        let explicit = explicit.as_deref().map(|l| (l, explicit_option.as_str()));
        let peers = unicast_peers(instance, src, explicit, peers, this_host, ipv6)?;
        Ok((Some(src.to_string()), peers))
    }

    /// `garp_master_delay` and `garp_master_refresh`, as written.
    fn garp(&self) -> Result<(Option<String>, Option<String>), Failure> {
        let (delay, delay_option) = self.pick("garp_master_delay", |i| &i.garp_master_delay);
        let (refresh, refresh_option) =
            self.pick("garp_master_refresh", |i| &i.garp_master_refresh);
        let text = |value: Option<i64>, option: &str, max: i64| {
            value
                .map(|v| check::range(option, v, 0, max).map(|v| v.to_string()))
                .transpose()
        };
        Ok((
            text(delay, &delay_option, 255)?,
            text(refresh, &refresh_option, 86_400)?,
        ))
    }

    /// The scripts it tracks: those named, each defined; unset, every script.
    fn track_scripts(&self, scripts: &[Script]) -> Result<Vec<String>, Failure> {
        let (tracked, option) = self.pick("track_scripts", |i| &i.track_scripts);
        let Some(names) = tracked else {
            return Ok(scripts.iter().map(|s| s.name.clone()).collect());
        };
        if let Some(n) = names
            .iter()
            .find(|n| !scripts.iter().any(|s| &s.name == *n))
        {
            let known: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::new(format!(
                "option '{option}' names '{n}', which is not one of the scripts ({})",
                if known.is_empty() {
                    "none are defined".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        Ok(names)
    }

    /// The notify commands, each also recorded among the commands keepalived runs.
    fn notify(&self, commands: &mut Vec<(String, String)>) -> Result<Vec<Notify>, Failure> {
        let keywords: [(&'static str, Field<String>); 5] = [
            ("notify_master", |i| &i.notify_master),
            ("notify_backup", |i| &i.notify_backup),
            ("notify_fault", |i| &i.notify_fault),
            ("notify_stop", |i| &i.notify_stop),
            ("notify", |i| &i.notify),
        ];
        let mut notify = Vec::new();
        for (keyword, field) in keywords {
            if let (Some(cmd), option) = self.pick(keyword, field) {
                command(&option, &cmd)?;
                commands.push((option, cmd.clone()));
                notify.push(Notify {
                    keyword,
                    command: cmd,
                });
            }
        }
        Ok(notify)
    }
}

fn instance(
    at: &Merge,
    index: usize,
    scripts: &[Script],
    local: &[HostAddr],
    commands: &mut Vec<(String, String)>,
) -> Result<InstanceBlock, Failure> {
    let name = at.name(index)?;
    let mut comments = Vec::new();
    let vips = at.vips(&name)?;
    let primary = vips[0];
    let ipv6 = primary.addr.is_ipv6();
    let interface = at.interface(&name, primary.addr, local, &mut comments)?;
    let (version, advert_int) = at.version_and_advert(&name, primary)?;
    let auth_pass = at.auth_pass(&name, version, ipv6)?;

    // State and priority: given, or from this host's position in the peers.
    let (nopreempt, preempt_delay) = at.preemption()?;
    let (peers, peers_option) = at.pick("peers", |i| &i.peers);
    let peers = peers.as_deref().map(|l| (l, peers_option.as_str()));
    let role = role(at, &name, peers, nopreempt || preempt_delay.is_some())?;
    comments.extend(role.why);

    let virtual_router_id = at.router_id(primary.addr, &mut comments)?;
    let (unicast_src_ip, unicast_peers) = at.unicast(&name, ipv6, peers)?;
    let (garp_master_delay, garp_master_refresh) = at.garp()?;
    let dev = |v: &Cidr| format!("{v} dev {interface}");
    Ok(InstanceBlock {
        name,
        comments,
        state: role.state,
        virtual_router_id,
        priority: role.priority,
        advert_int,
        version: (version == 3).then_some(3),
        auth_pass,
        unicast_src_ip,
        unicast_peers,
        nopreempt,
        preempt_delay,
        garp_master_delay,
        garp_master_refresh,
        vips: vips
            .iter()
            .filter(|v| v.addr.is_ipv6() == ipv6)
            .map(dev)
            .collect(),
        excluded_vips: vips
            .iter()
            .filter(|v| v.addr.is_ipv6() != ipv6)
            .map(dev)
            .collect(),
        track_scripts: at.track_scripts(scripts)?,
        notify: at.notify(commands)?,
        ipv6,
        addresses: vips.iter().map(|v| v.addr.to_string()).collect(),
        interface,
    })
}

struct Role {
    state: &'static str,
    priority: u8,
    why: Option<String>,
}

/// MASTER/BACKUP and priority: explicit values win; otherwise this host's position in `peers`
/// decides (first MASTER, then priority_base, -step, -2×step...). Without preemption every
/// host starts as BACKUP: keepalived ignores nopreempt and preempt_delay on a MASTER.
fn role(
    at: &Merge,
    instance: &str,
    peers: Option<(&[String], &str)>,
    no_preempt: bool,
) -> Result<Role, Failure> {
    let p = at.p;
    let (state, state_option) = at.pick("state", |i| &i.state);
    let (priority, priority_option) = at.pick("priority", |i| &i.priority);
    if let Some(prio) = priority {
        check::range(&priority_option, prio, 1, 255)?;
    }
    if no_preempt && state.as_deref() == Some("MASTER") {
        return Err(Failure::new(format!(
            "option '{state_option}' is MASTER, but nopreempt and preempt_delay only work when every \
             host starts as BACKUP (keepalived ignores them on a MASTER); set BACKUP or leave it unset, \
             and the highest priority still wins the first election"
        )));
    }

    let peers_option = peers.map_or("peers", |(_, option)| option);
    let position = peers
        .map(|(list, option)| position(list, option, p.this_host.as_deref()))
        .transpose()?;
    let (base, step) = (p.priority_base, p.priority_step);
    let derived = |index: usize| -> Result<i64, Failure> {
        let prio =
            base.saturating_sub(step.saturating_mul(i64::try_from(index).unwrap_or(i64::MAX)));
        if prio < 1 {
            return Err(Failure::new(format!(
                "this host is peer {} in '{peers_option}', which gives priority {base} - {index} × {step} < 1; \
                 lower priority_step or raise priority_base",
                index + 1
            )));
        }
        Ok(prio)
    };
    let starting = |index: usize| {
        if index == 0 && !no_preempt {
            "MASTER"
        } else {
            "BACKUP"
        }
    };

    let (state, priority, why) = match (state, priority, position) {
        (None, None, None) => {
            return Err(Failure::new(format!(
                "instance {instance} needs this host's VRRP role: give 'peers' (the LB hosts in order) \
                 with 'this_host', or set 'state' and/or 'priority'"
            )))
        }
        (s, pr, Some((index, count))) => {
            let state = s.unwrap_or_else(|| starting(index).to_owned());
            let prio = match pr {
                Some(pr) => pr,
                None => derived(index)?,
            };
            let why = format!(
                "peer {} of {count} in peers{}",
                index + 1,
                if no_preempt { ", no preemption: every host starts as BACKUP" } else { "" }
            );
            (state, prio, Some(why))
        }
        (Some(s), pr, None) => {
            let prio = pr.unwrap_or(if s == "MASTER" { base } else { (base - step).max(1) });
            (s, prio, None)
        }
        (None, Some(pr), None) => ("BACKUP".to_owned(), pr, None),
    };
    Ok(Role {
        state: if state == "MASTER" {
            "MASTER"
        } else {
            "BACKUP"
        },
        priority: u8::try_from(priority).unwrap_or(1),
        why,
    })
}

/// This host's index in `peers`, and how many there are.
fn position(
    peers: &[String],
    option: &str,
    this_host: Option<&str>,
) -> Result<(usize, usize), Failure> {
    if peers.is_empty() {
        return Err(Failure::new(format!(
            "option '{option}' must list the LB hosts (at least this one)"
        )));
    }
    for (i, peer) in peers.iter().enumerate() {
        check::token(&format!("{option}[{i}]"), peer, false)?;
        if peers[..i].iter().any(|q| same_host(q, peer)) {
            return Err(Failure::new(format!(
                "option '{option}' lists '{peer}' twice"
            )));
        }
    }
    let this = this_host.ok_or_else(|| {
        Failure::new(format!(
            "option 'this_host' is required with '{option}': this host's entry in that list \
             (e.g. inventory_hostname, or its address)"
        ))
    })?;
    let index = peers
        .iter()
        .position(|q| same_host(q, this))
        .ok_or_else(|| {
            Failure::new(format!(
                "option 'this_host' ('{this}') is not in '{option}' ({})",
                peers.join(", ")
            ))
        })?;
    Ok((index, peers.len()))
}

/// Host names compare as text; addresses by value (`fd00::1` is `fd00:0::1`).
fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn unicast_source(
    instance: &str,
    src: Option<String>,
    src_option: &str,
    this_host: Option<&str>,
    ipv6: bool,
) -> Result<IpAddr, Failure> {
    let (text, option) = match (&src, this_host) {
        (Some(s), _) => (s.as_str(), src_option),
        (None, Some(h)) => (h, "this_host"),
        (None, None) => {
            return Err(Failure::new(format!(
                "instance {instance} uses unicast, which needs this host's address: set \
                 'unicast_src_ip', or give 'this_host' as an address"
            )))
        }
    };
    let ip = text.parse::<IpAddr>().map_err(|_| {
        Failure::new(format!(
            "option '{option}' must be this host's IP address for unicast VRRP, got '{text}'; set \
             'unicast_src_ip' when 'this_host' is a name"
        ))
    })?;
    same_family(option, ip, ipv6, instance)?;
    Ok(ip)
}

fn unicast_peers(
    instance: &str,
    src: IpAddr,
    explicit: Option<(&[String], &str)>,
    peers: Option<(&[String], &str)>,
    this_host: Option<&str>,
    ipv6: bool,
) -> Result<Vec<String>, Failure> {
    let (list, option, skip_self) = match (explicit, peers) {
        (Some((l, o)), _) => (l, o, false),
        (None, Some((l, o))) => (l, o, true),
        (None, None) => {
            return Err(Failure::new(format!(
                "instance {instance} uses unicast, which needs the other hosts' addresses: give \
                 'peers' (with 'this_host') or 'unicast_peers'"
            )))
        }
    };
    let mut out: Vec<String> = Vec::new();
    for (i, peer) in list.iter().enumerate() {
        let is_self = this_host.is_some_and(|h| same_host(h, peer))
            || peer.parse::<IpAddr>().is_ok_and(|ip| ip == src);
        if skip_self && is_self {
            continue;
        }
        let ip = peer.parse::<IpAddr>().map_err(|_| {
            Failure::new(format!(
                "option '{option}[{i}]' must be an IP address for unicast VRRP (keepalived sends \
                 adverts to addresses), got '{peer}'; give addresses, e.g. groups['lb'] | \
                 map('extract', hostvars, 'ip'), or set 'unicast_peers'"
            ))
        })?;
        same_family(&format!("{option}[{i}]"), ip, ipv6, instance)?;
        if ip == src {
            return Err(Failure::new(format!(
                "option '{option}' lists this host's own address {ip}; unicast peers are the other hosts"
            )));
        }
        if !out.contains(&ip.to_string()) {
            out.push(ip.to_string());
        }
    }
    if out.is_empty() {
        return Err(Failure::new(format!(
            "option '{option}' leaves no other host to send adverts to; unicast needs at least one peer"
        )));
    }
    Ok(out)
}

fn same_family(option: &str, ip: IpAddr, ipv6: bool, instance: &str) -> Result<(), Failure> {
    if ip.is_ipv6() == ipv6 {
        return Ok(());
    }
    Err(Failure::new(format!(
        "option '{option}' is {}, but instance {instance} runs VRRP over {} (its first VIP's family); \
         use addresses of that family",
        if ip.is_ipv6() { "an IPv6 address" } else { "an IPv4 address" },
        if ipv6 { "IPv6" } else { "IPv4" }
    )))
}

/// VRRPv2: whole seconds 1–255; VRRPv3: 0.01–40.95 s in centiseconds.
fn advert_interval(option: &str, value: f64, version: u8) -> Result<String, Failure> {
    if version == 2 {
        if value.fract() != 0.0 && value > 0.0 && value < 255.0 {
            return Err(Failure::new(format!(
                "option '{option}' is {value}, but VRRP version 2 advertises in whole seconds \
                 (keepalived would round it); set vrrp_version: 3 for sub-second adverts"
            )));
        }
        if !(1.0..=255.0).contains(&value) || value.fract() != 0.0 {
            return Err(Failure::new(format!(
                "option '{option}' must be between 1 and 255 seconds with VRRP version 2, got {value}"
            )));
        }
    } else {
        let centis = value * 100.0;
        if !(1.0..=4095.0).contains(&centis) || (centis - centis.round()).abs() > 1e-6 {
            return Err(Failure::new(format!(
                "option '{option}' must be between 0.01 and 40.95 seconds, in steps of 0.01, with \
                 VRRP version 3, got {value}"
            )));
        }
    }
    Ok(seconds_text(value))
}

/// `3` for whole seconds, `0.2` otherwise.
fn seconds_text(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').to_owned()
    }
}

/// The PASS password: at most 8 characters (VRRP carries 8; keepalived silently truncates
/// longer ones) of a single config token. Messages never repeat it.
fn auth_password(option: &str, pass: String) -> Result<String, Failure> {
    let count = pass.chars().count();
    if count > 8 {
        return Err(Failure::new(format!(
            "option '{option}' is {count} characters long, but VRRP PASS authentication carries 8 \
             and keepalived would silently drop the rest; give a password of at most 8 characters"
        )));
    }
    check::token(option, &pass, true)?;
    if pass.contains('!') {
        // keepalived starts a comment at '!' as at '#': the password would be cut there.
        return Err(Failure::new(format!(
            "option '{option}' contains '!', which keepalived reads as the start of a comment; \
             use other characters"
        )));
    }
    Ok(pass)
}

/// A command keepalived runs, written inside double quotes.
fn command(option: &str, value: &str) -> Result<(), Failure> {
    if value.trim().is_empty() {
        return Err(Failure::new(format!("option '{option}' must not be empty")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '"' | '\\'))
    {
        return Err(Failure::new(format!(
            "option '{option}' contains {c:?}, which cannot be written inside keepalived's quoted \
             command (no double quotes, backslashes or control characters; single quotes group \
             arguments)"
        )));
    }
    Ok(())
}

/// The program a command runs: its first word, which keepalived lets single quotes enclose.
fn first_word(command: &str) -> &str {
    let command = command.trim_start();
    match command.strip_prefix('\'') {
        Some(rest) => rest.split('\'').next().unwrap_or_default(),
        None => command.split_whitespace().next().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_as_keepalived_reads_them() {
        assert_eq!(seconds_text(3.0), "3");
        assert_eq!(seconds_text(0.2), "0.2");
        assert_eq!(seconds_text(2.25), "2.25");
        assert_eq!(advert_interval("a", 0.2, 3).unwrap(), "0.2");
        assert!(advert_interval("a", 0.005, 3).is_err());
        assert!(advert_interval("a", 41.0, 3).is_err());
        assert!(advert_interval("a", 0.2, 2)
            .unwrap_err()
            .msg
            .contains("set vrrp_version: 3"));
        assert!(advert_interval("a", 0.0, 2).is_err());
        assert!(advert_interval("a", 256.0, 2).is_err());
    }

    #[test]
    fn first_words() {
        assert_eq!(
            first_word("/usr/bin/killall -0 haproxy"),
            "/usr/bin/killall"
        );
        assert_eq!(first_word("'/opt/my dir/x' a"), "/opt/my dir/x");
        assert_eq!(first_word("check"), "check");
    }

    #[test]
    fn passwords() {
        assert_eq!(auth_password("p", "k8s-VIP1".into()).unwrap(), "k8s-VIP1");
        let err = auth_password("auth_pass", "123456789".into()).unwrap_err();
        assert!(err.msg.contains("9 characters long"), "{}", err.msg);
        assert!(!err.msg.contains("123456789"));
        for bad in ["a b", "a#b", "a!b", "ä", "\"x\""] {
            let err = auth_password("auth_pass", bad.into()).unwrap_err();
            assert!(!err.msg.contains(bad), "{}", err.msg);
        }
    }
}
