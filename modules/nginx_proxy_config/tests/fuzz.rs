//! Generated arguments, valid and not: every case answers with one JSON object, never panics,
//! and a failed case leaves the files untouched. KUBEHA_FUZZ_CASES sets the count.

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let base = json!({
        "dest": sandbox.path().join("nginx.conf"),
        "validate": false,
        "backends": [{"name": "cp1", "address": "10.0.0.1"}, {"address": "10.0.0.2", "port": 8443}],
        "healthcheck_port": 8081,
    });
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x6e67_696e,
        sandbox: sandbox.path(),
        fixed: serde_json::Map::new(),
        base: base.as_object().cloned().unwrap_or_default(),
    };
    match fuzz::run::<nginx_proxy_config::NginxProxyConfig>(&config) {
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
