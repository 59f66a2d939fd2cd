//! `services`: enables, starts, stops, restarts or reloads OS services with the host's own init
//! system, several in one call: systemd ([`systemd`]: every unit read with one `systemctl show`)
//! or Debian's init scripts ([`sysv`]: `/etc/init.d/NAME`, `update-rc.d`). kubeha's counterpart of
//! `ansible.builtin.service`, whose Python start-up costs more than the work on a converged host.
//!
//! Every service is read first and every problem (a missing unit or script, a script that cannot
//! tell whether its daemon runs) fails the task before anything changes. Then each service in the
//! order given is enabled or disabled, then started, stopped, restarted or reloaded (Ansible's
//! order), and the outcome is read back: a start that leaves the unit failed fails the task.
//! Check mode reads and reports; every command that changes something is an action the runtime
//! applies only outside check mode. Every command has a time limit ([`host`]).

pub mod host;
pub mod procs;
pub mod systemd;
pub mod sysv;

use host::Host;
use kubeha_runtime::{spec, Action, DefaultValue, Diff, Failure, Kind, Module, Opt, Plan};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The module.
#[derive(Debug)]
pub struct Services;

/// The options, typed (see the sidecar `services.yml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The services, handled in this order.
    pub name: Vec<String>,
    /// started, stopped, restarted or reloaded; unset leaves it as it is.
    pub state: Option<String>,
    /// Start at boot; unset leaves it as it is.
    pub enabled: Option<bool>,
    /// auto, systemd or sysvinit.
    pub manager: String,
    /// Service name → absolute path of its executable (init scripts without a `status`).
    pub processes: Option<Map<String, Value>>,
}

impl Module for Services {
    const NAME: &'static str = "services";
    const SPEC: &'static [Opt] = &[
        Opt::list("name", Kind::Str).required(),
        Opt::str("state").choices(&["started", "stopped", "restarted", "reloaded"]),
        Opt::bool("enabled"),
        Opt::str("manager")
            .choices(&["auto", "systemd", "sysvinit"])
            .default(DefaultValue::Str("auto")),
        Opt::dict("processes"),
    ];
    type Params = Params;

    fn plan(params: Params) -> Result<Plan, Failure> {
        let request = Request::from_params(&params)?;
        let host = Host::from_env();
        let init = Init::choose(&params.manager, host, &request);
        let before = init.survey(&request)?;

        let mut plan = Plan::new();
        let mut services = Map::new();
        let (mut before_text, mut after_text) = (String::new(), String::new());
        for (name, before) in request.names.iter().zip(before) {
            let steps = request.steps(before);
            let after = request.after(before);
            services.insert(
                name.clone(),
                json!({
                    "running": after.running,
                    "enabled": after.enabled,
                    "before": {"running": before.running, "enabled": before.enabled},
                }),
            );
            before_text.push_str(&before.line(name, None));
            after_text.push_str(&after.line(name, steps.last().copied()));
            for step in steps {
                plan.act(Change {
                    init: init.clone(),
                    service: name.clone(),
                    step,
                    first: !plan.changed(),
                });
            }
        }
        plan.set("manager", init.name());
        plan.set("services", services);
        if plan.changed() {
            plan.diff(Diff {
                before: before_text,
                after: after_text,
                before_header: format!("services ({})", init.name()),
                after_header: format!("services ({})", init.name()),
            });
        }
        Ok(plan)
    }
}

/// What the task asks for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Each once, in the order given.
    pub names: Vec<String>,
    pub state: Option<State>,
    pub enabled: Option<bool>,
    /// Service name → its executable (absolute).
    pub processes: BTreeMap<String, PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

/// One command that changes a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Enable,
    Disable,
    Start,
    Stop,
    Restart,
    Reload,
}

impl Step {
    /// The word systemctl and init scripts take.
    pub fn verb(self) -> &'static str {
        match self {
            Step::Enable => "enable",
            Step::Disable => "disable",
            Step::Start => "start",
            Step::Stop => "stop",
            Step::Restart => "restart",
            Step::Reload => "reload",
        }
    }
}

/// What a service is (or will be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `None`: its init script cannot tell, and no `state` was asked for (which needs it).
    pub running: Option<bool>,
    /// Starts at boot.
    pub enabled: bool,
    /// On its way down (systemd's `deactivating`): not running, but `stopped` still stops it,
    /// as Ansible's systemd_service does.
    pub stopping: bool,
}

impl Status {
    /// The diff's line: `haproxy: running, enabled`.
    fn line(&self, name: &str, last: Option<Step>) -> String {
        let running = match self.running {
            Some(true) => "running",
            Some(false) => "stopped",
            None => "running or not (its init script cannot tell)",
        };
        let how = match last {
            Some(Step::Restart) => " (restarted)",
            Some(Step::Reload) => " (reloaded)",
            _ => "",
        };
        let enabled = if self.enabled { "enabled" } else { "disabled" };
        format!("{name}: {running}{how}, {enabled}\n")
    }
}

impl Request {
    pub fn from_params(params: &Params) -> Result<Request, Failure> {
        if params.name.is_empty() {
            return Err(Failure::new("option 'name' must list at least one service"));
        }
        let mut names: Vec<String> = Vec::new();
        for name in &params.name {
            check_name("name", name)?;
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let state = match params.state.as_deref() {
            None => None,
            Some("started") => Some(State::Started),
            Some("stopped") => Some(State::Stopped),
            Some("restarted") => Some(State::Restarted),
            Some("reloaded") => Some(State::Reloaded),
            Some(other) => {
                return Err(Failure::new(format!(
                    "option 'state' must be one of: started, stopped, restarted, reloaded; got: {other}"
                )))
            }
        };
        if state.is_none() && params.enabled.is_none() {
            return Err(Failure::new(
                "one of the options 'state' and 'enabled' is required: say what to do with the services",
            ));
        }
        let mut processes = BTreeMap::new();
        for (name, exe) in params.processes.iter().flatten() {
            check_name("processes", name)?;
            let path = match exe {
                Value::String(p) if p.starts_with('/') && !p.contains('\0') => PathBuf::from(p),
                other => {
                    return Err(Failure::new(format!(
                        "option 'processes': the executable of '{name}' must be an absolute path, got {}",
                        spec::describe(other)
                    )))
                }
            };
            processes.insert(name.clone(), path);
        }
        Ok(Request {
            names,
            state,
            enabled: params.enabled,
            processes,
        })
    }

    /// The commands that bring a service from `before` to what is asked, in Ansible's order:
    /// enablement first. `restarted` and `reloaded` always act: a service that is not running is
    /// started.
    pub fn steps(&self, before: Status) -> Vec<Step> {
        let mut steps = Vec::new();
        match self.enabled {
            Some(true) if !before.enabled => steps.push(Step::Enable),
            Some(false) if before.enabled => steps.push(Step::Disable),
            _ => {}
        }
        let running = before.running == Some(true);
        let state_step = match self.state {
            None => None,
            Some(State::Started) => (!running).then_some(Step::Start),
            Some(State::Stopped) => (running || before.stopping).then_some(Step::Stop),
            Some(State::Restarted) => Some(if running { Step::Restart } else { Step::Start }),
            Some(State::Reloaded) => Some(if running { Step::Reload } else { Step::Start }),
        };
        steps.extend(state_step);
        steps
    }

    /// What a service will be once [`steps`](Request::steps) ran.
    pub fn after(&self, before: Status) -> Status {
        Status {
            running: match self.state {
                None => before.running,
                Some(State::Stopped) => Some(false),
                Some(_) => Some(true),
            },
            enabled: self.enabled.unwrap_or(before.enabled),
            stopping: false,
        }
    }

    /// Whether a service has to be started (or enabled) at some point: a masked unit cannot be.
    pub fn starts_or_enables(&self) -> bool {
        self.enabled == Some(true) || matches!(self.state, Some(s) if s != State::Stopped)
    }
}

/// A service name: what systemctl and `/etc/init.d/` take, and nothing a command line, a path
/// or systemctl's unit patterns (`systemctl start 'nginx*'` starts every match) could misread.
fn check_name(option: &str, name: &str) -> Result<(), Failure> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.starts_with('-')
        || name.contains('/')
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '*' | '?' | '['));
    if bad {
        return Err(Failure::new(format!(
            "option '{option}': {} is not a service name (it must not be empty, start with '-', or hold '/', whitespace, control characters or the glob characters * ? [)",
            spec::describe(&Value::String(name.to_owned()))
        )));
    }
    Ok(())
}

/// The init system that manages the host.
#[derive(Debug, Clone)]
pub enum Init {
    Systemd(systemd::Systemd),
    Sysv(sysv::Sysv),
}

impl Init {
    /// `manager`, or with `auto` systemd when it runs the host, else its init scripts.
    pub fn choose(manager: &str, host: Host, request: &Request) -> Init {
        let systemd = match manager {
            "systemd" => true,
            "sysvinit" => false,
            _ => host.runs_systemd(),
        };
        if systemd {
            Init::Systemd(systemd::Systemd::new(host))
        } else {
            Init::Sysv(sysv::Sysv::new(host, request.processes.clone()))
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Init::Systemd(_) => "systemd",
            Init::Sysv(_) => "sysvinit",
        }
    }

    /// Every service's status, in the order of `request.names`; fails naming every service
    /// that cannot be handled, before anything changes.
    pub fn survey(&self, request: &Request) -> Result<Vec<Status>, Failure> {
        match self {
            Init::Systemd(s) => s.survey(request),
            Init::Sysv(s) => s.survey(request),
        }
    }

    /// Runs `step`, checks its outcome and returns what it now is.
    pub fn apply(&self, service: &str, step: Step) -> Result<Fact, Failure> {
        match self {
            Init::Systemd(s) => s.apply(service, step),
            Init::Sysv(s) => s.apply(service, step),
        }
    }
}

/// What a step made true, read back after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    Running(bool),
    Enabled(bool),
}

/// The failure every survey ends with when some services cannot be handled.
pub(crate) fn refuse(problems: Vec<String>, not_found: Vec<String>) -> Result<(), Failure> {
    if problems.is_empty() {
        return Ok(());
    }
    let failure = Failure::new(format!("{}. Nothing was changed.", problems.join("; ")));
    Err(if not_found.is_empty() {
        failure
    } else {
        failure.with("not_found", not_found)
    })
}

/// One command on one service; the runtime applies it outside check mode only.
///
/// The plan's `services` say what each service would be, which is what check mode returns. A
/// real run reports what is: the first change sets every service back to how it was found, and
/// each change then records what it read back, or null for what a failed one left unknown.
#[derive(Debug)]
struct Change {
    init: Init,
    service: String,
    step: Step,
    /// The plan's first change.
    first: bool,
}

impl Action for Change {
    fn describe(&self) -> String {
        format!("{} {}", self.step.verb(), self.service)
    }

    fn apply(&self, result: &mut Map<String, Value>) -> Result<(), Failure> {
        let Some(Value::Object(services)) = result.get_mut("services") else {
            return Err(Failure::new("services: the plan lost its result"));
        };
        if self.first {
            for entry in services.values_mut() {
                if let Value::Object(entry) = entry {
                    let before = entry.get("before").cloned().unwrap_or(Value::Null);
                    entry.insert("running".into(), before["running"].clone());
                    entry.insert("enabled".into(), before["enabled"].clone());
                }
            }
        }
        let key = match self.step {
            Step::Enable | Step::Disable => "enabled",
            _ => "running",
        };
        let outcome = self.init.apply(&self.service, self.step);
        let value = match &outcome {
            Ok(Fact::Running(v) | Fact::Enabled(v)) => Value::Bool(*v),
            Err(_) => Value::Null,
        };
        if let Some(Value::Object(entry)) = services.get_mut(&self.service) {
            entry.insert(key.to_owned(), value);
        }
        outcome.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(state: Option<State>, enabled: Option<bool>) -> Request {
        Request {
            names: vec!["haproxy".into()],
            state,
            enabled,
            processes: BTreeMap::new(),
        }
    }

    fn status(running: bool, enabled: bool) -> Status {
        Status {
            running: Some(running),
            enabled,
            stopping: false,
        }
    }

    #[test]
    fn every_transition() {
        use Step::*;
        /// What is asked (state, enabled), what the service is, and the steps that follow.
        type Case = (Option<State>, Option<bool>, Status, &'static [Step]);
        let cases: &[Case] = &[
            (Some(State::Started), None, status(false, false), &[Start]),
            (Some(State::Started), None, status(true, false), &[]),
            (Some(State::Stopped), None, status(true, true), &[Stop]),
            (Some(State::Stopped), None, status(false, true), &[]),
            (Some(State::Restarted), None, status(true, true), &[Restart]),
            (Some(State::Restarted), None, status(false, true), &[Start]),
            (Some(State::Reloaded), None, status(true, true), &[Reload]),
            (Some(State::Reloaded), None, status(false, true), &[Start]),
            (None, Some(true), status(false, false), &[Enable]),
            (None, Some(true), status(false, true), &[]),
            (None, Some(false), status(true, true), &[Disable]),
            (None, Some(false), status(true, false), &[]),
            (
                Some(State::Started),
                Some(true),
                status(false, false),
                &[Enable, Start],
            ),
            (
                Some(State::Stopped),
                Some(false),
                status(true, true),
                &[Disable, Stop],
            ),
        ];
        for (state, enabled, before, steps) in cases {
            let r = request(*state, *enabled);
            assert_eq!(
                r.steps(*before),
                *steps,
                "{state:?} {enabled:?} from {before:?}"
            );
        }
        let deactivating = Status {
            running: Some(false),
            enabled: true,
            stopping: true,
        };
        assert_eq!(
            request(Some(State::Stopped), None).steps(deactivating),
            [Stop]
        );
    }

    #[test]
    fn after_is_what_was_asked_or_as_it_was() {
        let r = request(Some(State::Reloaded), None);
        assert_eq!(r.after(status(false, true)), status(true, true));
        let r = request(None, Some(false));
        assert_eq!(r.after(status(true, true)), status(true, false));
        let unknown = Status {
            running: None,
            enabled: false,
            stopping: false,
        };
        assert_eq!(request(None, Some(true)).after(unknown).running, None);
    }

    #[test]
    fn diff_lines() {
        assert_eq!(
            status(true, true).line("haproxy", None),
            "haproxy: running, enabled\n"
        );
        assert_eq!(
            status(true, false).line("nginx", Some(Step::Restart)),
            "nginx: running (restarted), disabled\n"
        );
        assert_eq!(
            status(false, false).line("x", None),
            "x: stopped, disabled\n"
        );
    }

    #[test]
    fn names_that_are_no_service_names() {
        for bad in [
            "", ".", "..", "-x", "a/b", "a b", "a\tb", "x\n", "\u{7f}", "nginx*", "ng?nx",
            "[n]ginx",
        ] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
        for good in [
            "haproxy",
            "getty@tty1.service",
            "kube-apiserver",
            "hwclock.sh",
        ] {
            assert!(check_name("name", good).is_ok(), "{good:?}");
        }
    }
}
