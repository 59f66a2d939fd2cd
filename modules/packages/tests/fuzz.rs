//! Generated arguments, valid and not, against the recorded dnf/rpm fakes (never the machine's
//! own package manager): every case answers with one JSON object and never panics.

use kubeha_runtime::fuzz;
use serde_json::json;
use std::path::PathBuf;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    for dir in ["repo", "installed"] {
        std::fs::create_dir(state.path().join(dir)).expect("mkdir");
    }
    std::fs::write(state.path().join("repo/haproxy"), "2.4.22-3.el9").expect("write");
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    // This test binary runs only this test, so changing its environment is safe.
    std::env::set_var("PATH", format!("{}:/usr/bin:/bin", fakes.display()));
    std::env::set_var("FAKE_PKG_STATE", state.path());
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x706b_6773,
        sandbox: sandbox.path(),
        fixed: json!({"manager": "dnf"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        base: json!({"name": ["haproxy"]})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    match fuzz::run::<packages::Packages>(&config) {
        Ok((ok, failed)) => {
            assert_eq!(ok + failed, config.cases);
            assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
        }
        Err(violation) => panic!("{violation}"),
    }
}
