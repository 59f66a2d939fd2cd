//! The package managers: how each one is asked what is installed, what could be installed,
//! and told to install or remove. Output parsing is kept in pure functions, tested on
//! recorded output.

use kubeha_runtime::{tool, Failure};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Installed (or candidate) version per package name; `None` = not installed (no candidate).
pub type Versions = BTreeMap<String, Option<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Dnf,
    Yum,
    Zypper,
}

const APT_ENV: &[(&str, &str)] = &[
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("APT_LISTCHANGES_FRONTEND", "none"),
    ("NEEDRESTART_MODE", "l"),
];

impl Manager {
    pub fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Dnf => "dnf",
            Manager::Yum => "yum",
            Manager::Zypper => "zypper",
        }
    }

    pub fn from_name(name: &str) -> Option<Manager> {
        match name {
            "apt" => Some(Manager::Apt),
            "dnf" => Some(Manager::Dnf),
            "yum" => Some(Manager::Yum),
            "zypper" => Some(Manager::Zypper),
            _ => None,
        }
    }

    /// The host's manager: the first whose programs are installed.
    pub fn detect() -> Result<Manager, Failure> {
        let has = |p: &str| tool::find(p).is_ok();
        if has("apt-get") && has("dpkg-query") {
            Ok(Manager::Apt)
        } else if has("dnf") && has("rpm") {
            Ok(Manager::Dnf)
        } else if has("yum") && has("rpm") {
            Ok(Manager::Yum)
        } else if has("zypper") && has("rpm") {
            Ok(Manager::Zypper)
        } else {
            Err(Failure::new(
                "no supported package manager found on this host (apt, dnf, yum, zypper); set 'manager' if it is installed elsewhere",
            ))
        }
    }

    fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Manager::Apt => APT_ENV,
            _ => &[],
        }
    }

    fn run(self, argv: Vec<String>) -> Result<tool::Output, Failure> {
        tool::run_env(&argv, self.env())
    }

    /// Installed versions of `names`.
    pub fn installed(self, names: &[String]) -> Result<Versions, Failure> {
        let out = match self {
            Manager::Apt => self.run(argv(
                &[
                    "dpkg-query",
                    "-W",
                    "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n",
                ],
                names,
            ))?,
            _ => self.run(argv(
                &["rpm", "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"],
                names,
            ))?,
        };
        // Both exit non-zero when some names are not installed; the rest is still printed.
        let found = match self {
            Manager::Apt => parse_dpkg_query(&out.stdout),
            _ => parse_rpm_query(&out.stdout),
        };
        Ok(names
            .iter()
            .map(|n| (n.clone(), found.get(base_name(n)).cloned()))
            .collect())
    }

    /// Versions the repositories offer for `names` (`None`: no repository has it).
    pub fn candidates(self, names: &[String]) -> Result<Versions, Failure> {
        let found = match self {
            Manager::Apt => {
                parse_apt_policy(&self.run(argv(&["apt-cache", "policy"], names))?.stdout)
            }
            Manager::Dnf => parse_tab_lines(
                &self
                    .run(argv(
                        &[
                            "dnf",
                            "-q",
                            "repoquery",
                            "--latest-limit",
                            "1",
                            "--qf",
                            "%{name}\t%{version}-%{release}\n",
                        ],
                        names,
                    ))?
                    .stdout,
            ),
            Manager::Yum => parse_yum_list(
                &self
                    .run(argv(
                        &["yum", "-q", "list", "available", "--showduplicates"],
                        names,
                    ))?
                    .stdout,
            ),
            Manager::Zypper => parse_zypper_info(
                &self
                    .run(argv(&["zypper", "-n", "-q", "info"], names))?
                    .stdout,
            ),
        };
        Ok(names
            .iter()
            .map(|n| (n.clone(), found.get(base_name(n)).cloned()))
            .collect())
    }

    /// Seconds since the package cache was last refreshed (None: never / unknown).
    pub fn cache_age(self) -> Option<Duration> {
        let paths: &[&str] = match self {
            Manager::Apt => &[
                "/var/lib/apt/periodic/update-success-stamp",
                "/var/lib/apt/lists",
            ],
            Manager::Dnf => &["/var/cache/dnf"],
            Manager::Yum => &["/var/cache/yum"],
            Manager::Zypper => &["/var/cache/zypp/raw"],
        };
        paths
            .iter()
            .filter_map(|p| Path::new(p).metadata().ok()?.modified().ok())
            .max()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
    }

    pub fn update_cache(self) -> Result<(), Failure> {
        let cmd: &[&str] = match self {
            Manager::Apt => &["apt-get", "update", "-q"],
            Manager::Dnf => &["dnf", "-q", "makecache"],
            Manager::Yum => &["yum", "-q", "makecache"],
            Manager::Zypper => &["zypper", "-n", "-q", "refresh"],
        };
        let out = self.run(argv(cmd, &[]))?;
        if out.success {
            Ok(())
        } else {
            Err(Failure::new(format!(
                "updating the {} cache failed ({}):\n{}",
                self.name(),
                out.status,
                out.combined().trim_end()
            )))
        }
    }

    /// The command that installs `names` (or upgrades them to the candidate).
    pub fn install_command(
        self,
        names: &[String],
        recommends: Option<bool>,
        upgrade: bool,
    ) -> Vec<String> {
        let mut cmd: Vec<&str> = match self {
            Manager::Apt => vec![
                "apt-get",
                "install",
                "-y",
                "-q",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
            ],
            Manager::Dnf if upgrade => vec!["dnf", "-y", "upgrade"],
            Manager::Dnf => vec!["dnf", "-y", "install"],
            Manager::Yum if upgrade => vec!["yum", "-y", "update"],
            Manager::Yum => vec!["yum", "-y", "install"],
            Manager::Zypper => vec!["zypper", "-n", "install"],
        };
        match (self, recommends) {
            (Manager::Apt, Some(true)) => cmd.push("--install-recommends"),
            (Manager::Apt, Some(false)) => cmd.push("--no-install-recommends"),
            (Manager::Dnf, Some(false)) => cmd.push("--setopt=install_weak_deps=False"),
            (Manager::Zypper, Some(true)) => cmd.push("--recommends"),
            (Manager::Zypper, Some(false)) => cmd.push("--no-recommends"),
            _ => {}
        }
        argv(&cmd, names)
    }

    pub fn remove_command(self, names: &[String]) -> Vec<String> {
        let cmd: &[&str] = match self {
            Manager::Apt => &["apt-get", "remove", "-y", "-q"],
            Manager::Dnf => &["dnf", "-y", "remove"],
            Manager::Yum => &["yum", "-y", "remove"],
            Manager::Zypper => &["zypper", "-n", "remove"],
        };
        argv(cmd, names)
    }

    /// Runs an install/remove command; the failure names the packages the manager could not find.
    pub fn change(self, command: &[String]) -> Result<(), Failure> {
        let out = self.run(command.to_vec())?;
        if out.success {
            return Ok(());
        }
        let text = out.combined();
        let missing = not_found(&text);
        let what = if missing.is_empty() {
            String::new()
        } else {
            format!(" (not found: {})", missing.join(", "))
        };
        Err(Failure::new(format!(
            "`{}` failed ({}){what}:\n{}",
            command.join(" "),
            out.status,
            text.trim_end()
        ))
        .with("stdout", out.stdout)
        .with("stderr", out.stderr))
    }
}

fn argv(cmd: &[&str], names: &[String]) -> Vec<String> {
    cmd.iter()
        .map(|s| s.to_string())
        .chain(names.iter().cloned())
        .collect()
}

/// `haproxy:amd64` → `haproxy` (the name the query tools print).
fn base_name(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

/// `dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\n'`: installed when the
/// status abbreviation's second letter is `i` ("ii ").
pub fn parse_dpkg_query(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (name, status, version) = (f.next()?, f.next()?, f.next()?);
            (status.as_bytes().get(1) == Some(&b'i')).then(|| (name.to_owned(), version.to_owned()))
        })
        .collect()
}

/// `rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n'`; "package x is not installed" lines have no tab.
pub fn parse_rpm_query(stdout: &str) -> BTreeMap<String, String> {
    parse_tab_lines(stdout)
}

fn parse_tab_lines(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let (name, version) = line.split_once('\t')?;
            Some((name.trim().to_owned(), version.trim().to_owned()))
        })
        .collect()
}

/// `apt-cache policy a b`: a block per known package, `Candidate: (none)` when not installable.
pub fn parse_apt_policy(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            current = Some(line.trim_end_matches(':').to_owned());
        } else if let (Some(name), Some(rest)) = (&current, line.trim().strip_prefix("Candidate:"))
        {
            let candidate = rest.trim();
            if candidate != "(none)" && !candidate.is_empty() {
                out.insert(
                    name.split(':').next().unwrap_or(name).to_owned(),
                    candidate.to_owned(),
                );
            }
        }
    }
    out
}

/// `yum list available --showduplicates`: `name.arch  version  repo`, the last one per name wins
/// (yum sorts ascending).
pub fn parse_yum_list(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() == 3 && cols[0].contains('.') && !line.starts_with(' ') {
            if let Some((name, _arch)) = cols[0].rsplit_once('.') {
                out.insert(name.to_owned(), cols[1].to_owned());
            }
        }
    }
    out
}

/// `zypper info a b`: `Name : a` ... `Version : 1.2-3` blocks.
pub fn parse_zypper_info(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in stdout.lines() {
        if let Some((key, value)) = line.split_once(':') {
            match key.trim() {
                "Name" => name = Some(value.trim().to_owned()),
                "Version" => {
                    if let Some(n) = name.take() {
                        out.insert(n, value.trim().to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Package names a manager's error output says it could not find.
pub fn not_found(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let name = line
            .strip_prefix("E: Unable to locate package ")
            .or_else(|| line.strip_prefix("No match for argument: "))
            .or_else(|| {
                line.strip_prefix("No package ")
                    .and_then(|r| r.strip_suffix(" available."))
            })
            .or_else(|| {
                line.strip_prefix("No provider of '")
                    .and_then(|r| r.split('\'').next())
            })
            .or_else(|| {
                line.strip_prefix("Package '")
                    .and_then(|r| r.strip_suffix("' not found."))
            });
        if let Some(n) = name {
            let n = n.trim().to_owned();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_query_keeps_only_installed() {
        let out = "haproxy\tii \t2.6.12-1+deb12u3\nnginx\trc \t1.22.1-9\nkeepalived\tun \t\n";
        let m = parse_dpkg_query(out);
        assert_eq!(m.len(), 1);
        assert_eq!(m["haproxy"], "2.6.12-1+deb12u3");
    }

    #[test]
    fn apt_policy_candidates() {
        let out = "haproxy:\n  Installed: (none)\n  Candidate: 2.6.12-1+deb12u3\n  Version table:\n     2.6.12-1+deb12u3 500\n        500 file:/srv/lab-repo ./ Packages\nghost:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";
        let m = parse_apt_policy(out);
        assert_eq!(
            m.get("haproxy").map(String::as_str),
            Some("2.6.12-1+deb12u3")
        );
        assert!(!m.contains_key("ghost"));
    }

    #[test]
    fn rpm_query_skips_not_installed_lines() {
        let out = "haproxy\t2.4.22-3.el9\npackage keepalived is not installed\n";
        let m = parse_rpm_query(out);
        assert_eq!(m.len(), 1);
        assert_eq!(m["haproxy"], "2.4.22-3.el9");
    }

    #[test]
    fn yum_list_takes_latest() {
        let out = "Available Packages\nhaproxy.x86_64   1.5.18-9.el7   base\nhaproxy.x86_64   1.5.18-10.el7  updates\n";
        assert_eq!(parse_yum_list(out)["haproxy"], "1.5.18-10.el7");
    }

    #[test]
    fn zypper_info_blocks() {
        let out = "Information for package haproxy:\n--------------------------------\nRepository     : Main\nName           : haproxy\nVersion        : 2.8.3-1.1\nArch           : x86_64\n";
        assert_eq!(parse_zypper_info(out)["haproxy"], "2.8.3-1.1");
    }

    #[test]
    fn not_found_names_from_each_manager() {
        let text = "E: Unable to locate package ghost\nNo match for argument: phantom\nPackage 'spectre' not found.\nNo package wraith available.\n";
        assert_eq!(not_found(text), ["ghost", "phantom", "spectre", "wraith"]);
    }

    #[test]
    fn install_commands() {
        let names = vec!["haproxy".to_owned()];
        assert_eq!(
            Manager::Apt.install_command(&names, Some(false), false).join(" "),
            "apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends haproxy"
        );
        assert_eq!(
            Manager::Dnf.install_command(&names, None, true).join(" "),
            "dnf -y upgrade haproxy"
        );
        assert_eq!(
            Manager::Zypper.remove_command(&names).join(" "),
            "zypper -n remove haproxy"
        );
    }
}
