//! The ansible-doc sidecar documents exactly the options the module implements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use etcd_certs::EtcdCerts;

#[test]
fn sidecar_matches_spec_and_params() {
    let sidecar = include_str!("../etcd_certs.yml");
    if let Err(problems) = kubeha_runtime::testing::check_sidecar::<EtcdCerts>(sidecar) {
        panic!("etcd_certs.yml disagrees with the code:\n{problems}");
    }
}
