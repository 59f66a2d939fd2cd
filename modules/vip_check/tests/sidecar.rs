//! The ansible-doc sidecar documents exactly the options the module implements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_check::VipCheck;

#[test]
fn sidecar_matches_spec_and_params() {
    let sidecar = include_str!("../vip_check.yml");
    if let Err(problems) = kubeha_runtime::testing::check_sidecar::<VipCheck>(sidecar) {
        panic!("vip_check.yml disagrees with the code:\n{problems}");
    }
}
