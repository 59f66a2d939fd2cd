//! Generated arguments, valid and not: every case answers with one JSON object, never panics,
//! and a failed case leaves the files untouched. KUBEHA_FUZZ_CASES sets the count.

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let base = json!({
        "preset": "haproxy",
        "manifest_dir": sandbox.path().join("manifests"),
        "config_checksum": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "healthcheck_port": 8081,
        "labels": {"tier": "lb"},
    });
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x706f_6473,
        sandbox: sandbox.path(),
        fixed: serde_json::Map::new(),
        base: base.as_object().cloned().unwrap_or_default(),
    };
    match fuzz::run::<static_pod::StaticPod>(&config) {
        Ok((ok, failed)) => {
            assert_eq!(ok + failed, config.cases);
            assert!(ok > config.cases / 20, "too few valid cases: {ok}");
            assert!(
                failed > config.cases / 20,
                "too few invalid cases: {failed}"
            );
        }
        Err(violation) => panic!("{violation}"),
    }
}
