//! The ansible-doc sidecar documents exactly the options the module implements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use keepalived_config::KeepalivedConfig;

#[test]
fn sidecar_matches_spec_and_params() {
    let sidecar = include_str!("../keepalived_config.yml");
    if let Err(problems) = kubeha_runtime::testing::check_sidecar::<KeepalivedConfig>(sidecar) {
        panic!("keepalived_config.yml disagrees with the code:\n{problems}");
    }
}
