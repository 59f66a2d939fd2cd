//! Validation: the check a candidate file must pass before it replaces the file it is for.
//!
//! A check is one program that must accept the candidate. [`run`] runs it when a write changes
//! the content, before anything next to the file is touched, in a private scratch directory
//! (removed afterwards), the same way in check mode and in a real run; and it words every
//! rejection the same way. Three kinds of check fit [`Validate`]:
//!
//! - the program run on the candidate itself: [`Validator`] (haproxy's `-c -f %s`);
//! - on a stand-in that passes exactly when the candidate would: [`Validator::on_stand_in`]
//!   (keepalived 2.2.7 cannot test scripts run as a non-root user, so it tests the same config
//!   with root);
//! - on a twin the module writes into the scratch directory: an implementation of its own
//!   (nginx's twin points its pid and log files there, since `nginx -t` creates them).

use crate::{tool, Failure};
use std::fs;
use std::path::{Path, PathBuf};

/// A check a candidate must pass (see the module docs).
pub trait Validate: std::fmt::Debug {
    /// The program and its arguments; `%s` stands for the path of the file it checks.
    fn argv(&self) -> Result<Vec<String>, Failure>;

    /// What to check in the candidate's place, given the scratch directory it is written to;
    /// `None`, the default, checks the candidate.
    fn stand_in(&self, _scratch: &Path) -> Result<Option<String>, Failure> {
        Ok(None)
    }

    /// The program's output as a rejection shows it (e.g. tidied, or with a hint added).
    fn explain(&self, output: &str) -> String {
        output.to_owned()
    }
}

/// A program run on the candidate, or on a stand-in for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    pub argv: Vec<String>,
    pub stand_in: Option<String>,
}

impl Validator {
    pub fn new<I, S>(argv: I) -> Validator
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Validator {
            argv: argv.into_iter().map(Into::into).collect(),
            stand_in: None,
        }
    }

    /// Checks `text` instead of the candidate: a stand-in that passes exactly when the
    /// candidate would, for a program that cannot check the candidate itself.
    pub fn on_stand_in(self, text: String) -> Validator {
        Validator {
            stand_in: Some(text),
            ..self
        }
    }
}

impl Validate for Validator {
    fn argv(&self) -> Result<Vec<String>, Failure> {
        Ok(self.argv.clone())
    }

    fn stand_in(&self, _scratch: &Path) -> Result<Option<String>, Failure> {
        Ok(self.stand_in.clone())
    }
}

/// The program a check runs: `program`, the value of the option `option` (a name looked up on
/// PATH and the sbin directories, or a path). Without it the failure says what to do: install
/// `install`, point the option at it, or turn validation off.
pub fn program(program: &str, option: &str, install: &str) -> Result<PathBuf, Failure> {
    tool::find(program).map_err(|e| {
        Failure::new(format!(
            "{}; install {install}, point {option} at it, or set validate: false",
            e.msg
        ))
    })
}

/// Runs `check` on `content`, the candidate for `dest`. Changes nothing but its own scratch
/// directory. A rejection names `dest`, the command (`<candidate>` for the checked file) and the
/// program's output, which it also returns as `validate_output`; in the output the checked
/// file's path reads as `dest` (line numbers are the candidate's) and the scratch directory as
/// `<scratch>`.
pub fn run(check: &dyn Validate, dest: &Path, content: &[u8]) -> Result<(), Failure> {
    let scratch = tempfile::Builder::new()
        .prefix("kubeha-check-")
        .tempdir()
        .map_err(|e| Failure::new(format!("creating a scratch directory for validation: {e}")))?;
    let file = scratch
        .path()
        .join(dest.file_name().unwrap_or("candidate".as_ref()));
    let written = match check.stand_in(scratch.path())? {
        Some(text) => fs::write(&file, text),
        None => fs::write(&file, content),
    };
    written.map_err(|e| Failure::io("writing", &file, e))?;

    let argv = check.argv()?;
    let path = file.to_string_lossy();
    let out = tool::run(
        &argv
            .iter()
            .map(|a| a.replace("%s", &path))
            .collect::<Vec<_>>(),
    )?;
    if out.success {
        return Ok(());
    }
    let output = out
        .combined()
        .replace(path.as_ref(), &dest.to_string_lossy())
        .replace(scratch.path().to_string_lossy().as_ref(), "<scratch>");
    let shown: Vec<String> = argv
        .iter()
        .map(|a| match a.replace("%s", "<candidate>") {
            a if a.contains(' ') => format!("'{a}'"),
            a => a,
        })
        .collect();
    Err(Failure::new(format!(
        "{}: the new content was rejected by `{}` ({}); the existing file was left unchanged:\n{}",
        dest.display(),
        shown.join(" "),
        out.status,
        check.explain(&output).trim_end()
    ))
    .with("validate_output", output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_names_dest_the_command_and_the_output() {
        let dest = Path::new("/etc/app/app.cfg");
        let check = Validator::new(["sh", "-c", "echo bad line in $0:3 >&2; exit 1", "%s"]);
        let err = run(&check, dest, b"x\n").unwrap_err();
        assert_eq!(
            err.msg,
            "/etc/app/app.cfg: the new content was rejected by `sh -c 'echo bad line in $0:3 \
             >&2; exit 1' <candidate>` (exit status 1); the existing file was left \
             unchanged:\nbad line in /etc/app/app.cfg:3"
        );
        assert_eq!(
            err.fields["validate_output"],
            "bad line in /etc/app/app.cfg:3\n"
        );
    }
}
