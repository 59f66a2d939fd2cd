//! Generated arguments, valid and not, against the recorded dnf/rpm fakes (never the machine's
//! own package manager): `kubeha_runtime::fuzz::check`. A test binary of its own, as it points
//! its process's PATH at the fakes.

use kubeha_runtime::fuzz;
use serde_json::json;
use std::path::PathBuf;

#[test]
fn arguments_fuzz() {
    let state = tempfile::tempdir().expect("tempdir");
    for dir in ["repo", "installed"] {
        std::fs::create_dir(state.path().join(dir)).expect("mkdir");
    }
    std::fs::write(state.path().join("repo/haproxy"), "2.4.22-3.el9").expect("write");
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    // This test binary runs only this test, so changing its environment is safe.
    std::env::set_var("PATH", format!("{}:/usr/bin:/bin", fakes.display()));
    std::env::set_var("FAKE_PKG_STATE", state.path());
    fuzz::check::<packages::Packages>(&fuzz::Check {
        seed: 0x706b_6773,
        base: |_| json!({"name": ["haproxy"]}),
        fixed: |_| json!({"manager": "dnf"}),
    });
}
