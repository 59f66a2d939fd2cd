//! Generated arguments, valid and not: every case answers with one JSON object, never panics,
//! and a failed case leaves the files untouched. KUBEHA_FUZZ_CASES sets the count.

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let base = json!({
        "dest": sandbox.path().join("haproxy.cfg"),
        "validate": false,
        "backends": [{"name": "cp1", "address": "10.0.0.1"}, {"name": "cp2", "address": "cp2.example"}],
        "stats_port": 9000, "stats_user": "admin", "stats_password": "pw",
    });
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x4a50_7278,
        sandbox: sandbox.path(),
        fixed: serde_json::Map::new(),
        base: base.as_object().cloned().unwrap_or_default(),
    };
    match fuzz::run::<haproxy_config::HaproxyConfig>(&config) {
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
