//! The ansible-doc sidecar documents exactly the options the module implements.

#[test]
fn sidecar_matches_spec_and_params() {
    let sidecar = include_str!("../packages.yml");
    if let Err(problems) = kubeha_runtime::testing::check_sidecar::<packages::Packages>(sidecar) {
        panic!("packages.yml disagrees with the code:\n{problems}");
    }
}
