//! The read-only probes both modes use: a bounded TCP connect, haproxy's `show stat` over its
//! admin socket, and "is this process alive" (by name in `/proc`, or by a pid file).
//!
//! Each returns a short reason on failure (it ends up in one line of a keepalived log or in a
//! task's `msg`), and none of them waits past the deadline it is given.

use kubeha_runtime::procs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A point in time no probe may wait past.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline(Instant::now() + budget)
    }

    /// Time left, or an error naming what ran out of time.
    pub fn remaining(&self, doing: &str) -> Result<Duration, String> {
        self.0
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{doing}: out of time"))
    }
}

/// Seconds as people write them, to a tenth: "2.5 s", "3 s".
pub fn seconds(d: Duration) -> String {
    let tenths = (d.as_secs_f64() * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0} s")
    } else {
        format!("{tenths:.1} s")
    }
}

pub(crate) fn io_reason(e: &std::io::Error, waited: Duration) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut | WouldBlock => format!("no answer within {}", seconds(waited)),
        ConnectionReset => "connection reset".into(),
        UnexpectedEof => "connection closed early".into(),
        NotFound => "no such file".into(),
        PermissionDenied => "permission denied".into(),
        _ => {
            // "Network is unreachable (os error 101)" -> "network is unreachable"
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => text.to_owned(),
            }
        }
    }
}

/// A TCP connection to `addr`, waiting at most until `deadline`.
pub fn tcp_connect(addr: SocketAddr, deadline: Deadline) -> Result<TcpStream, String> {
    let wait = deadline.remaining("TCP connect")?;
    TcpStream::connect_timeout(&addr, wait).map_err(|e| io_reason(&e, wait))
}

/// Servers in haproxy's `show stat`: how many can take traffic, out of how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCount {
    pub up: usize,
    pub total: usize,
}

/// Asks haproxy's admin socket for `show stat` and counts the servers of `backend` (or of every
/// backend) that can take traffic.
pub fn haproxy_servers(
    socket: &Path,
    backend: Option<&str>,
    deadline: Deadline,
) -> Result<ServerCount, String> {
    let failed = |e: std::io::Error, wait| {
        format!(
            "haproxy stats socket {}: {}",
            socket.display(),
            io_reason(&e, wait)
        )
    };
    let wait = deadline.remaining("haproxy stats socket")?;
    let mut stream = UnixStream::connect(socket).map_err(|e| failed(e, wait))?;
    stream
        .set_read_timeout(Some(wait))
        .and_then(|()| stream.set_write_timeout(Some(wait)))
        .map_err(|e| failed(e, wait))?;
    stream
        .write_all(b"show stat\n")
        .map_err(|e| failed(e, wait))?;
    let mut answer = String::new();
    let mut buf = [0u8; 8192];
    loop {
        let wait = deadline.remaining("haproxy show stat")?;
        stream
            .set_read_timeout(Some(wait))
            .map_err(|e| failed(e, wait))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => return Err(failed(e, wait)),
        }
    }
    count_servers(&answer, backend)
}

/// Counts servers in `show stat` CSV. A server takes traffic when its status is `UP` (also
/// `UP 1/2`, going down but still up) or `no check` (haproxy uses unchecked servers); `DOWN`,
/// `MAINT`, `DRAIN` and `NOLB` servers take no new connections.
pub fn count_servers(csv: &str, backend: Option<&str>) -> Result<ServerCount, String> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| {
            let first = csv.lines().next().unwrap_or("").trim();
            format!("haproxy did not answer 'show stat' with CSV: '{first}'")
        })?;
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("haproxy's 'show stat' has no '{name}' column"))
    };
    let (pxname, svname, status) = (column("pxname")?, column("svname")?, column("status")?);
    let mut count = ServerCount { up: 0, total: 0 };
    let mut backend_seen = false;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        if backend.is_some_and(|b| b != field(pxname)) {
            continue;
        }
        backend_seen = true;
        if matches!(field(svname), "FRONTEND" | "BACKEND") {
            continue;
        }
        count.total += 1;
        let state = field(status);
        if state.starts_with("UP") || state == "no check" {
            count.up += 1;
        }
    }
    if let Some(name) = backend {
        if !backend_seen {
            return Err(format!("haproxy has no backend named '{name}'"));
        }
    }
    Ok(count)
}

/// PIDs of live processes (not zombies) named `name` in this PID namespace, this process
/// excepted. A process matches when its `comm` (cut to 15 bytes by the kernel) or the file name
/// of its executable is `name`.
pub fn processes_named(name: &str) -> Result<Vec<u32>, String> {
    processes_named_in(Path::new("/proc"), name)
}

fn processes_named_in(proc_root: &Path, name: &str) -> Result<Vec<u32>, String> {
    let others =
        procs::others(proc_root).map_err(|e| format!("reading {}: {e}", proc_root.display()))?;
    let comm_name: String = name
        .chars()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= 15).then_some(c)
        })
        .collect();
    let mut pids = Vec::new();
    for (pid, dir) in others {
        // Processes may exit while we look: every read failing just means "not this one".
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let by_comm = comm.trim_end_matches('\n') == comm_name;
        let by_exe = !by_comm
            && std::fs::read_link(dir.join("exe"))
                .ok()
                .and_then(|exe| {
                    exe.file_name()
                        .map(|f| f.to_string_lossy().trim_end_matches(" (deleted)") == name)
                })
                .unwrap_or(false);
        if (by_comm || by_exe) && procs::is_alive(&dir) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// The PID in `pid_file` (haproxy's `-p`, nginx's `pid`), when that process is alive. A pid
/// file may list several PIDs (haproxy in daemon mode writes one per process); the first
/// live one answers.
pub fn pid_file_alive(pid_file: &Path) -> Result<u32, String> {
    pid_file_alive_in(Path::new("/proc"), pid_file)
}

fn pid_file_alive_in(proc_root: &Path, pid_file: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| {
        format!(
            "pid file {}: {}",
            pid_file.display(),
            io_reason(&e, Duration::ZERO)
        )
    })?;
    let pids: Vec<u32> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .filter(|p| *p > 0)
        .collect();
    if pids.is_empty() {
        return Err(format!("pid file {} holds no PID", pid_file.display()));
    }
    pids.iter()
        .copied()
        .find(|pid| procs::is_alive(&proc_root.join(pid.to_string())))
        .ok_or_else(|| {
            let listed: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!(
                "no process of pid file {} is running (pid {})",
                pid_file.display(),
                listed.join(", ")
            )
        })
}

/// The process `pid` (in this PID namespace) is alive: not gone, not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    procs::is_alive(&Path::new("/proc").join(pid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const SHOW_STAT: &str = "\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight
healthz,FRONTEND,,,0,0,4000,0,0,0,0,0,0,,,,,OPEN,
kube_api_frontend,FRONTEND,,,0,0,4000,0,0,0,0,0,0,,,,,OPEN,
kube_api_backend,cp1,0,0,0,0,1000,0,0,0,,0,,0,0,0,0,UP,100
kube_api_backend,cp2,0,0,0,0,1000,0,0,0,,0,,0,0,0,0,DOWN,100
kube_api_backend,cp3,0,0,0,0,1000,0,0,0,,0,,0,0,0,0,UP 1/2,100
kube_api_backend,BACKEND,0,0,0,0,400,0,0,0,0,0,,0,0,0,0,UP,200
other,s1,0,0,0,0,1000,0,0,0,,0,,0,0,0,0,no check,1
other,s2,0,0,0,0,1000,0,0,0,,0,,0,0,0,0,MAINT,1
other,s3,0,0,0,0,1000,0,0,0,,0,,0,0,0,0,NOLB,1
";

    #[test]
    fn show_stat_counts_servers_that_take_traffic() {
        assert_eq!(
            count_servers(SHOW_STAT, Some("kube_api_backend")),
            Ok(ServerCount { up: 2, total: 3 })
        );
        assert_eq!(
            count_servers(SHOW_STAT, None),
            Ok(ServerCount { up: 3, total: 6 })
        );
        assert_eq!(
            count_servers(SHOW_STAT, Some("nope")).unwrap_err(),
            "haproxy has no backend named 'nope'"
        );
        assert!(count_servers("Unknown command.\n", None)
            .unwrap_err()
            .contains("did not answer 'show stat' with CSV: 'Unknown command.'"));
        assert!(count_servers("# pxname,svname\n", None)
            .unwrap_err()
            .contains("no 'status' column"));
    }

    fn fake_process(root: &Path, pid: u32, comm: &str, state: &str) {
        let dir = root.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        fs::write(dir.join("stat"), format!("{pid} ({comm}) {state} 1 2 3")).unwrap();
    }

    #[test]
    fn processes_by_comm_without_zombies() {
        let root = tempfile::tempdir().unwrap();
        fake_process(root.path(), 10, "haproxy", "S");
        fake_process(root.path(), 11, "haproxy", "Z");
        fake_process(root.path(), 12, "nginx", "R");
        // comm is cut to 15 bytes; a ')' inside it must not confuse the state parser.
        fake_process(root.path(), 13, "kube-controller", "S");
        fake_process(root.path(), 14, "odd) Z (name", "S");
        fs::create_dir_all(root.path().join("self")).unwrap();
        fs::write(root.path().join("uptime"), "1 2").unwrap();
        assert_eq!(processes_named_in(root.path(), "haproxy"), Ok(vec![10]));
        assert_eq!(processes_named_in(root.path(), "nginx"), Ok(vec![12]));
        assert_eq!(
            processes_named_in(root.path(), "kube-controller-manager"),
            Ok(vec![13])
        );
        assert_eq!(
            processes_named_in(root.path(), "odd) Z (name"),
            Ok(vec![14])
        );
        assert_eq!(processes_named_in(root.path(), "keepalived"), Ok(vec![]));
    }

    #[test]
    fn pid_files_name_live_processes() {
        let root = tempfile::tempdir().unwrap();
        fake_process(root.path(), 20, "haproxy", "S");
        fake_process(root.path(), 21, "haproxy", "Z");
        let pid_file = root.path().join("haproxy.pid");
        fs::write(&pid_file, "21\n20\n").unwrap();
        assert_eq!(pid_file_alive_in(root.path(), &pid_file), Ok(20));
        fs::write(&pid_file, "21\n99\n").unwrap();
        assert_eq!(
            pid_file_alive_in(root.path(), &pid_file).unwrap_err(),
            format!(
                "no process of pid file {} is running (pid 21, 99)",
                pid_file.display()
            )
        );
        fs::write(&pid_file, "\n").unwrap();
        assert!(pid_file_alive_in(root.path(), &pid_file)
            .unwrap_err()
            .ends_with("holds no PID"));
        let missing = root.path().join("nope.pid");
        assert_eq!(
            pid_file_alive(&missing).unwrap_err(),
            format!("pid file {}: no such file", missing.display())
        );
        let mine = root.path().join("me.pid");
        fs::write(&mine, std::process::id().to_string()).unwrap();
        assert_eq!(pid_file_alive(&mine), Ok(std::process::id()));
    }

    #[test]
    fn this_process_is_excluded_and_others_are_found() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(!processes_named(me.trim_end())
            .unwrap()
            .contains(&std::process::id()));
        // PID 1 always exists in a PID namespace.
        let init = std::fs::read_to_string("/proc/1/comm").unwrap();
        assert!(processes_named(init.trim_end()).unwrap().contains(&1));
    }

    #[test]
    fn deadlines_run_out() {
        let d = Deadline::after(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            d.remaining("TCP connect").unwrap_err(),
            "TCP connect: out of time"
        );
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(seconds(Duration::from_secs(3)), "3 s");
        assert_eq!(seconds(Duration::from_micros(1_000_376)), "1 s");
        assert_eq!(seconds(Duration::from_millis(1260)), "1.3 s");
    }

    #[test]
    fn tcp_connect_refused_and_accepted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(tcp_connect(addr, Deadline::after(Duration::from_secs(2))).is_ok());
        drop(listener);
        assert_eq!(
            tcp_connect(addr, Deadline::after(Duration::from_secs(2))).unwrap_err(),
            "connection refused"
        );
    }
}
