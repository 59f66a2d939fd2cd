//! The ansible-doc sidecar documents exactly the options the module implements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use static_pod::StaticPod;

#[test]
fn sidecar_matches_spec_and_params() {
    let sidecar = include_str!("../static_pod.yml");
    if let Err(problems) = kubeha_runtime::testing::check_sidecar::<StaticPod>(sidecar) {
        panic!("static_pod.yml disagrees with the code:\n{problems}");
    }
}
