//! `vip_check`: is a virtual IP bound on this host, and on which interface; does VIP:port
//! accept TCP; does a TLS server answer a hello through it (see [`tls`] for why a hello and
//! not HTTPS `GET /healthz`). Optionally waits (bounded) for the VIP to arrive on or leave
//! this host and for the probes to pass. Read-only: it never reports `changed`, and it probes
//! the same way in check mode.
//!
//! The same binary is keepalived's `track_script` ([`probe`]): `vip_check --probe ...` checks
//! the local load balancer (process alive, frontend port open, a backend up) and answers with
//! its exit status and one line on stderr, within a fixed time budget.
//!
//! With `vrrp_scan` it also listens on the VIPs' segment for a few seconds and reports the VRRP
//! virtual routers heard ([`scan`], [`vrrp`]); given our `virtual_router_id` and our hosts'
//! addresses, it fails when another cluster already uses that VRID.
//!
//! With `install_probe` it only copies itself to where keepalived runs the probe ([`install`]):
//! the one thing it ever changes.

pub mod checks;
pub mod install;
pub mod probe;
pub mod record;
pub mod scan;
pub mod tls;
pub mod vrrp;

use checks::Deadline;
use kubeha_runtime::net::{self, Cidr, HostAddr};
use kubeha_runtime::{check, CliExit, DefaultValue, Failure, Kind, Module, Opt, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How often the host's addresses are read and the probes rerun while waiting.
const POLL: Duration = Duration::from_millis(200);
/// Longest `timeout` accepted: a check, not a daemon.
const MAX_WAIT_SECONDS: i64 = 3600;

/// The module.
#[derive(Debug)]
pub struct VipCheck;

/// The options, typed (see the sidecar `vip_check.yml` for their meaning).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub vips: Vec<String>,
    pub install_probe: Option<String>,
    pub state: String,
    pub timeout: i64,
    pub port: Option<i64>,
    pub probe_timeout: f64,
    pub tls_check: bool,
    pub server_name: Option<String>,
    pub vrrp_scan: Option<ScanParams>,
}

/// The `vrrp_scan` suboptions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanParams {
    pub interface: Option<String>,
    pub seconds: f64,
    pub virtual_router_id: Option<i64>,
    pub own_sources: Vec<String>,
    pub record: Option<String>,
}

const VRRP_SCAN: &[Opt] = &[
    Opt::str("interface"),
    Opt::new("seconds", Kind::Float).default(DefaultValue::Json("3.0")),
    Opt::int("virtual_router_id"),
    Opt::list("own_sources", Kind::Str).default(DefaultValue::Json("[]")),
    Opt::path("record"),
];

impl Module for VipCheck {
    const NAME: &'static str = "vip_check";
    const SPEC: &'static [Opt] = &[
        Opt::list("vips", Kind::Str).default(DefaultValue::Json("[]")),
        Opt::path("install_probe"),
        Opt::str("state")
            .choices(&["any", "present", "absent"])
            .default(DefaultValue::Str("any")),
        Opt::int("timeout").default(DefaultValue::Int(0)),
        Opt::int("port"),
        Opt::new("probe_timeout", Kind::Float).default(DefaultValue::Json("3.0")),
        Opt::bool("tls_check").default(DefaultValue::Bool(false)),
        Opt::str("server_name"),
        Opt::dict("vrrp_scan").suboptions(VRRP_SCAN),
    ];
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        if let Some(dest) = &params.install_probe {
            if !params.vips.is_empty() || params.vrrp_scan.is_some() || params.port.is_some() {
                return Err(Failure::new(
                    "option 'install_probe' is used alone: give vips, port and vrrp_scan in \
                     another task",
                ));
            }
            return install::plan(dest);
        }
        let spec = Spec::from_params(&params)?;
        let outcome = check_until_done(&spec, net::host_addresses)?;
        let mut plan = Plan::new();
        for (vip, report) in spec.vips.iter().zip(&outcome.reports) {
            if let (Some(given), Some(bound)) = (vip.prefix, report.prefix) {
                if given != bound {
                    plan.warn(format!(
                        "VIP {} is bound on {} as /{bound}, not /{given} as given",
                        vip.addr,
                        report.interface.as_deref().unwrap_or("?"),
                    ));
                }
            }
        }
        plan.set("vips", json!(outcome.reports));
        plan.set("summary", summary(&outcome.reports, spec.port.is_some()));
        plan.msg = Some(describe(&outcome.reports, &spec));
        if let Some(problem) = outcome.problem {
            let how_long = match outcome.waited {
                Some(w) => format!("after waiting {}", checks::seconds(w)),
                None => "(timeout is 0: not waited)".to_owned(),
            };
            let mut failure = Failure::new(format!("{problem} {how_long}"));
            failure.fields = plan.fields;
            return Err(failure);
        }
        if let Some(scan) = &spec.scan {
            let addrs = net::host_addresses()?;
            let listen = scan.listen_on(&spec.vips, &addrs)?;
            let seconds = listen.duration.as_secs_f64();
            let recorded = scan.record.as_deref().and_then(|path| {
                record::usable(path.as_ref(), &listen.interface, seconds, record::now())
            });
            // A collision in the record is confirmed by listening now: the other cluster may
            // have stopped in the seconds the record looks back over.
            let collides = |routers: &[scan::Router]| {
                scan.ours
                    .as_ref()
                    .is_some_and(|ours| !scan::collisions(routers, ours).is_empty())
            };
            let heard = match recorded {
                Some((routers, listened)) if !collides(&routers) => {
                    plan.set("vrrp_scan_record", json!({"listened_seconds": listened}));
                    scan::Heard::from_routers(routers)
                }
                _ => scan::listen(&listen)?,
            };
            scan.report(&listen, &heard, &mut plan)?;
        }
        Ok(plan)
    }

    fn cli(args: &[OsString]) -> Option<CliExit> {
        probe::cli(args)
    }
}

/// Checked options.
#[derive(Debug)]
struct Spec {
    vips: Vec<Cidr>,
    state: State,
    timeout: Duration,
    port: Option<u16>,
    probe_timeout: Duration,
    tls: Option<Tls>,
    scan: Option<ScanSpec>,
}

/// The VRRP scan, checked.
#[derive(Debug)]
struct ScanSpec {
    interface: Option<String>,
    duration: Duration,
    /// Our virtual router, when the scan checks for collisions with it.
    ours: Option<scan::Ours>,
    /// The probe's record, read instead of listening while it is fresh ([`record`]).
    record: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Any,
    Present,
    Absent,
}

/// The TLS hello check, with the SNI name to send (none for an IP address).
#[derive(Debug)]
struct Tls {
    server_name: Option<String>,
}

impl Spec {
    fn from_params(p: &Params) -> Result<Spec, Failure> {
        if p.vips.is_empty() {
            return Err(Failure::new(
                "option 'vips' must list at least one address (or give install_probe alone)",
            ));
        }
        let mut vips: Vec<Cidr> = Vec::with_capacity(p.vips.len());
        for (i, text) in p.vips.iter().enumerate() {
            let vip = net::parse_cidr(&format!("vips[{i}]"), text)?;
            if vips.iter().any(|v| v.addr == vip.addr) {
                return Err(Failure::new(format!(
                    "option 'vips' lists {} twice",
                    vip.addr
                )));
            }
            vips.push(vip);
        }
        if !(0..=MAX_WAIT_SECONDS).contains(&p.timeout) {
            return Err(Failure::new(format!(
                "option 'timeout' must be 0-{MAX_WAIT_SECONDS} seconds, got {}",
                p.timeout
            )));
        }
        let port = p.port.map(|port| check::port("port", port)).transpose()?;
        if !(p.probe_timeout > 0.0 && p.probe_timeout <= 60.0) {
            return Err(Failure::new(format!(
                "option 'probe_timeout' must be more than 0 and at most 60 seconds, got {}",
                p.probe_timeout
            )));
        }
        let tls = if p.tls_check {
            if port.is_none() {
                return Err(Failure::new(
                    "option 'tls_check' needs 'port' (the port TLS is served on through the VIP)",
                ));
            }
            if let Some(name) = &p.server_name {
                check::host("server_name", name)?;
            }
            Some(Tls {
                server_name: p.server_name.clone(),
            })
        } else {
            if p.server_name.is_some() {
                return Err(Failure::new(
                    "option 'server_name' applies to the TLS check: set tls_check: true",
                ));
            }
            None
        };
        let scan = p
            .vrrp_scan
            .as_ref()
            .map(|s| ScanSpec::from_params(s, &vips))
            .transpose()?;
        Ok(Spec {
            scan,
            vips,
            state: match p.state.as_str() {
                "present" => State::Present,
                "absent" => State::Absent,
                _ => State::Any,
            },
            timeout: Duration::from_secs(p.timeout as u64),
            port,
            probe_timeout: Duration::from_secs_f64(p.probe_timeout),
            tls,
        })
    }

    /// Binding, then the probes that were asked for.
    fn report(&self, vip: Cidr, addrs: &[HostAddr]) -> VipReport {
        let holder = net::holding(addrs, vip.addr);
        let mut report = VipReport {
            address: vip.addr.to_string(),
            bound: holder.is_some(),
            interface: holder.map(|h| h.interface.clone()),
            prefix: holder.map(|h| h.prefix),
            tcp_ok: None,
            tcp_error: None,
            tls_version: None,
            tls_error: None,
        };
        let Some(port) = self.port else {
            return report;
        };
        let target = SocketAddr::new(vip.addr, port);
        match checks::tcp_connect(target, Deadline::after(self.probe_timeout)) {
            Ok(_) => report.tcp_ok = Some(true),
            Err(reason) => {
                report.tcp_ok = Some(false);
                report.tcp_error = Some(reason);
            }
        }
        if let Some(check) = &self.tls {
            if report.tcp_ok == Some(true) {
                let deadline = Deadline::after(self.probe_timeout);
                match tls::hello(target, check.server_name.as_deref(), deadline) {
                    Ok(hello) => report.tls_version = Some(hello.version),
                    Err(reason) => report.tls_error = Some(reason),
                }
            } else {
                report.tls_error = Some("not tried: the TCP connect failed".into());
            }
        }
        report
    }
}

impl ScanSpec {
    fn from_params(p: &ScanParams, vips: &[Cidr]) -> Result<ScanSpec, Failure> {
        if !(p.seconds > 0.0 && p.seconds <= scan::MAX_SECONDS) {
            return Err(Failure::new(format!(
                "option 'vrrp_scan.seconds' must be more than 0 and at most {} seconds, got {}",
                scan::MAX_SECONDS,
                p.seconds
            )));
        }
        if let Some(name) = &p.interface {
            let valid = !name.is_empty()
                && name.len() < 16
                && !name.contains(['/', ':'])
                && !name.chars().any(|c| c.is_whitespace() || c.is_control());
            if !valid {
                return Err(Failure::new(format!(
                    "option 'vrrp_scan.interface' must be an interface name (up to 15 \
                     characters, no '/', ':' or spaces), got '{name}'"
                )));
            }
        }
        let mut sources = Vec::with_capacity(p.own_sources.len());
        for (i, text) in p.own_sources.iter().enumerate() {
            sources.push(check::ip(
                &format!("vrrp_scan.own_sources[{i}]"),
                text.trim(),
            )?);
        }
        let ours = match p.virtual_router_id {
            Some(id) => Some(scan::Ours {
                virtual_router_id: u8::try_from(id).ok().filter(|v| *v != 0).ok_or_else(|| {
                    Failure::new(format!(
                        "option 'vrrp_scan.virtual_router_id' must be 1-255, got {id}"
                    ))
                })?,
                sources,
                vips: vips.iter().map(|v| v.addr).collect(),
            }),
            None if !sources.is_empty() => {
                return Err(Failure::new(
                    "option 'vrrp_scan.own_sources' applies to the collision check: set \
                     vrrp_scan.virtual_router_id",
                ))
            }
            None => None,
        };
        if let Some(path) = &p.record {
            if !path.starts_with('/') {
                return Err(Failure::new(format!(
                    "option 'vrrp_scan.record' must be an absolute path, got '{path}'"
                )));
            }
        }
        Ok(ScanSpec {
            interface: p.interface.clone(),
            duration: Duration::from_secs_f64(p.seconds),
            ours,
            record: p.record.clone(),
        })
    }

    /// Where to listen: the given interface, or the one whose subnet holds a VIP (the first
    /// that has one), as keepalived_config finds it.
    fn listen_on(&self, vips: &[Cidr], addrs: &[HostAddr]) -> Result<scan::Listen, Failure> {
        let vips: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
        scan::segment(self.interface.as_deref(), &vips, addrs, self.duration).map_err(|e| {
            Failure::new(format!(
                "option 'vrrp_scan.interface' is not set and {e}: set it to the interface of \
                 the VRRP segment"
            ))
        })
    }

    /// Adds what was heard to the result; fails when another cluster uses our VRID.
    fn report(
        &self,
        listen: &scan::Listen,
        heard: &scan::Heard,
        plan: &mut Plan,
    ) -> Result<(), Failure> {
        let routers = heard.routers();
        let mut ids: Vec<u8> = routers.iter().map(|r| r.advert.virtual_router_id).collect();
        ids.dedup();
        let took = checks::seconds(listen.duration);
        let heard_text = if routers.is_empty() {
            format!("no VRRP adverts on {} in {took}", listen.interface)
        } else {
            let each: Vec<String> = routers
                .iter()
                .map(|r| {
                    format!(
                        "VRID {} from {} ({})",
                        r.advert.virtual_router_id,
                        r.advert.source,
                        scan::list(&r.advert.addresses)
                    )
                })
                .collect();
            format!(
                "VRRP on {} in {took}: {}",
                listen.interface,
                each.join(", ")
            )
        };
        plan.msg = Some(match plan.msg.take() {
            Some(msg) => format!("{msg}; {heard_text}"),
            None => heard_text,
        });
        if heard.ignored > 0 {
            plan.warn(format!(
                "vrrp_scan ignored {} packet(s) that are not valid VRRP adverts: {}",
                heard.ignored,
                heard.reasons.join("; ")
            ));
        }
        plan.set("vrrp_routers", json!(routers));
        plan.set(
            "vrrp_scan",
            json!({
                "interface": listen.interface,
                "seconds": listen.duration.as_secs_f64(),
                "virtual_router_ids": ids,
                "ignored_packets": heard.ignored,
            }),
        );
        let Some(ours) = &self.ours else {
            return Ok(());
        };
        let found = scan::collisions(&routers, ours);
        if found.is_empty() {
            return Ok(());
        }
        let mut failure = Failure::new(format!(
            "VRID {} is already in use on {}: {}; choose another virtual_router_id",
            ours.virtual_router_id,
            listen.interface,
            found.join("; ")
        ));
        failure.fields = plan.fields.clone();
        Err(failure)
    }
}

/// What the module returns for one VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VipReport {
    pub address: String,
    pub bound: bool,
    pub interface: Option<String>,
    /// Prefix length of the address as bound here.
    pub prefix: Option<u8>,
    pub tcp_ok: Option<bool>,
    pub tcp_error: Option<String>,
    /// The TLS version the server chose in its hello, when the TLS check ran and passed.
    pub tls_version: Option<String>,
    pub tls_error: Option<String>,
}

impl VipReport {
    /// Every probe that ran passed (true when none ran).
    fn reachable(&self) -> bool {
        self.tcp_ok != Some(false) && self.tls_error.is_none()
    }
}

/// The last look at the host: one report per VIP, and what is wrong (if
/// anything: `state` not reached, a probe that failed).
#[derive(Debug)]
struct Outcome {
    reports: Vec<VipReport>,
    problem: Option<String>,
    /// How long it waited; `None` when `timeout` is 0.
    waited: Option<Duration>,
}

/// Reads the host's addresses and probes each VIP, again every [`POLL`] until nothing is wrong
/// or `timeout` has passed.
fn check_until_done(
    spec: &Spec,
    read: impl Fn() -> Result<Vec<HostAddr>, Failure>,
) -> Result<Outcome, Failure> {
    let start = Instant::now();
    loop {
        let addrs = read()?;
        let reports: Vec<VipReport> = spec.vips.iter().map(|v| spec.report(*v, &addrs)).collect();
        let problem = state_reached(spec, &addrs)
            .err()
            .or_else(|| unreachable(&reports));
        let elapsed = start.elapsed();
        if problem.is_none() || elapsed >= spec.timeout {
            return Ok(Outcome {
                reports,
                problem,
                waited: (!spec.timeout.is_zero()).then_some(elapsed),
            });
        }
        std::thread::sleep(POLL.min(spec.timeout - elapsed));
    }
}

/// The VIPs whose TCP or TLS check failed, as the start of a message.
fn unreachable(reports: &[VipReport]) -> Option<String> {
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.reachable())
        .map(|r| match (&r.tcp_error, &r.tls_error) {
            (Some(e), _) => format!("{}: TCP {e}", r.address),
            (None, Some(e)) => format!("{}: TLS {e}", r.address),
            (None, None) => r.address.clone(),
        })
        .collect();
    (!failed.is_empty()).then(|| format!("unreachable: {}", failed.join("; ")))
}

/// `Ok` when `state` holds on `addrs`; otherwise what is wrong, as the start of a message.
fn state_reached(spec: &Spec, addrs: &[HostAddr]) -> Result<(), String> {
    let (wrong, what): (Vec<&Cidr>, _) = match spec.state {
        State::Any => return Ok(()),
        State::Present => (
            spec.vips
                .iter()
                .filter(|v| net::holding(addrs, v.addr).is_none())
                .collect(),
            "not bound on this host",
        ),
        State::Absent => (
            spec.vips
                .iter()
                .filter(|v| net::holding(addrs, v.addr).is_some())
                .collect(),
            "still bound on this host",
        ),
    };
    if wrong.is_empty() {
        return Ok(());
    }
    let details: Vec<String> = wrong
        .iter()
        .map(|v| match (spec.state, net::holding(addrs, v.addr)) {
            (State::Absent, Some(h)) => format!("{} (on {})", v.addr, h.interface),
            _ => match net::home_of(addrs, v.addr) {
                net::Home::Interface(s) => format!(
                    "{} (its subnet is on {}: {}/{})",
                    v.addr, s.interface, s.addr, s.prefix
                ),
                net::Home::Ambiguous(names) => format!(
                    "{} (its subnet is on several interfaces: {})",
                    v.addr,
                    names.join(", ")
                ),
                net::Home::Nowhere => format!("{} (no interface here is in its subnet)", v.addr),
            },
        })
        .collect();
    let noun = if wrong.len() == 1 { "VIP" } else { "VIPs" };
    let verb = if wrong.len() == 1 { "is" } else { "are" };
    let state = if spec.state == State::Present {
        "present"
    } else {
        "absent"
    };
    Err(format!(
        "state={state}: {noun} {} {verb} {what}",
        details.join(", ")
    ))
}

fn summary(reports: &[VipReport], probed: bool) -> Value {
    let bound = reports.iter().filter(|r| r.bound).count();
    let reachable = reports.iter().filter(|r| r.reachable()).count();
    json!({
        "total": reports.len(),
        "bound": bound,
        "all_bound": bound == reports.len(),
        "none_bound": bound == 0,
        "reachable": if probed { json!(reachable) } else { Value::Null },
        "all_reachable": if probed { json!(reachable == reports.len()) } else { Value::Null },
    })
}

/// One clause per VIP: "10.0.0.100 is bound on eth0, port 8443 accepts TCP, a TLS server answers (TLSv1.3)".
fn describe(reports: &[VipReport], spec: &Spec) -> String {
    let parts: Vec<String> = reports
        .iter()
        .map(|r| {
            let mut text = match &r.interface {
                Some(i) => format!("{} is bound on {i}", r.address),
                None => format!("{} is not bound here", r.address),
            };
            if let (Some(port), Some(ok)) = (spec.port, r.tcp_ok) {
                text.push_str(&match (ok, &r.tcp_error) {
                    (true, _) => format!(", port {port} accepts TCP"),
                    (false, Some(e)) => format!(", port {port} does not accept TCP ({e})"),
                    (false, None) => format!(", port {port} does not accept TCP"),
                });
            }
            if spec.tls.is_some() {
                match (&r.tls_version, &r.tls_error) {
                    (Some(v), _) => text.push_str(&format!(", a TLS server answers ({v})")),
                    (None, Some(e)) if r.tcp_ok == Some(true) => {
                        text.push_str(&format!(", no TLS server answers ({e})"))
                    }
                    _ => {}
                }
            }
            text
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(extra: Value) -> Params {
        let mut args = json!({"vips": ["10.0.0.100/24"]});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        kubeha_runtime::testing::params::<VipCheck>(args).unwrap()
    }

    fn spec(extra: Value) -> Result<Spec, Failure> {
        Spec::from_params(&params(extra))
    }

    fn host(entries: &[(&str, &str)]) -> Vec<HostAddr> {
        entries
            .iter()
            .map(|(interface, cidr)| HostAddr::fake(interface, cidr))
            .collect()
    }

    #[test]
    fn options_are_checked_with_clear_messages() {
        for (extra, expect) in [
            (
                json!({"vips": []}),
                "option 'vips' must list at least one address",
            ),
            (
                json!({"vips": ["10.0.0.1", "bad"]}),
                "option 'vips[1]' must be an IP address",
            ),
            (
                json!({"vips": ["10.0.0.1", "10.0.0.1/24"]}),
                "option 'vips' lists 10.0.0.1 twice",
            ),
            (
                json!({"timeout": -1}),
                "option 'timeout' must be 0-3600 seconds, got -1",
            ),
            (
                json!({"port": 0}),
                "option 'port' must be a port (1-65535), got 0",
            ),
            (
                json!({"probe_timeout": 0}),
                "option 'probe_timeout' must be more than 0",
            ),
            (
                json!({"tls_check": true}),
                "option 'tls_check' needs 'port'",
            ),
            (
                json!({"server_name": "api.example"}),
                "option 'server_name' applies to the TLS check",
            ),
            (
                json!({"tls_check": true, "port": 443, "server_name": "bad name"}),
                "option 'server_name' must be an IP address or a DNS name",
            ),
        ] {
            let err = spec(extra.clone()).unwrap_err();
            assert!(err.msg.contains(expect), "{extra}: {}", err.msg);
        }
    }

    #[test]
    fn state_messages_say_what_is_wrong_and_where_it_belongs() {
        let addrs = host(&[
            ("lo", "127.0.0.1/8"),
            ("eth0", "10.0.0.11/24"),
            ("eth1", "10.1.0.5/32"),
        ]);
        let present =
            spec(json!({"state": "present", "vips": ["10.0.0.100", "192.0.2.1"]})).unwrap();
        assert_eq!(
            state_reached(&present, &addrs).unwrap_err(),
            "state=present: VIPs 10.0.0.100 (its subnet is on eth0: 10.0.0.11/24), \
             192.0.2.1 (no interface here is in its subnet) are not bound on this host"
        );
        let absent = spec(json!({"state": "absent", "vips": ["10.1.0.5"]})).unwrap();
        assert_eq!(
            state_reached(&absent, &addrs).unwrap_err(),
            "state=absent: VIP 10.1.0.5 (on eth1) is still bound on this host"
        );
        let any = spec(json!({"vips": ["192.0.2.1"]})).unwrap();
        assert!(state_reached(&any, &addrs).is_ok());
    }

    #[test]
    fn waiting_polls_until_the_vip_arrives_and_is_bounded() {
        let arrived = std::cell::Cell::new(0);
        let read = || {
            arrived.set(arrived.get() + 1);
            Ok(if arrived.get() < 3 {
                host(&[("eth0", "10.0.0.11/24")])
            } else {
                host(&[("eth0", "10.0.0.11/24"), ("eth0", "10.0.0.100/24")])
            })
        };
        let s = spec(json!({"state": "present", "timeout": 5})).unwrap();
        let outcome = check_until_done(&s, read).unwrap();
        assert_eq!(outcome.problem, None);
        assert!(outcome.reports[0].bound);
        assert_eq!(arrived.get(), 3);
        assert!(outcome.waited.unwrap() < Duration::from_secs(2));

        let never = || Ok(host(&[("eth0", "10.0.0.11/24")]));
        let s = spec(json!({"state": "present", "timeout": 1})).unwrap();
        let start = Instant::now();
        let outcome = check_until_done(&s, never).unwrap();
        assert!(outcome.waited.unwrap() >= Duration::from_secs(1));
        assert!(outcome
            .problem
            .unwrap()
            .starts_with("state=present: VIP 10.0.0.100"));
        assert!(start.elapsed() < Duration::from_millis(1500));

        let s = spec(json!({"state": "present"})).unwrap();
        let outcome = check_until_done(&s, never).unwrap();
        assert_eq!(outcome.waited, None);
        assert!(outcome.problem.is_some());
    }

    #[test]
    fn unreachable_names_each_failed_probe() {
        let mut ok = VipReport {
            address: "10.0.0.100".into(),
            bound: true,
            interface: Some("eth0".into()),
            prefix: Some(32),
            tcp_ok: Some(true),
            tcp_error: None,
            tls_version: Some("TLSv1.3".into()),
            tls_error: None,
        };
        assert_eq!(unreachable(std::slice::from_ref(&ok)), None);
        let mut refused = ok.clone();
        refused.address = "10.0.0.101".into();
        refused.tcp_ok = Some(false);
        refused.tcp_error = Some("connection refused".into());
        ok.tls_version = None;
        ok.tls_error = Some("the server closed the connection without a TLS answer".into());
        assert_eq!(
            unreachable(&[ok, refused]).unwrap(),
            "unreachable: 10.0.0.100: TLS the server closed the connection without a TLS answer; \
             10.0.0.101: TCP connection refused"
        );
    }

    #[test]
    fn reports_binding_from_a_fake_host() {
        let s = spec(json!({})).unwrap();
        let addrs = host(&[("eth0", "10.0.0.11/24"), ("eth0", "10.0.0.100/32")]);
        let r = s.report(s.vips[0], &addrs);
        assert_eq!(
            (r.bound, r.interface.as_deref(), r.prefix, r.tcp_ok),
            (true, Some("eth0"), Some(32), None)
        );
        let r = s.report(s.vips[0], &addrs[..1]);
        assert_eq!(
            (r.bound, r.interface.clone(), r.prefix),
            (false, None, None)
        );
        let sum = summary(&[r], false);
        assert_eq!(sum["none_bound"], json!(true));
        assert_eq!(sum["all_reachable"], Value::Null);
    }
}
