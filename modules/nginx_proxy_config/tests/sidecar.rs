//! The ansible-doc sidecar documents exactly the options the module implements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nginx_proxy_config::NginxProxyConfig;

#[test]
fn sidecar_matches_spec_and_params() {
    let sidecar = include_str!("../nginx_proxy_config.yml");
    if let Err(problems) = kubeha_runtime::testing::check_sidecar::<NginxProxyConfig>(sidecar) {
        panic!("nginx_proxy_config.yml disagrees with the code:\n{problems}");
    }
}
