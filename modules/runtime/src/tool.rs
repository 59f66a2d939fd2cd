//! External programs (validators, package managers, service managers): found on PATH, run with
//! output captured, optionally within a time limit ([`Program::timeout`]).

use crate::Failure;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Directories searched after `PATH`: over SSH a non-login shell's PATH may lack the sbin
/// directories where haproxy, keepalived and nginx live.
const EXTRA_DIRS: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a bounded program's output is still read after it exited. A daemon it started may
/// keep its stdout or stderr open (an init script's `start`): its output is not waited for.
const OUTPUT_GRACE: Duration = Duration::from_millis(200);

/// Finds `program` (a name or a path). The error names the program and how to proceed.
pub fn find(program: &str) -> Result<PathBuf, Failure> {
    let path = std::env::var("PATH").unwrap_or_default();
    let search = format!("{path}:{EXTRA_DIRS}");
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in(program, Some(search), cwd).map_err(|_| {
        Failure::new(format!(
            "'{program}' was not found on this host (searched PATH and {EXTRA_DIRS})"
        ))
    })
}

/// What a program did.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    /// "exit status 1", "signal 9".
    pub status: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stderr then stdout, as a person reading the failure wants them.
    pub fn combined(&self) -> String {
        match (self.stderr.trim().is_empty(), self.stdout.trim().is_empty()) {
            (false, false) => format!("{}\n{}", self.stderr.trim_end(), self.stdout.trim_end()),
            (false, true) => self.stderr.clone(),
            _ => self.stdout.clone(),
        }
    }
}

/// Runs `argv` with no stdin and a fixed C locale, and captures its output.
pub fn run(argv: &[String]) -> Result<Output, Failure> {
    Program::new(argv).run()
}

/// Like [`run`], with extra environment variables (e.g. `DEBIAN_FRONTEND=noninteractive`).
pub fn run_env(argv: &[String], env: &[(&str, &str)]) -> Result<Output, Failure> {
    env.iter()
        .fold(Program::new(argv), |program, (key, value)| {
            program.env(key, value)
        })
        .run()
}

/// A program to run: `argv`, always with no stdin and `LC_ALL=C`, plus what the builder adds;
/// [`run`](Program::run) waits for it as long as it takes, [`run_within`](Program::run_within)
/// for a time limit (only the modules that call it carry that code).
#[derive(Debug, Clone)]
pub struct Program {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    clean_env: bool,
    dir: Option<PathBuf>,
}

impl Program {
    pub fn new(argv: &[String]) -> Program {
        Program {
            argv: argv.to_vec(),
            env: Vec::new(),
            clean_env: false,
            dir: None,
        }
    }

    /// An environment variable on top of the inherited (or clean) environment.
    pub fn env(mut self, key: &str, value: &str) -> Program {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Nothing of this process's environment but a standard `PATH`, as Debian's service(8)
    /// runs an init script (so the daemon it starts does not inherit the caller's variables).
    pub fn clean_env(mut self) -> Program {
        self.clean_env = true;
        self
    }

    /// The working directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Program {
        self.dir = Some(dir.into());
        self
    }

    /// The command line, as messages show it.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }

    fn command(&self) -> Result<(Command, PathBuf), Failure> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| Failure::new("empty command"))?;
        let exe = find(program)?;
        let mut cmd = Command::new(&exe);
        cmd.args(args);
        if self.clean_env {
            cmd.env_clear().env("PATH", EXTRA_DIRS);
        }
        cmd.env("LC_ALL", "C")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        Ok((cmd, exe))
    }

    /// Runs it to its end and captures its output.
    pub fn run(&self) -> Result<Output, Failure> {
        let (mut cmd, exe) = self.command()?;
        cmd.output()
            .map(Output::from_std)
            .map_err(|e| Failure::new(format!("running {}: {e}", exe.display())))
    }

    /// Runs it for at most `limit`: then it is killed with every process of its process group
    /// (it runs in a group of its own) and this fails saying so. Its output is read without
    /// threads (`poll(2)` on its pipes), and no longer than [`OUTPUT_GRACE`] after it exited.
    pub fn run_within(&self, limit: Duration) -> Result<Output, Failure> {
        let (mut cmd, exe) = self.command()?;
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| Failure::new(format!("running {}: {e}", exe.display())))?;
        match Bounded::new(child).wait(Instant::now() + limit) {
            Ok(out) => Ok(out),
            Err(Stopped::Failed(e)) => {
                Err(Failure::new(format!("waiting for {}: {e}", exe.display())))
            }
            Err(Stopped::TimedOut(said)) => {
                let said = said.trim();
                Err(Failure::new(format!(
                    "`{}` did not finish within {}, so it was killed{}",
                    self.display(),
                    seconds(limit),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!("; it had said:\n{said}")
                    }
                )))
            }
        }
    }
}

/// `30 s`, `0.2 s`.
fn seconds(d: Duration) -> String {
    let text = format!("{:.1}", d.as_secs_f64());
    format!("{} s", text.strip_suffix(".0").unwrap_or(&text))
}

enum Stopped {
    Failed(std::io::Error),
    /// What it had printed (stderr, then stdout).
    TimedOut(String),
}

/// How long one wait for output lasts while the program runs: how late its exit is noticed
/// when a daemon it started holds its pipes open.
const TICK: Duration = Duration::from_millis(20);

/// A child with piped stdout and stderr, waited for without threads: `poll(2)` on its pipes,
/// `try_wait` for its exit.
struct Bounded {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Bounded {
    fn new(mut child: Child) -> Bounded {
        Bounded {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            out: Vec::new(),
            err: Vec::new(),
        }
    }

    /// Its output and status once it exited and its pipes ended (or [`OUTPUT_GRACE`] after its
    /// exit); past `deadline`, its process group killed.
    fn wait(mut self, deadline: Instant) -> Result<Output, Stopped> {
        let mut exited: Option<(ExitStatus, Instant)> = None;
        loop {
            if exited.is_none() {
                if let Some(status) = self.child.try_wait().map_err(Stopped::Failed)? {
                    exited = Some((status, Instant::now()));
                }
            }
            let open = self.stdout.is_some() || self.stderr.is_some();
            let now = Instant::now();
            let until = match exited {
                Some((status, at)) => {
                    if !open || now >= at + OUTPUT_GRACE {
                        return Ok(Output::from_parts(status, self.out, self.err));
                    }
                    at + OUTPUT_GRACE
                }
                None if now >= deadline => {
                    self.kill();
                    return Err(Stopped::TimedOut(Output::text(&self.out, &self.err)));
                }
                None => deadline,
            };
            let wait = until.saturating_duration_since(now).min(TICK);
            if open {
                self.read_some(wait).map_err(Stopped::Failed)?;
            } else {
                // Its pipes ended: it is exiting.
                std::thread::sleep(wait.min(Duration::from_millis(1)));
            }
        }
    }

    /// Waits up to `wait` for output, reads what there is, and drops each pipe that ended.
    fn read_some(&mut self, wait: Duration) -> std::io::Result<()> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let (out_ready, err_ready) = {
            let out = self
                .stdout
                .as_ref()
                .map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN));
            let err = self
                .stderr
                .as_ref()
                .map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN));
            let mut fds: Vec<PollFd> = out.into_iter().chain(err).collect();
            match poll(
                &mut fds,
                PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let mut ready = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()));
            // `ready` holds stdout's answer first when stdout is polled at all.
            let out = self.stdout.is_some() && ready.next().unwrap_or(false);
            let err = self.stderr.is_some() && ready.next().unwrap_or(false);
            (out, err)
        };
        if out_ready {
            drain(&mut self.stdout, &mut self.out)?;
        }
        if err_ready {
            drain(&mut self.stderr, &mut self.err)?;
        }
        Ok(())
    }

    /// Kills its process group (it runs in a group of its own) and reaps it.
    fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            use nix::sys::signal::{killpg, Signal};
            let _ = killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        // A child that outlives SIGKILL (stuck in the kernel) is not waited for.
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Reads what a ready pipe holds; at its end, drops it.
fn drain(pipe: &mut Option<impl Read>, into: &mut Vec<u8>) -> std::io::Result<()> {
    let Some(reader) = pipe else {
        return Ok(());
    };
    let mut chunk = [0u8; 8192];
    match reader.read(&mut chunk) {
        Ok(0) => *pipe = None,
        Ok(n) => into.extend_from_slice(&chunk[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

impl Output {
    /// stderr then stdout of a program that did not finish.
    fn text(stdout: &[u8], stderr: &[u8]) -> String {
        Output::from_parts(ExitStatus::default(), stdout.to_vec(), stderr.to_vec()).combined()
    }

    fn from_std(out: std::process::Output) -> Output {
        Output::from_parts(out.status, out.stdout, out.stderr)
    }

    fn from_parts(status: ExitStatus, stdout: Vec<u8>, stderr: Vec<u8>) -> Output {
        let text = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".into(),
        };
        Output {
            success: status.success(),
            status: text,
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> Program {
        Program::new(&["sh".into(), "-c".into(), script.into()])
    }

    #[test]
    fn bounded_run_captures_output_and_status() {
        let out = sh("echo out; echo err >&2; exit 3")
            .run_within(Duration::from_secs(10))
            .unwrap();
        assert!(!out.success);
        assert_eq!(out.code, Some(3));
        assert_eq!(out.status, "exit status 3");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
    }

    #[test]
    fn a_program_past_its_limit_is_killed_with_its_children() {
        let marker = tempfile::tempdir().unwrap();
        let pid_file = marker.path().join("pid");
        let start = Instant::now();
        let err = sh(&format!(
            "echo started; sleep 30 & echo $! > {}; wait",
            pid_file.display()
        ))
        .run_within(Duration::from_millis(300))
        .unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(
            err.msg
                .contains("did not finish within 0.3 s, so it was killed"),
            "{}",
            err.msg
        );
        assert!(err.msg.ends_with("it had said:\nstarted"), "{}", err.msg);
        // The background sleep was in the same process group: gone too (or a zombie of the
        // killed shell, reaped by init).
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        assert!(
            stat.map_or(true, |s| s.contains(") Z ")),
            "the child of the killed program still runs"
        );
    }

    #[test]
    fn a_daemon_holding_the_pipe_is_not_waited_for() {
        let start = Instant::now();
        let out = sh("sleep 3 & echo forked")
            .run_within(Duration::from_secs(10))
            .unwrap();
        assert!(out.success);
        assert_eq!(out.stdout, "forked\n");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn clean_env_keeps_only_a_standard_path() {
        let out = sh("env | sort")
            .clean_env()
            .env("TERM", "dumb")
            .dir("/")
            .run_within(Duration::from_secs(10))
            .unwrap();
        let vars: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="))
            .collect();
        assert_eq!(
            vars,
            [
                "LC_ALL=C".to_owned(),
                format!("PATH={EXTRA_DIRS}"),
                "TERM=dumb".to_owned()
            ]
        );
    }

    #[test]
    fn unbounded_run_is_unchanged() {
        let out = run_env(&["sh".into(), "-c".into(), "echo $X".into()], &[("X", "1")]).unwrap();
        assert_eq!(out.stdout, "1\n");
        assert!(out.success);
    }
}
