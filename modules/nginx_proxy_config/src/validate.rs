//! Validation with the real `nginx -t`, made safe to run on a live host and in check mode.
//!
//! `nginx -t` is not read-only: it creates the `pid` file and the error/access log files the
//! config names (empty, but created), and fails when their directories do not exist yet (for
//! example `/run/nginx/`, made by the service at start). It also resolves upstream host names,
//! which is wanted: a name nginx cannot resolve would stop it from starting.
//!
//! So nginx checks a twin of the candidate (a `Validate` of its own, which the runtime runs): the
//! same template rendered with the `pid`, error log and access log paths pointed into the
//! validation's private scratch directory. Every other byte is the
//! candidate's, and every line keeps its number, so nginx's messages point at the right line
//! of `dest`. (`-g 'pid ...;'` cannot do this: nginx rejects a `pid` given twice.)
//!
//! Two differences between nginx builds are handled here too: `-e stderr` (startup errors to
//! stderr rather than the build's log file) exists only from nginx 1.19.5, and a config written
//! for an nginx with the stream module built in (the official container images) has no
//! `load_module` line, so on a host whose nginx loads the module dynamically (Debian) the check
//! loads it with `-g`.

use crate::Config;
use kubeha_runtime::validate::{self, Validate};
use kubeha_runtime::{tool, Failure};
use std::path::{Path, PathBuf};

/// How the validating nginx gets its stream module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSupport {
    /// Compiled in (`--with-stream`).
    BuiltIn,
    /// A dynamic module (`--with-stream=dynamic`) at this path.
    Dynamic(PathBuf),
    /// Not built at all.
    Absent,
}

/// What `nginx -V` told about the validating nginx.
#[derive(Debug, Clone)]
pub struct NginxCheck {
    nginx: PathBuf,
    /// Whether `-e stderr` is understood (nginx 1.19.5+).
    startup_log_flag: bool,
    stream: StreamSupport,
}

impl NginxCheck {
    /// Finds nginx and asks it how it was built. Reads only.
    pub fn probe(nginx_path: &str) -> Result<NginxCheck, Failure> {
        let nginx = validate::program(nginx_path, "nginx_path", "nginx (and the stream module)")?;
        let out = tool::run(&[nginx.to_string_lossy().into_owned(), "-V".into()])?;
        if !out.success {
            return Err(Failure::new(format!(
                "`{} -V` failed ({}): {}",
                nginx.display(),
                out.status,
                out.combined().trim()
            )));
        }
        let build = out.combined();
        Ok(NginxCheck {
            startup_log_flag: version(&build).is_none_or(|v| v >= (1, 19, 5)),
            stream: stream_support(&build),
            nginx,
        })
    }
}

/// `nginx -t` on a twin of a config, in the scratch directory validation gives it.
#[derive(Debug)]
pub(crate) struct Twin {
    pub(crate) check: NginxCheck,
    pub(crate) config: Config,
}

impl Validate for Twin {
    fn argv(&self) -> Result<Vec<String>, Failure> {
        let check = &self.check;
        let mut argv = vec![check.nginx.to_string_lossy().into_owned(), "-t".into()];
        if check.startup_log_flag {
            argv.extend(["-e".into(), "stderr".into()]);
        }
        if !self.config.loads_stream_module() {
            if let StreamSupport::Dynamic(module) = &check.stream {
                if !module.exists() {
                    return Err(Failure::new(format!(
                        "{} builds the stream module as a dynamic module, but {} is missing; \
                         install it (Debian/Ubuntu: libnginx-mod-stream) or set validate: false",
                        check.nginx.display(),
                        module.display()
                    )));
                }
                argv.extend(["-g".into(), format!("load_module {};", module.display())]);
            }
        }
        argv.extend(["-c".into(), "%s".into()]);
        Ok(argv)
    }

    fn stand_in(&self, scratch: &Path) -> Result<Option<String>, Failure> {
        let mut twin = self.config.clone();
        twin.options.pid_file = scratch_path(scratch, "nginx.pid")?;
        if twin.options.error_log != "stderr" {
            twin.options.error_log = scratch_path(scratch, "error.log")?;
        }
        if twin.options.stream_access_log.is_some() {
            twin.options.stream_access_log = Some(scratch_path(scratch, "access.log")?);
        }
        twin.render().map(Some)
    }

    fn explain(&self, output: &str) -> String {
        let mut text = tidy(output).trim_end().to_owned();
        if let Some(hint) = hint(output) {
            text.push_str("\nhint: ");
            text.push_str(hint);
        }
        text
    }
}

/// Renders and validates the config for `params` with the nginx it names, writing nothing but
/// the scratch twin. For tests and for callers that want a verdict without a file.
pub fn check_config(params: &crate::Params) -> Result<(), Failure> {
    let config = Config::from_params(params)?;
    let content = config.render()?;
    let check = NginxCheck::probe(&params.nginx_path)?;
    let twin = Twin { check, config };
    validate::run(&twin, Path::new(&params.file.dest), content.as_bytes())
}

fn scratch_path(dir: &Path, name: &str) -> Result<String, Failure> {
    let path = dir.join(name).to_string_lossy().into_owned();
    if path.contains(|c: char| c.is_whitespace() || ";{}#$'\"\\".contains(c)) {
        return Err(Failure::new(format!(
            "the temp directory {} cannot be named in an nginx config (set TMPDIR to a plain path)",
            dir.display()
        )));
    }
    Ok(path)
}

/// `nginx version: nginx/1.22.1` → (1, 22, 1).
fn version(build: &str) -> Option<(u32, u32, u32)> {
    let line = build.lines().find(|l| l.starts_with("nginx version:"))?;
    let text = line.rsplit('/').next()?.split_whitespace().next()?;
    let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// How the build described by `nginx -V` provides the stream module.
pub fn stream_support(build: &str) -> StreamSupport {
    let args: Vec<&str> = build.split_whitespace().collect();
    if args.contains(&"--with-stream=dynamic") {
        let modules = args
            .iter()
            .find_map(|a| a.strip_prefix("--modules-path="))
            .map(PathBuf::from)
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--prefix="))
                    .map(|p| Path::new(p).join("modules"))
            })
            .unwrap_or_else(|| PathBuf::from("/usr/local/nginx/modules"));
        StreamSupport::Dynamic(modules.join("ngx_stream_module.so"))
    } else if args.contains(&"--with-stream") {
        StreamSupport::BuiltIn
    } else {
        StreamSupport::Absent
    }
}

/// nginx's lines without their timestamp and pid: `[emerg] host not found ...`.
fn tidy(output: &str) -> String {
    output.lines().map(tidy_line).collect::<Vec<_>>().join("\n")
}

fn tidy_line(line: &str) -> String {
    // `2026/11/25 08:36:13 [emerg] 18522#18522: message`
    let Some((stamp, rest)) = line.split_once(" [") else {
        return line.to_owned();
    };
    let is_stamp = stamp.len() == 19
        && stamp
            .bytes()
            .all(|b| b.is_ascii_digit() || b"/: ".contains(&b));
    let Some((level, rest)) = rest.split_once("] ").filter(|_| is_stamp) else {
        return line.to_owned();
    };
    let message = rest
        .split_once(": ")
        .filter(|(ids, _)| ids.bytes().all(|b| b.is_ascii_digit() || b == b'#'))
        .map_or(rest, |(_, m)| m);
    format!("[{level}] {message}")
}

/// What to do about the errors users meet most.
fn hint(output: &str) -> Option<&'static str> {
    if output.contains("host not found in upstream") {
        Some("nginx resolves upstream host names when it loads its config: use IP addresses, or make the names resolvable on this host (DNS or /etc/hosts)")
    } else if output.contains("dlopen()") {
        Some("the stream module could not be loaded: install it (Debian/Ubuntu: libnginx-mod-stream), or set stream_module_path to '' if this nginx has it built in")
    } else if output.contains("module \"ngx_stream_module\" is already loaded") {
        Some("this nginx has the stream module built in: set stream_module_path to ''")
    } else if output.contains("unknown directive \"stream\"") {
        Some("this nginx has no stream module: install it (Debian/Ubuntu: libnginx-mod-stream) and set stream_module_path to its .so file")
    } else if output.contains("getpwnam(") || output.contains("getgrnam(") {
        Some("option 'user' names a user or group that does not exist on this host")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_V: &str = "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.22\n\
        configure arguments: --with-cc-opt='-g -O2 -fPIC' --prefix=/usr/share/nginx \
        --modules-path=/usr/lib/nginx/modules --with-threads --with-stream=dynamic \
        --with-stream_ssl_module\n";
    const IMAGE_V: &str = "nginx version: nginx/1.25.2\nconfigure arguments: --prefix=/etc/nginx \
        --with-stream --with-stream_realip_module --with-threads\n";

    #[test]
    fn reads_the_build() {
        assert_eq!(version(DEBIAN_V), Some((1, 22, 1)));
        assert_eq!(
            version("nginx version: nginx/1.18.0 (Ubuntu)\n"),
            Some((1, 18, 0))
        );
        assert_eq!(
            version("nginx version: openresty/1.21.4.1\n"),
            Some((1, 21, 4))
        );
        assert_eq!(version("garbage"), None);
        assert_eq!(
            stream_support(DEBIAN_V),
            StreamSupport::Dynamic(PathBuf::from("/usr/lib/nginx/modules/ngx_stream_module.so"))
        );
        assert_eq!(stream_support(IMAGE_V), StreamSupport::BuiltIn);
        assert_eq!(
            stream_support("configure arguments: --prefix=/opt/ng --with-stream=dynamic"),
            StreamSupport::Dynamic(PathBuf::from("/opt/ng/modules/ngx_stream_module.so"))
        );
        assert_eq!(
            stream_support("configure arguments: --with-http_ssl_module"),
            StreamSupport::Absent
        );
    }

    #[test]
    fn tidies_nginx_lines() {
        let raw = "2026/11/25 08:36:13 [emerg] 18522#18522: host not found in upstream \"x:6443\" in /etc/nginx/nginx.conf:7\n\
                   nginx: configuration file /etc/nginx/nginx.conf test failed";
        assert_eq!(
            tidy(raw),
            "[emerg] host not found in upstream \"x:6443\" in /etc/nginx/nginx.conf:7\n\
             nginx: configuration file /etc/nginx/nginx.conf test failed"
        );
        assert_eq!(tidy("plain [line] here"), "plain [line] here");
    }

    #[test]
    fn hints_for_common_failures() {
        assert!(hint("host not found in upstream \"a\"")
            .unwrap()
            .contains("IP addresses"));
        assert!(hint("dlopen() \"/x.so\" failed")
            .unwrap()
            .contains("libnginx-mod-stream"));
        assert!(hint("module \"ngx_stream_module\" is already loaded")
            .unwrap()
            .contains("''"));
        assert_eq!(hint("something else"), None);
    }
}
