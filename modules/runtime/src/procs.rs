//! The processes of a `/proc` tree, for modules that look for a daemon (vip_check's probe, the
//! services module's init scripts without `status`). Processes come and go while a module
//! looks: a read that fails means "not this one", never an error.

use std::path::{Path, PathBuf};

/// Every process in `proc_root` but this one: `(pid, its /proc directory)`, in PID order.
pub fn others(proc_root: &Path) -> std::io::Result<Vec<(u32, PathBuf)>> {
    let me = std::process::id();
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(proc_root)?
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            (pid != me).then(|| (pid, entry.path()))
        })
        .collect();
    found.sort_unstable_by_key(|(pid, _)| *pid);
    Ok(found)
}

/// Not a zombie (`Z`) or dead (`X`/`x`): the state field after the `(comm)` in `stat`.
pub fn is_alive(dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| !matches!(state, "Z" | "X" | "x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_lists_processes_but_this_one_and_alive_reads_the_state() {
        let root = tempfile::tempdir().unwrap();
        for (pid, state) in [(7, "S"), (3, "Z"), (std::process::id(), "R")] {
            let dir = root.path().join(pid.to_string());
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("stat"), format!("{pid} (a (b) c) {state} 1 2")).unwrap();
        }
        std::fs::create_dir(root.path().join("self")).unwrap();
        let found = others(root.path()).unwrap();
        assert_eq!(found.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [3, 7]);
        assert!(!is_alive(&found[0].1) && is_alive(&found[1].1));
        assert!(!is_alive(&root.path().join("404")));
    }
}
