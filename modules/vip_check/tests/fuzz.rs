//! Generated arguments, valid and not: every case answers with one JSON object and never
//! panics. No case waits, listens or opens a connection (timeout 0, no port, no vrrp_scan), so
//! generated addresses are parsed and looked up on this host, never contacted.
//! KUBEHA_FUZZ_CASES sets the count.

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let base = json!({"vips": ["127.0.0.1", "10.0.0.100/24"], "state": "any"});
    let fixed = json!({"timeout": 0, "port": null, "tls_check": false, "vrrp_scan": null});
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x7669_7063,
        sandbox: sandbox.path(),
        fixed: fixed.as_object().cloned().unwrap_or_default(),
        base: base.as_object().cloned().unwrap_or_default(),
    };
    match fuzz::run::<vip_check::VipCheck>(&config) {
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
