//! Generated arguments, valid and not: every case answers with one JSON object, never panics,
//! and a failed case leaves the files untouched. KUBEHA_FUZZ_CASES sets the count.

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    // Half the cases start from a valid request for one member's keys and CSRs; the fuzzer
    // keeps `cert_dir` inside the sandbox.
    let base = json!({
        "action": "request",
        "cert_dir": sandbox.path().join("pki"),
        "node_name": "cp1",
        "node_ips": ["10.0.0.11"],
        "extra_sans": ["etcd.example.org"],
    });
    let config = fuzz::Config {
        cases: fuzz::cases(10_000),
        seed: 0x6574_6364,
        sandbox: sandbox.path(),
        // RSA keys take ~100 ms each in a debug build; the RSA path has its own tests.
        fixed: json!({"key_algorithm": "ECDSA-P256"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        base: base.as_object().cloned().unwrap_or_default(),
    };
    match fuzz::run::<etcd_certs::EtcdCerts>(&config) {
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
