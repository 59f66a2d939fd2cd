//! The files this module writes: modes, owners, directories, and the few file operations the
//! runtime's `FileSpec` does not cover (removing a pending key).

use crate::Settings;
use kubeha_runtime::file::{self, FileSpec};
use kubeha_runtime::mode::Mode;
use kubeha_runtime::{users, Action, Diff, Failure, Plan};
use serde_json::{Map, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Keys: owner read/write only.
pub const KEY_MODE: u32 = 0o600;
/// Certificates: world-readable.
pub const CERT_MODE: u32 = 0o644;

impl Settings {
    /// The wanted state of a key or certificate file.
    pub fn file(&self, path: &Path, content: impl Into<Vec<u8>>, secret: bool) -> FileSpec {
        let mut spec = FileSpec::new(path, content);
        spec.mode = Some(Mode::Bits(if secret { KEY_MODE } else { CERT_MODE }));
        spec.owner = self.owner.clone();
        spec.group = self.group.clone();
        spec.dir_mode = self.layout.dir_mode();
        // Never show key material, not even in a diff.
        spec.show_content = !secret;
        spec
    }

    /// The actions that fix mode and owner of an existing file whose content stays (a key that
    /// is still good, a certificate that is still valid). Nothing for absent files.
    pub fn fix_attributes(&self, path: &Path, secret: bool) -> Result<Plan, Failure> {
        match std::fs::read(path) {
            Ok(content) => {
                let mut plan = self.file(path, content, secret).plan()?;
                plan.fields.clear();
                Ok(plan)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Plan::new()),
            Err(e) => Err(Failure::io("reading", path, e)),
        }
    }

    /// Plans the directories the files go to: created with the layout's mode when missing, and
    /// given the task's owner and group.
    pub fn plan_dirs(&self, dirs: &[PathBuf]) -> Result<Plan, Failure> {
        let uid = self.owner.as_deref().map(users::lookup_user).transpose()?;
        let gid = self.group.as_deref().map(users::lookup_group).transpose()?;
        let mut plan = Plan::new();
        for dir in dirs {
            match std::fs::metadata(dir) {
                Ok(meta) if !meta.is_dir() => {
                    return Err(Failure::new(format!(
                        "{} exists and is not a directory",
                        dir.display()
                    )))
                }
                Ok(meta) => {
                    let uid = uid.filter(|u| *u != meta.uid());
                    let gid = gid.filter(|g| *g != meta.gid());
                    if uid.is_some() || gid.is_some() {
                        plan.act(EnsureDir {
                            path: dir.clone(),
                            mode: None,
                            uid,
                            gid,
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    plan.diff(Diff {
                        before: String::new(),
                        after: format!("directory, mode {:04o}\n", self.layout.dir_mode()),
                        before_header: "(absent)".into(),
                        after_header: dir.to_string_lossy().into_owned(),
                    });
                    plan.act(EnsureDir {
                        path: dir.clone(),
                        mode: Some(self.layout.dir_mode()),
                        uid,
                        gid,
                    });
                }
                Err(e) => return Err(Failure::io("reading", dir, e)),
            }
        }
        Ok(plan)
    }
}

/// The directories holding `paths`, each once, parents first.
pub fn parents<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = paths
        .into_iter()
        .filter_map(|p| p.parent())
        .map(Path::to_path_buf)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// A step that depends on what earlier steps make, which a check-mode run has not made (a
/// new CA, new CSRs). Check mode reports what it would do; a real run without the inputs fails.
#[derive(Debug)]
pub struct Deferred {
    pub what: String,
    pub missing: String,
}

impl Action for Deferred {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn apply(&self, _result: &mut Map<String, Value>) -> Result<(), Failure> {
        Err(Failure::new(self.missing.clone()))
    }
}

/// Creates a directory (with `mode`, parents too) and/or sets its owner and group.
#[derive(Debug)]
struct EnsureDir {
    path: PathBuf,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Action for EnsureDir {
    fn describe(&self) -> String {
        match self.mode {
            Some(mode) => format!("create directory {} ({mode:04o})", self.path.display()),
            None => format!("set the owner of {}", self.path.display()),
        }
    }

    fn apply(&self, _result: &mut Map<String, Value>) -> Result<(), Failure> {
        if let Some(mode) = self.mode {
            file::create_dirs(&self.path, mode)?;
        }
        if self.uid.is_some() || self.gid.is_some() {
            std::os::unix::fs::chown(&self.path, self.uid, self.gid)
                .map_err(|e| Failure::io("chown", &self.path, e))?;
        }
        Ok(())
    }
}

/// Removes a pending key that no certificate needs any more.
#[derive(Debug)]
pub struct RemovePendingKey {
    pub path: PathBuf,
}

impl Action for RemovePendingKey {
    fn describe(&self) -> String {
        format!("remove the unused new key {}", self.path.display())
    }

    fn apply(&self, _result: &mut Map<String, Value>) -> Result<(), Failure> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => sync_parent(&self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Failure::io("removing", &self.path, e)),
        }
    }
}

fn sync_parent(path: &Path) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Failure::io("syncing directory", dir, e))
}
