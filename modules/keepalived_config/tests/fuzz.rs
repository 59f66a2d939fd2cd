//! Generated arguments, valid and not: every case answers with one JSON object, never panics,
//! and a failed case leaves the files untouched. KUBEHA_FUZZ_CASES sets the count.

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let base = json!({
        "dest": sandbox.path().join("keepalived.conf"),
        "validate": false,
        "vips": ["192.0.2.100/24"],
        "interface": "eth0",
        "peers": ["10.0.0.11", "10.0.0.12"],
        "this_host": "10.0.0.11",
        "unicast": true,
        "auth_pass": "pw",
        "scripts": [{"name": "chk", "script": "/bin/true", "weight": -30}],
    });
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x6b65_6570,
        sandbox: sandbox.path(),
        fixed: serde_json::Map::new(),
        base: base.as_object().cloned().unwrap_or_default(),
    };
    match fuzz::run::<keepalived_config::KeepalivedConfig>(&config) {
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
