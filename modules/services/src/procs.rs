//! Is a process running a given executable? For init scripts that cannot say whether their
//! daemon runs (Debian's keepalived script has no `status`).
//!
//! A process matches when its `/proc/PID/exe` is the executable: the path as given or as it
//! resolves (`/sbin/keepalived` is `/usr/sbin/keepalived` on a merged-/usr host), with the
//! kernel's ` (deleted)` suffix ignored (a daemon still running the binary a package upgrade
//! replaced). Command lines are not looked at: any process can name anything in its arguments.
//! Only processes of the host's own mount namespace count (that of PID 1): a container's
//! process can show the same executable path.

use kubeha_runtime::procs;
use std::path::{Path, PathBuf};

/// PIDs of live processes (not zombies) running `executable`, this process excepted.
pub fn running(executable: &Path) -> Vec<u32> {
    running_in(Path::new("/proc"), executable)
}

fn running_in(proc_root: &Path, executable: &Path) -> Vec<u32> {
    let mut wanted: Vec<PathBuf> = vec![executable.to_path_buf()];
    if let Ok(resolved) = std::fs::canonicalize(executable) {
        if resolved != executable {
            wanted.push(resolved);
        }
    }
    let host_mounts = std::fs::read_link(proc_root.join("1/ns/mnt"))
        .or_else(|_| std::fs::read_link(proc_root.join("self/ns/mnt")))
        .ok();
    let mut pids = Vec::new();
    for (pid, dir) in procs::others(proc_root).unwrap_or_default() {
        let Ok(exe) = std::fs::read_link(dir.join("exe")) else {
            continue;
        };
        let exe = exe.to_string_lossy();
        let exe = Path::new(exe.strip_suffix(" (deleted)").unwrap_or(&exe));
        if !wanted.iter().any(|w| w == exe) {
            continue;
        }
        let mounts = std::fs::read_link(dir.join("ns/mnt")).ok();
        if host_mounts.is_some() && mounts != host_mounts {
            continue;
        }
        if procs::is_alive(&dir) {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake /proc: each process a directory with `exe`, `ns/mnt` links and a `stat`.
    fn process(proc_root: &Path, pid: u32, exe: &str, mounts: &str, state: &str) {
        let dir = proc_root.join(pid.to_string());
        std::fs::create_dir_all(dir.join("ns")).unwrap();
        symlink(exe, dir.join("exe")).unwrap();
        symlink(mounts, dir.join("ns/mnt")).unwrap();
        std::fs::write(
            dir.join("stat"),
            format!("{pid} (some (odd) name) {state} 1 2 3"),
        )
        .unwrap();
    }

    #[test]
    fn matches_the_executable_deleted_or_not_in_the_host_mount_namespace_only() {
        let proc_root = tempfile::tempdir().unwrap();
        let p = proc_root.path();
        let host = "mnt:[4026531841]";
        process(p, 1, "/sbin/init", host, "S");
        process(p, 10, "/usr/sbin/keepalived", host, "S");
        process(p, 11, "/usr/sbin/keepalived (deleted)", host, "S");
        process(p, 12, "/usr/sbin/keepalived", "mnt:[4026532000]", "S");
        process(p, 13, "/usr/sbin/keepalived", host, "Z");
        process(p, 14, "/usr/bin/keepalived-helper", host, "R");
        std::fs::create_dir_all(p.join("15")).unwrap(); // a kernel thread: no exe
        assert_eq!(
            running_in(p, Path::new("/usr/sbin/keepalived")),
            vec![10, 11]
        );
        assert!(running_in(p, Path::new("/usr/sbin/haproxy")).is_empty());
    }

    #[test]
    fn the_given_path_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "").unwrap();
        let link = dir.path().join("link");
        symlink(&real, &link).unwrap();
        let proc_root = dir.path().join("proc");
        process(&proc_root, 20, &real.to_string_lossy(), "m", "S");
        process(&proc_root, 1, "/sbin/init", "m", "S");
        assert_eq!(running_in(&proc_root, &link), vec![20]);
    }
}
