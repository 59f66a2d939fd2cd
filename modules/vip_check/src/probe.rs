//! Probe mode: `vip_check --probe ...`, run by keepalived as a `vrrp_script` (not by Ansible).
//!
//! It answers with its exit status (0 healthy, 1 not, 2 bad command line) and ONE line on
//! stderr; nothing on stdout. All checks run on a worker thread and the answer is given when
//! they finish or when the time budget (`--timeout`) runs out, whichever comes first, so even
//! a stuck socket or `/proc` read cannot make keepalived wait for it.

use crate::checks::{self, Deadline};
use crate::{record, scan, tls};
use kubeha_runtime::CliExit;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEFAULT_TIMEOUT: Duration = Duration::from_millis(800);
/// How often `--watch` looks at the watched processes: one small /proc read each time.
const WATCH_POLL: Duration = Duration::from_millis(20);

pub const HELP: &str = "\
vip_check: an Ansible module (run by Ansible with an arguments file) and a health probe for
keepalived's track_script.

Usage:
  vip_check ARGS_FILE          module mode (what Ansible runs; see `ansible-doc vip_check`)
  vip_check --probe [CHECKS]   probe mode
  vip_check --help | --version

Probe mode checks the local load balancer and exits 0 when every requested check passes,
1 when one fails, 2 when the command line is wrong. It prints one line on stderr and nothing
on stdout, and never runs longer than --timeout. Checks run in this order, stopping at the
first failure:

  --process NAME         a live (non-zombie) process named NAME runs in this PID namespace
                         (its /proc comm or executable name); repeat to require several.
                         Where hosts share a PID namespace, use --pid-file instead
  --pid-file PATH        the process whose PID is in PATH is alive (haproxy -p, nginx pid)
  --port PORT            the frontend accepts a TCP connection on ADDRESS:PORT
  --address ADDRESS      where --port and --tls are checked (default 127.0.0.1)
  --tls                  a TLS server answers a hello on ADDRESS:PORT (needs --port): the
                         apiserver behind a TCP-mode frontend is reached
  --haproxy-socket PATH  haproxy's admin socket (`stats socket`) lists at least one server
                         that takes traffic (UP, or `no check`) in `show stat`
  --haproxy-backend NAME count only the servers of this backend (needs --haproxy-socket)
  --backend IP:PORT      at least one of these accepts TCP (for nginx, which has no stats
                         socket); repeat for each backend, [v6]:PORT for IPv6
  --timeout SECONDS      time budget for all checks (default 0.8); keep it below the
                         vrrp_script's timeout, which defaults to its interval
  --vrrp-record PATH     while the probe runs, also listen for VRRP adverts on the segment
                         of the --vrrp-vip addresses, and merge what it heard into PATH
                         (JSON; needs CAP_NET_RAW, else nothing is recorded): the module's
                         vrrp_scan.record then needs no listening of its own
  --vrrp-vip ADDRESS     a VIP whose segment --vrrp-record listens on; repeat for several
  --watch SECONDS        after the checks pass, keep watching the --process/--pid-file
                         processes until SECONDS after the start, and fail within 20 ms
                         of the last one ending (a reload's new process takes over the
                         watch). keepalived then learns at once that the load balancer
                         died instead of at the next run: set it a little below the
                         vrrp_script's interval (0.9 for interval 1), and the script's
                         timeout above it (2), so a late end is not a failure

Example keepalived.conf:
  vrrp_script lb_healthy {
      script \"/usr/local/bin/vip_check --probe --process haproxy --port 8443 --haproxy-socket /run/haproxy/admin.sock --watch 0.9\"
      interval 1
      timeout 2
      fall 1
      rise 2
  }
";

/// The probe's checks, parsed from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub processes: Vec<String>,
    pub pid_files: Vec<PathBuf>,
    pub address: IpAddr,
    pub port: Option<u16>,
    pub tls: bool,
    pub haproxy_socket: Option<PathBuf>,
    pub haproxy_backend: Option<String>,
    pub backends: Vec<SocketAddr>,
    pub timeout: Duration,
    pub watch: Option<Duration>,
    /// `--vrrp-record`: where to record the VRRP adverts heard while the probe runs.
    pub vrrp_record: Option<PathBuf>,
    /// `--vrrp-vip`: the VIPs whose segment it listens on.
    pub vrrp_vips: Vec<IpAddr>,
}

/// The module's command-line hook: claims `--probe`, `--help`, `-h` and `--version`, and any
/// other argument starting with `-` (as a usage error). Everything else is Ansible's path.
pub fn cli(args: &[OsString]) -> Option<CliExit> {
    let first = args.first()?.to_str().unwrap_or("");
    let usage = |msg: String| CliExit {
        code: 2,
        stdout: String::new(),
        stderr: format!("vip_check: {msg} (see vip_check --help)\n"),
    };
    match first {
        "--help" | "-h" => Some(CliExit {
            code: 0,
            stdout: HELP.into(),
            stderr: String::new(),
        }),
        "--version" => Some(CliExit {
            code: 0,
            stdout: format!("vip_check {}\n", env!("CARGO_PKG_VERSION")),
            stderr: String::new(),
        }),
        "--probe" => Some(match parse(&args[1..]) {
            Ok(probe) => {
                let started = Instant::now();
                let recorder = Recorder::start(&probe);
                let watched = probe.watch.map(|w| (started + w, probe.clone()));
                let outcome = run(probe).and_then(|line| match watched {
                    Some((until, probe)) => watch(&probe, until).map(|w| format!("{line}, {w}")),
                    None => Ok(line),
                });
                // A failing load balancer is reported at once; only a passing run waits for
                // the listener (it ends with the watch) and records what it heard.
                if outcome.is_ok() {
                    if let Some(recorder) = recorder {
                        recorder.finish();
                    }
                }
                let (code, line) = match outcome {
                    Ok(line) => (0, format!("vip_check: ok: {line}\n")),
                    Err(line) => (1, format!("vip_check: FAIL: {line}\n")),
                };
                CliExit {
                    code,
                    stdout: String::new(),
                    stderr: line,
                }
            }
            Err(msg) => usage(msg),
        }),
        other if other.starts_with('-') => Some(usage(format!(
            "unknown option '{other}'; probe mode starts with --probe"
        ))),
        _ => None,
    }
}

/// `--vrrp-record`: a listener on the VIPs' segment for as long as the probe runs (its watch,
/// else its time budget). Anything that keeps it from listening (no CAP_NET_RAW, no such
/// segment) only means no record: the probe's answer is about the load balancer alone.
struct Recorder {
    path: PathBuf,
    interface: String,
    start: f64,
    listener: std::thread::JoinHandle<Option<scan::Heard>>,
}

impl Recorder {
    fn start(probe: &Probe) -> Option<Recorder> {
        let path = probe.vrrp_record.clone()?;
        let window = probe.watch.unwrap_or(probe.timeout).mul_f64(0.95);
        let addrs = kubeha_runtime::net::host_addresses().ok()?;
        let listen = scan::segment(None, &probe.vrrp_vips, &addrs, window).ok()?;
        let interface = listen.interface.clone();
        let listener = std::thread::Builder::new()
            .name("vrrp-record".into())
            .spawn(move || scan::listen(&listen).ok())
            .ok()?;
        Some(Recorder {
            path,
            interface,
            start: record::now(),
            listener,
        })
    }

    fn finish(self) {
        if let Ok(Some(heard)) = self.listener.join() {
            let _ = record::update(
                &self.path,
                &self.interface,
                self.start,
                record::now(),
                &heard,
            );
        }
    }
}

/// Parses the arguments after `--probe`.
pub fn parse(args: &[OsString]) -> Result<Probe, String> {
    let mut probe = Probe {
        processes: Vec::new(),
        pid_files: Vec::new(),
        address: IpAddr::from([127, 0, 0, 1]),
        port: None,
        tls: false,
        haproxy_socket: None,
        haproxy_backend: None,
        backends: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
        watch: None,
        vrrp_record: None,
        vrrp_vips: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let arg = arg
            .to_str()
            .ok_or_else(|| format!("argument {arg:?} is not UTF-8"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => rest
                    .next()
                    .and_then(|v| v.to_str())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "--process" => {
                let name = value()?;
                if name.is_empty() || name.contains('/') {
                    return Err(format!("--process needs a process name, got '{name}'"));
                }
                probe.processes.push(name);
            }
            "--port" => {
                let text = value()?;
                probe.port = Some(
                    text.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("--port must be a port (1-65535), got '{text}'"))?,
                );
            }
            "--address" => {
                let text = value()?;
                probe.address = text
                    .parse()
                    .map_err(|_| format!("--address must be an IP address, got '{text}'"))?;
            }
            "--tls" if inline.is_none() => probe.tls = true,
            "--tls" => return Err("--tls takes no value".into()),
            "--pid-file" => {
                let path = value()?;
                if path.is_empty() {
                    return Err("--pid-file needs a path".into());
                }
                probe.pid_files.push(PathBuf::from(path));
            }
            "--haproxy-socket" => probe.haproxy_socket = Some(PathBuf::from(value()?)),
            "--haproxy-backend" => probe.haproxy_backend = Some(value()?),
            "--backend" => {
                let text = value()?;
                probe.backends.push(text.parse().map_err(|_| {
                    format!("--backend must be IP:PORT (or [IPv6]:PORT), got '{text}'")
                })?);
            }
            "--timeout" => probe.timeout = seconds("--timeout", &value()?)?,
            "--watch" => probe.watch = Some(seconds("--watch", &value()?)?),
            "--vrrp-record" => {
                let path = value()?;
                if !path.starts_with('/') {
                    return Err(format!(
                        "--vrrp-record needs an absolute path, got '{path}'"
                    ));
                }
                probe.vrrp_record = Some(PathBuf::from(path));
            }
            "--vrrp-vip" => {
                let text = value()?;
                let addr = text.split('/').next().unwrap_or("");
                probe.vrrp_vips.push(addr.parse().map_err(|_| {
                    format!("--vrrp-vip must be an IP address (a /prefix is ignored), got '{text}'")
                })?);
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if probe.watch.is_some() && probe.processes.is_empty() && probe.pid_files.is_empty() {
        return Err("--watch needs --process or --pid-file (the processes it watches)".into());
    }
    if probe.vrrp_record.is_some() == probe.vrrp_vips.is_empty() {
        return Err("--vrrp-record and --vrrp-vip go together".into());
    }
    if probe.tls && probe.port.is_none() {
        return Err("--tls needs --port".into());
    }
    if probe.haproxy_backend.is_some() && probe.haproxy_socket.is_none() {
        return Err("--haproxy-backend needs --haproxy-socket".into());
    }
    if probe.processes.is_empty()
        && probe.pid_files.is_empty()
        && probe.port.is_none()
        && probe.haproxy_socket.is_none()
        && probe.backends.is_empty()
    {
        return Err(
            "nothing to check: give --process, --pid-file, --port, --haproxy-socket or --backend"
                .into(),
        );
    }
    Ok(probe)
}

/// Runs the checks within the time budget: `Ok(what passed)` or `Err(what failed)`.
pub fn run(probe: Probe) -> Result<String, String> {
    let budget = probe.timeout;
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("probe".into())
        .spawn(move || {
            // The checks' own deadline comes a little earlier, so a slow check usually
            // reports what it was waiting for rather than the budget running out.
            let _ = tx.send(checks_in_order(
                &probe,
                Deadline::after(budget.mul_f64(0.9)),
            ));
        })
        .map_err(|e| format!("starting the checks: {e}"))?;
    match rx.recv_timeout(budget) {
        Ok(outcome) => {
            let _ = worker.join();
            outcome
        }
        // The worker is left behind; the process exits right after this answer.
        Err(_) => Err(format!(
            "the checks did not finish within {}",
            checks::seconds(budget)
        )),
    }
}

/// A duration option's value: seconds, more than 0 and at most 60.
fn seconds(option: &str, text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0 && *t <= 60.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            format!("{option} must be seconds, more than 0 and at most 60, got '{text}'")
        })
}

/// `--watch`: until `until`, every [`WATCH_POLL`], each watched process must still be alive.
/// When a name's process is gone, another live process of that name (a reload's new one)
/// takes over; a pid file is read again each time (a reload rewrites it). The first name or
/// pid file left without a live process fails the probe, naming it.
fn watch(probe: &Probe, until: Instant) -> Result<String, String> {
    let mut by_name: Vec<(&str, Option<u32>)> =
        probe.processes.iter().map(|n| (n.as_str(), None)).collect();
    loop {
        for (name, pid) in &mut by_name {
            if pid.is_some_and(checks::pid_alive) {
                continue;
            }
            let gone = pid.take();
            *pid = checks::processes_named(name)?.first().copied();
            if pid.is_none() {
                return Err(match gone {
                    Some(gone) => format!("{name} (pid {gone}) ended while watched"),
                    None => format!("no process named '{name}' is running"),
                });
            }
        }
        for pid_file in &probe.pid_files {
            checks::pid_file_alive(pid_file).map_err(|e| format!("{e} (while watched)"))?;
        }
        let now = Instant::now();
        if now >= until {
            return Ok("still running when the watch ended".into());
        }
        std::thread::sleep(WATCH_POLL.min(until - now));
    }
}

fn checks_in_order(probe: &Probe, deadline: Deadline) -> Result<String, String> {
    let mut passed = Vec::new();
    for name in &probe.processes {
        let pids = checks::processes_named(name)?;
        match pids.first() {
            Some(pid) => passed.push(format!("{name} running (pid {pid})")),
            None => return Err(format!("no process named '{name}' is running")),
        }
    }
    for pid_file in &probe.pid_files {
        let pid = checks::pid_file_alive(pid_file)?;
        passed.push(format!("pid {pid} of {} running", pid_file.display()));
    }
    if let Some(port) = probe.port {
        let target = SocketAddr::new(probe.address, port);
        checks::tcp_connect(target, deadline)
            .map_err(|e| format!("{target} does not accept TCP: {e}"))?;
        passed.push(format!("{target} accepts TCP"));
        if probe.tls {
            let hello = tls::hello(target, None, deadline)
                .map_err(|e| format!("{target}: no TLS server answers: {e}"))?;
            passed.push(format!("TLS answers ({})", hello.version));
        }
    }
    if let Some(socket) = &probe.haproxy_socket {
        let backend = probe.haproxy_backend.as_deref();
        let count = checks::haproxy_servers(socket, backend, deadline)?;
        let scope = match backend {
            Some(b) => format!("backend {b}"),
            None => "haproxy".to_owned(),
        };
        if count.up == 0 {
            return Err(format!(
                "no server takes traffic in {scope} (0/{} up)",
                count.total
            ));
        }
        passed.push(format!(
            "{}/{} servers up in {scope}",
            count.up, count.total
        ));
    }
    if !probe.backends.is_empty() {
        let mut reasons = Vec::new();
        let found = probe.backends.iter().find(|b| {
            checks::tcp_connect(**b, deadline)
                .map_err(|e| reasons.push(format!("{b}: {e}")))
                .is_ok()
        });
        match found {
            Some(b) => passed.push(format!("backend {b} accepts TCP")),
            None => return Err(format!("no backend accepts TCP ({})", reasons.join(", "))),
        }
    }
    Ok(passed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn parses_every_option() {
        let p = parse(&args(
            "--process haproxy --process=keepalived --pid-file /run/haproxy.pid --port 8443 --address ::1 --tls \
             --haproxy-socket /run/haproxy/admin.sock --haproxy-backend kube_api_backend \
             --backend 10.0.0.11:6443 --backend [fd00::12]:6443 --timeout 0.5",
        ))
        .unwrap();
        assert_eq!(p.processes, ["haproxy", "keepalived"]);
        assert_eq!((p.address.to_string(), p.port), ("::1".into(), Some(8443)));
        assert!(p.tls);
        assert_eq!(p.pid_files, [PathBuf::from("/run/haproxy.pid")]);
        assert_eq!(p.haproxy_backend.as_deref(), Some("kube_api_backend"));
        assert_eq!(p.backends.len(), 2);
        assert_eq!(p.timeout, Duration::from_millis(500));
        assert_eq!(p.watch, None);
        assert_eq!(parse(&args("--port 1")).unwrap().timeout, DEFAULT_TIMEOUT);
        let watched = parse(&args("--process haproxy --watch 0.8")).unwrap();
        assert_eq!(watched.watch, Some(Duration::from_millis(800)));
    }

    #[test]
    fn usage_errors_name_the_option() {
        for (line, expect) in [
            ("", "nothing to check"),
            ("--port", "--port needs a value"),
            ("--port 0", "--port must be a port (1-65535), got '0'"),
            ("--port http", "--port must be a port"),
            (
                "--address localhost --port 1",
                "--address must be an IP address, got 'localhost'",
            ),
            (
                "--process /usr/sbin/haproxy",
                "--process needs a process name",
            ),
            ("--tls", "--tls needs --port"),
            ("--port 1 --tls=yes", "--tls takes no value"),
            ("--pid-file", "--pid-file needs a value"),
            (
                "--haproxy-backend b",
                "--haproxy-backend needs --haproxy-socket",
            ),
            ("--backend cp1:6443", "--backend must be IP:PORT"),
            ("--port 1 --timeout 0", "--timeout must be seconds"),
            ("--port 1 --timeout 61", "--timeout must be seconds"),
            ("--port 1 --colour red", "unknown option '--colour'"),
            (
                "--port 1 --watch 0.8",
                "--watch needs --process or --pid-file",
            ),
            ("--process haproxy --watch 0", "--watch must be seconds"),
            ("--process haproxy --watch soon", "--watch must be seconds"),
        ] {
            let err = parse(&args(line)).unwrap_err();
            assert!(err.contains(expect), "{line}: {err}");
        }
    }

    #[test]
    fn cli_claims_only_dash_arguments() {
        assert!(cli(&[]).is_none());
        assert!(cli(&args("/tmp/ansible-tmp-1/args")).is_none());
        let help = cli(&args("--help")).unwrap();
        assert_eq!(help.code, 0);
        assert!(help.stdout.contains("--haproxy-socket PATH"));
        let bad = cli(&args("--bogus")).unwrap();
        assert_eq!(bad.code, 2);
        assert!(bad.stdout.is_empty());
        assert!(bad.stderr.contains("unknown option '--bogus'"));
        let usage = cli(&args("--probe")).unwrap();
        assert_eq!((usage.code, usage.stdout.as_str()), (2, ""));
        assert!(usage.stderr.contains("nothing to check"));
    }

    #[test]
    fn probe_answers_within_budget_and_stops_at_first_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ok = cli(&args(&format!("--probe --port {port}"))).unwrap();
        assert_eq!(ok.code, 0, "{}", ok.stderr);
        assert_eq!(
            ok.stderr,
            format!("vip_check: ok: 127.0.0.1:{port} accepts TCP\n")
        );
        let fail = cli(&args(&format!(
            "--probe --process no-such-process-x --port {port}"
        )))
        .unwrap();
        assert_eq!(fail.code, 1);
        assert_eq!(
            fail.stderr,
            "vip_check: FAIL: no process named 'no-such-process-x' is running\n"
        );
        assert!(fail.stdout.is_empty());
    }
}
