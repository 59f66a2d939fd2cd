//! External programs (validators, package managers): found on PATH, run with output captured.

use crate::Failure;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Directories searched after `PATH`: over SSH a non-login shell's PATH may lack the sbin
/// directories where haproxy, keepalived and nginx live.
const EXTRA_DIRS: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    run_env(argv, &[])
}

/// Like [`run`], with extra environment variables (e.g. `DEBIAN_FRONTEND=noninteractive`).
pub fn run_env(argv: &[String], env: &[(&str, &str)]) -> Result<Output, Failure> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Failure::new("empty command"))?;
    let exe = find(program)?;
    let out = Command::new(&exe)
        .args(args)
        .env("LC_ALL", "C")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::new(format!("running {}: {e}", exe.display())))?;
    Ok(Output::from_std(out))
}

impl Output {
    fn from_std(out: std::process::Output) -> Output {
        let status = match (
            out.status.code(),
            std::os::unix::process::ExitStatusExt::signal(&out.status),
        ) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".into(),
        };
        Output {
            success: out.status.success(),
            status,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
