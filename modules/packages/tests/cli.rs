//! Black-box tests of the binary: the contract every module keeps
//! (`kubeha_runtime::testing::contract`), and package management. The RPM path runs against
//! recorded fakes of `rpm` and `dnf` (tests/fakes); the apt path against the machine's real apt,
//! read-only (real installs are tested in the lab).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubeha_runtime::testing::contract::Subject;
use kubeha_runtime::testing::{merge, Binary};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

const BIN: &str = env!("CARGO_BIN_EXE_packages");

kubeha_runtime::module_tests! {
    module: packages::Packages,
    // The machine's real apt, read-only: an installed package, in check mode.
    binary: Subject {
        binary: Binary::new(BIN),
        task: |_| json!({"name": ["dpkg"], "_ansible_check_mode": true}),
        shows: ("state", json!("present")),
        changes: false,
    },
}

struct FakeRpmHost {
    state: tempfile::TempDir,
}

impl FakeRpmHost {
    fn new(repo: &[(&str, &str)], installed: &[(&str, &str)]) -> FakeRpmHost {
        let state = tempfile::tempdir().unwrap();
        for (dir, pkgs) in [("repo", repo), ("installed", installed)] {
            fs::create_dir(state.path().join(dir)).unwrap();
            for (name, version) in pkgs {
                fs::write(state.path().join(dir).join(name), version).unwrap();
            }
        }
        fs::write(state.path().join("log"), "").unwrap();
        FakeRpmHost { state }
    }

    fn run(&self, args: Value) -> Value {
        let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
        Binary::new(BIN)
            // Only the fakes and the basics: the machine's own apt must not be found.
            .env("PATH", format!("{}:/usr/bin:/bin", fakes.display()))
            .env("FAKE_PKG_STATE", self.state.path())
            .run(&args)
            .answer
    }

    fn installed(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.state.path().join("installed").join(name)).ok()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.state.path().join("log")).unwrap()
    }
}

fn dnf(extra: Value) -> Value {
    let mut args = json!({"manager": "dnf", "_ansible_diff": true});
    merge(&mut args, &extra);
    args
}

#[test]
fn dnf_installs_missing_then_changes_nothing() {
    let host = FakeRpmHost::new(
        &[("haproxy", "2.4.22-3.el9"), ("keepalived", "2.2.8-3.el9")],
        &[("haproxy", "2.4.22-3.el9")],
    );
    let r = host.run(dnf(json!({"name": ["haproxy", "keepalived"]})));
    assert_eq!(r["changed"], json!(true), "{r}");
    assert_eq!(r["install"], json!(["keepalived"]));
    assert_eq!(r["versions"]["keepalived"], json!("2.2.8-3.el9"));
    assert!(
        host.log().contains("dnf -y install keepalived\n"),
        "{}",
        host.log()
    );

    let r = host.run(dnf(json!({"name": ["haproxy", "keepalived"]})));
    assert_eq!(r["changed"], json!(false), "{r}");
    assert!(r.get("diff").is_none());
}

#[test]
fn check_mode_installs_nothing() {
    let host = FakeRpmHost::new(&[("nginx", "1.20.1-14.el9")], &[]);
    let r = host.run(dnf(
        json!({"name": "nginx", "_ansible_check_mode": true, "update_cache": true}),
    ));
    assert_eq!(r["changed"], json!(true));
    assert_eq!(r["install"], json!(["nginx"]));
    assert!(r["diff"][0]["before"]
        .as_str()
        .unwrap()
        .contains("nginx (not installed)"));
    assert_eq!(host.installed("nginx"), None);
    assert!(!host.log().contains("install"), "{}", host.log());
    assert!(
        !host.log().contains("makecache"),
        "no cache refresh in check mode"
    );
}

#[test]
fn latest_upgrades_and_absent_removes() {
    let host = FakeRpmHost::new(
        &[("haproxy", "2.4.22-4.el9")],
        &[("haproxy", "2.4.22-3.el9")],
    );
    let r = host.run(dnf(json!({"name": "haproxy", "state": "latest"})));
    assert_eq!(r["upgrade"], json!(["haproxy"]), "{r}");
    assert_eq!(host.installed("haproxy").as_deref(), Some("2.4.22-4.el9"));
    assert!(host.log().contains("dnf -y upgrade haproxy"));
    let r = host.run(dnf(json!({"name": "haproxy", "state": "latest"})));
    assert_eq!(r["changed"], json!(false));

    let r = host.run(dnf(json!({"name": "haproxy", "state": "absent"})));
    assert_eq!(r["remove"], json!(["haproxy"]));
    assert_eq!(host.installed("haproxy"), None);
    let r = host.run(dnf(json!({"name": "haproxy", "state": "absent"})));
    assert_eq!(r["changed"], json!(false));
}

#[test]
fn unknown_package_fails_naming_it_before_installing_anything() {
    let host = FakeRpmHost::new(&[("haproxy", "2.4.22-3.el9")], &[]);
    let r = host.run(dnf(json!({"name": ["haproxy", "ghostpkg", "phantom"]})));
    assert_eq!(r["failed"], json!(true));
    let msg = r["msg"].as_str().unwrap();
    assert!(
        msg.contains("no package named ghostpkg, phantom is available from the dnf repositories"),
        "{msg}"
    );
    assert_eq!(r["not_found"], json!(["ghostpkg", "phantom"]));
    assert_eq!(host.installed("haproxy"), None, "nothing installed");
}

#[test]
fn update_cache_refreshes_and_is_not_a_change() {
    let host = FakeRpmHost::new(&[("haproxy", "1")], &[("haproxy", "1")]);
    let r = host.run(dnf(json!({"name": "haproxy", "update_cache": true})));
    assert_eq!(r["changed"], json!(false));
    assert_eq!(r["cache_updated"], json!(true));
    assert!(host.state.path().join("cache-updated").exists());
}

#[test]
fn bad_names_are_rejected() {
    let host = FakeRpmHost::new(&[], &[]);
    let r = host.run(dnf(json!({"name": ["--all"]})));
    assert!(
        r["msg"]
            .as_str()
            .unwrap()
            .contains("'--all' is not a package name"),
        "{r}"
    );
    let r = host.run(dnf(json!({"name": []})));
    assert!(r["msg"]
        .as_str()
        .unwrap()
        .contains("must list at least one package"));
    let r = host.run(dnf(json!({"name": "x", "state": "installed"})));
    assert!(r["msg"]
        .as_str()
        .unwrap()
        .contains("must be one of: present, latest, absent"));
    assert!(!host.log().contains("install"));
}

fn apt_run(args: Value) -> Value {
    Binary::new(BIN).run(&args).answer
}

fn have_apt() -> bool {
    Path::new("/usr/bin/apt-get").exists() && Path::new("/usr/bin/dpkg-query").exists()
}

/// The real apt, read-only: what is installed is reported and left alone.
#[test]
fn apt_reports_installed_packages_without_change() {
    if !have_apt() {
        return;
    }
    let r = apt_run(json!({"name": ["dpkg", "coreutils"]}));
    assert_eq!(r["changed"], json!(false), "{r}");
    assert_eq!(r["manager"], json!("apt"));
    assert!(r["versions"]["dpkg"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
}

/// The real apt in check mode: an absent package that no repository has fails, naming it.
#[test]
fn apt_unknown_package_fails_in_check_mode() {
    if !have_apt() {
        return;
    }
    let r = apt_run(json!({"name": ["kubeha-no-such-package"], "_ansible_check_mode": true}));
    assert_eq!(r["failed"], json!(true), "{r}");
    assert!(r["msg"]
        .as_str()
        .unwrap()
        .contains("kubeha-no-such-package"));
}
