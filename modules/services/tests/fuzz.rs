//! Generated arguments, valid and not, against a fake host (tests/common: fake systemctl,
//! update-rc.d and init scripts; never the machine's): `kubeha_runtime::fuzz::check`. A test
//! binary of its own, as it points its process's environment at the fake host.

mod common;

use kubeha_runtime::fuzz;
use serde_json::json;

#[test]
fn arguments_fuzz() {
    let host = common::FakeHost::systemd();
    for name in ["haproxy", "keepalived"] {
        host.unit(name, &[]);
        host.script(name, &[]);
    }
    // This test binary runs only this test, so changing its environment is safe.
    std::env::set_var(services::host::TEST_ROOT_VAR, host.root());
    fuzz::check::<services::Services>(&fuzz::Check {
        seed: 0x7376_6373,
        base: |_| json!({"name": ["haproxy", "keepalived"], "state": "started"}),
        fixed: fuzz::nothing,
    });
}
