//! `install_probe`: this binary copied to where keepalived runs it as its `track_script`. The
//! binary that runs the task is the probe, so nothing travels: on the fast path it is already
//! on the host, and a rerun only compares the file with itself. Its directory is root's and
//! 0755 (made when missing, fixed when not): keepalived runs scripts only from paths no other
//! user can write, and the static pod mounts that directory.

use kubeha_runtime::file::{self, FileSpec};
use kubeha_runtime::mode::Mode;
use kubeha_runtime::{Failure, Plan};
use std::path::Path;

pub fn plan(dest: &str) -> Result<Plan, Failure> {
    let path = Path::new(dest);
    if !path.is_absolute() {
        return Err(Failure::new(format!(
            "option 'install_probe' must be an absolute path, got '{dest}'"
        )));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut plan = file::plan_dir(dir, 0o755, "root", "root")?;
    let exe = Path::new("/proc/self/exe");
    let content = std::fs::read(exe).map_err(|e| Failure::io("reading", exe, e))?;
    let mut spec = FileSpec::new(path, content);
    spec.mode = Some(Mode::Bits(0o755));
    spec.owner = Some("root".into());
    spec.group = Some("root".into());
    // A binary: the diff says sizes and checksums only.
    spec.show_content = false;
    plan.merge(spec.plan()?);
    if plan.actions.is_empty() {
        plan.msg = Some(format!("the probe {dest} is this binary already"));
    }
    Ok(plan)
}
