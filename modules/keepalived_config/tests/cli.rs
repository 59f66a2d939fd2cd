//! The binary as Ansible runs it: the contract every module writing a file keeps
//! (`kubeha_runtime::testing::contract`), for keepalived.conf, and what is keepalived_config's
//! own. Runs that validate with the real keepalived happen on a sandbox host (a private network
//! namespace whose eth0 has 198.51.100.2/24 and 2001:db8:5::2/64), so interface detection and
//! `keepalived -t` see a known host.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Sandbox;
use kubeha_runtime::fuzz;
use kubeha_runtime::testing::contract::{Change, FileModule, Secret, Subject, Validator};
use kubeha_runtime::testing::{real_tool, Binary};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_keepalived_config");
/// Refused: keepalived would read the '#' as the start of a comment.
const PASSWORD: &str = "Vr9-pw#x";
const SAFE_PASSWORD: &str = "Vr9pw_k8";
const CHECK: &str = "/etc/keepalived/check_lb.sh";

/// Whether the real keepalived can be used in a sandbox here (always in CI).
fn real() -> bool {
    real_tool("keepalived").is_some() && Sandbox::available()
}

/// On the sandbox host with validation when possible; else here, without validation, on eth0.
fn keepalived() -> FileModule {
    let binary = Binary::new(BIN);
    let sandbox = Sandbox::new()
        .link("eth0", &["198.51.100.2/24", "2001:db8:5::2/64"])
        .stub(CHECK);
    FileModule {
        subject: Subject {
            binary: if real() {
                binary.behind(sandbox.prefix())
            } else {
                binary
            },
            task: |root| {
                let mut task = json!({
                    "dest": root.join("keepalived/keepalived.conf"),
                    "vips": "198.51.100.100/24",
                    "peers": ["lb1", "lb2"],
                    "this_host": "lb1",
                    "auth_pass": SAFE_PASSWORD,
                    "scripts": [{"name": "chk_lb", "script": CHECK, "weight": -30}],
                });
                if !real() {
                    task["validate"] = json!(false);
                    task["interface"] = json!("eth0");
                }
                task
            },
            shows: ("priority_base", json!(150)),
            changes: true,
        },
        dest: "keepalived/keepalived.conf",
        dir_mode: 0o755,
        content: "198.51.100.100/24 dev eth0",
        reports: json!({"instances": [{
            "name": "VI_1", "state": "MASTER", "priority": 150, "virtual_router_id": 148,
            "interface": "eth0", "vips": ["198.51.100.100"], "unicast_peers": [],
        }]}),
        change: Change {
            options: json!({"this_host": "lb2"}),
            before: "    state MASTER\n",
            after: &["    state BACKUP\n", "    priority 140\n"],
        },
        bad: vec![
            (
                json!({"priority": "x"}),
                "option 'priority' (in keepalived_config module) expects an integer",
            ),
            (
                json!({"peers": {"a": 1}}),
                "option 'peers' (in keepalived_config module) expects a list",
            ),
            (
                json!({"vips": ["198.51.100.300/24"]}),
                "option 'vips[0]' must be an IP address",
            ),
            (
                json!({"virtual_router_id": 0}),
                "option 'virtual_router_id' must be between 1 and 255, got 0",
            ),
            (
                json!({"virtual_router_id": 256}),
                "option 'virtual_router_id' must be between 1 and 255, got 256",
            ),
            (
                json!({"vips": ["203.0.113.9/24"]}),
                "same subnet as the VIP 203.0.113.9 (instance VI_1)",
            ),
            (
                json!({"auth_pass": "123456789"}),
                "option 'auth_pass' is 9 characters long",
            ),
        ],
        secret: Some(Secret {
            option: "auth_pass",
            value: SAFE_PASSWORD,
            shown_as: "auth_pass ********",
            tries: vec![
                json!({}),
                json!({"_ansible_check_mode": true, "this_host": "lb2"}),
                json!({"interface": "eth9"}),
                json!({"vips": ["203.0.113.9/24"]}),
                json!({"auth_pass": "Vr9pw_k8Vr9pw_k8"}),
            ],
        }),
        // Passes the module's own checks; the host has no eth9, which keepalived rejects.
        validator: Some(Validator {
            tool: "keepalived",
            rejected: json!({"interface": "eth9"}),
            says: &[" -t -e -f ", "exit status 5", "interface eth9"],
            output_says: "eth9",
        }),
    }
}

kubeha_runtime::module_tests! {
    module: keepalived_config::KeepalivedConfig,
    fuzz: fuzz::Check {
        seed: 0x6b65_6570,
        base: |sandbox| json!({"dest": sandbox.join("keepalived.conf"), "validate": false,
            "vips": ["192.0.2.100/24"], "interface": "eth0", "unicast": true, "auth_pass": "pw",
            "peers": ["10.0.0.11", "10.0.0.12"], "this_host": "10.0.0.11",
            "scripts": [{"name": "chk", "script": "/bin/true", "weight": -30}]}),
        fixed: fuzz::nothing,
    },
    file: keepalived(),
    also: [backup, secret, validator],
}

#[test]
fn interface_is_detected_on_the_real_host_too() {
    // No sandbox: this machine's loopback holds 127.0.0.0/8. (keepalived cannot run VRRP on
    // lo, so no validation.)
    let dir = tempfile::tempdir().unwrap();
    let task = keepalived().task(
        dir.path(),
        json!({"vips": ["127.0.0.88/8"], "validate": false, "interface": null}),
    );
    let r = Binary::new(BIN).run(&task).ok();
    assert_eq!(r.answer["instances"][0]["interface"], json!("lo"));
    assert!(
        std::fs::read_to_string(dir.path().join("keepalived/keepalived.conf"))
            .unwrap()
            .contains("        127.0.0.88/8 dev lo\n")
    );
}

/// '#' would start a comment: refused without repeating the password.
#[test]
fn auth_pass_keepalived_cannot_read_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = keepalived().run(
        dir.path(),
        json!({"_ansible_diff": true, "auth_pass": PASSWORD}),
    );
    assert!(
        !r.stdout.contains(PASSWORD),
        "password leaked: {}",
        r.stdout
    );
    r.refused("option 'auth_pass' contains a character");
}

#[test]
fn ipv6_and_dual_stack_pass_the_real_keepalived() {
    let dir = tempfile::tempdir().unwrap();
    let m = keepalived();
    let instances = json!([
        {"vips": ["198.51.100.100/24", "2001:db8:5::100/64"]},
        {"vips": ["2001:db8:5::200/64"], "advert_int": 0.5},
    ]);
    let options = json!({"auth_pass": null, "instances": instances});
    let r = m.run(dir.path(), options).ok();
    let text = std::fs::read_to_string(m.dest(dir.path())).unwrap();
    assert!(
        text.contains("    virtual_ipaddress_excluded {\n        2001:db8:5::100/64 dev eth0\n")
    );
    assert_eq!(r.answer["instances"][1]["interface"], json!("eth0"));
}

#[test]
fn scripts_as_a_non_root_user_are_validated_despite_keepalived_2_2_7() {
    if !real() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = keepalived();
    let text = m.write(dir.path(), json!({"script_user": "nobody"}));
    assert!(text.contains("    script_user nobody\n"));
    // A real error is still caught through the stand-in config.
    m.run(
        dir.path(),
        json!({"script_user": "nobody", "interface": "eth9"}),
    )
    .refused("interface eth9");
    m.run(dir.path(), json!({"script_user": "no-such-user-x"}))
        .refused("option 'script_user': there is no user 'no-such-user-x'");
}

#[test]
fn missing_or_unusable_scripts_fail_clearly() {
    if !real() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = keepalived();
    let script = dir.path().join("check.sh");
    let notify = format!("{} master", script.display());
    m.run(dir.path(), json!({"notify_master": notify}))
        .refused(&format!(
            "option 'notify_master': {} does not exist on this host",
            script.display()
        ));
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let r = m.run(
        dir.path(),
        json!({"scripts": [{"name": "c", "script": script}]}),
    );
    let r = r.refused("option 'scripts[0].script'");
    assert!(r.msg().contains("is not an executable file"), "{}", r.msg());
    assert!(!m.dest(dir.path()).exists());
}

#[test]
fn adhoc_string_arguments_are_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let text = keepalived().write(
        dir.path(),
        json!({
            "advert_int": "2",
            "virtual_router_id": "68",
            "peers": "198.51.100.2, 198.51.100.3",
            "this_host": "198.51.100.2",
            "unicast": "yes",
            "backup": "true",
        }),
    );
    assert!(
        text.contains("    virtual_router_id 68\n    priority 150\n    advert_int 2\n"),
        "{text}"
    );
    assert!(text.contains(
        "    unicast_src_ip 198.51.100.2\n    unicast_peer {\n        198.51.100.3\n    }\n"
    ));
}
