//! Black-box tests of the binary on fake hosts (tests/common, tests/fakes): the contract every
//! module keeps (`kubeha_runtime::testing::contract`), then every state transition under
//! systemd and init scripts, check mode, diff, missing services, init scripts without `status`
//! (with and without `processes`), outcomes read back, time limits, and bad input. The
//! machine's own services, systemctl and /etc are never used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::FakeHost;
use kubeha_runtime::testing::contract::Subject;
use kubeha_runtime::testing::Binary;
use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A systemd host where haproxy runs and is enabled, shared by the contract's tests: their task
/// changes nothing there. Under the crate's target tmp dir, built once per test process.
fn contract_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("services-contract");
        let unit = root.join("units/haproxy.service");
        for dir in [
            root.join("bin"),
            root.join("run/systemd/system"),
            unit.clone(),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let _ = symlink(
            common::fakes().join("systemctl"),
            root.join("bin/systemctl"),
        );
        for (key, value) in [
            ("active", "active"),
            ("sub", "running"),
            ("file", "enabled"),
        ] {
            std::fs::write(unit.join(key), value).unwrap();
        }
        root
    })
    .clone()
}

kubeha_runtime::module_tests! {
    module: services::Services,
    binary: Subject {
        binary: Binary::new(common::BIN).env(services::host::TEST_ROOT_VAR, contract_root()),
        task: |_| json!({"name": ["haproxy"], "state": "started", "enabled": true}),
        shows: ("manager", json!("auto")),
        changes: false,
    },
}

fn task(extra: Value) -> Value {
    let mut task = json!({"_ansible_diff": true});
    kubeha_runtime::testing::merge(&mut task, &extra);
    task
}

// ---- systemd ------------------------------------------------------------------------------

#[test]
fn systemd_enables_and_starts_then_changes_nothing_with_one_show() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[]);
    host.unit("keepalived", &[("active", "active"), ("file", "enabled")]);
    let args =
        task(json!({"name": ["haproxy", "keepalived"], "state": "started", "enabled": true}));

    let r = host.run(&args).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.answer["manager"], json!("systemd"));
    assert_eq!(r.msg(), "enable haproxy; start haproxy");
    assert_eq!(
        r.answer["services"],
        json!({
            "haproxy": {"running": true, "enabled": true, "before": {"running": false, "enabled": false}},
            "keepalived": {"running": true, "enabled": true, "before": {"running": true, "enabled": true}},
        })
    );
    assert_eq!(
        r.answer["diff"],
        json!([{
            "before": "haproxy: stopped, disabled\nkeepalived: running, enabled\n",
            "after": "haproxy: running, enabled\nkeepalived: running, enabled\n",
            "before_header": "services (systemd)",
            "after_header": "services (systemd)",
        }])
    );
    assert_eq!(
        host.changes(),
        ["systemctl enable haproxy", "systemctl start haproxy"]
    );
    assert_eq!(host.property("haproxy", "active"), "active");
    assert_eq!(host.property("haproxy", "file"), "enabled");

    host.clear_log();
    let r = host.run(&args).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.msg(), "nothing to change");
    assert!(r.answer.get("diff").is_none());
    let show = "systemctl show --property=Id,LoadState,LoadError,ActiveState,SubState,UnitFileState,SourcePath haproxy keepalived";
    assert_eq!(
        host.log().lines().collect::<Vec<_>>(),
        [show],
        "one call for both"
    );
}

#[test]
fn systemd_stops_and_disables() {
    let host = FakeHost::systemd();
    host.unit("nginx", &[("active", "active"), ("file", "enabled")]);
    let r = host
        .run(&task(
            json!({"name": "nginx", "state": "stopped", "enabled": false}),
        ))
        .ok();
    assert_eq!(r.msg(), "disable nginx; stop nginx");
    assert_eq!(
        r.answer["services"]["nginx"],
        json!({"running": false, "enabled": false, "before": {"running": true, "enabled": true}})
    );
    assert_eq!(host.property("nginx", "active"), "inactive");
    assert_eq!(host.property("nginx", "file"), "disabled");
    let r = host
        .run(&task(
            json!({"name": "nginx", "state": "stopped", "enabled": false}),
        ))
        .ok();
    assert!(!r.changed());
}

#[test]
fn systemd_restarted_and_reloaded_always_act_and_start_a_stopped_unit() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[("active", "active"), ("file", "enabled")]);
    host.unit("etcd", &[]);
    for (state, step) in [("restarted", "restart"), ("reloaded", "reload")] {
        host.clear_log();
        let r = host
            .run(&task(json!({"name": "haproxy", "state": state})))
            .ok();
        assert!(r.changed());
        assert_eq!(host.changes(), [format!("systemctl {step} haproxy")]);
        assert_eq!(
            r.answer["diff"][0]["after"],
            json!(format!("haproxy: running ({state}), enabled\n"))
        );
        let r = host
            .run(&task(json!({"name": "etcd", "state": state})))
            .ok();
        assert_eq!(r.msg(), "start etcd");
        host.run(&task(json!({"name": "etcd", "state": "stopped"})))
            .ok();
    }
}

#[test]
fn systemd_check_mode_runs_nothing_that_changes() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[]);
    host.unit("nginx", &[("active", "active"), ("file", "enabled")]);
    for (state, enabled, service) in [
        ("started", true, "haproxy"),
        ("restarted", false, "nginx"),
        ("stopped", false, "nginx"),
        ("reloaded", true, "haproxy"),
    ] {
        let r = host
            .run(&task(json!({
                "name": service, "state": state, "enabled": enabled, "_ansible_check_mode": true,
            })))
            .ok();
        assert!(r.changed(), "{state}: {}", r.stdout);
        assert!(r.msg().starts_with("would "), "{}", r.msg());
        assert!(r.answer["diff"][0]["after"].is_string());
    }
    assert!(host.changes().is_empty(), "{:?}", host.changes());
    assert_eq!(host.property("haproxy", "active"), "");
    assert_eq!(host.property("nginx", "active"), "active");
}

#[test]
fn systemd_missing_units_fail_by_name_before_anything_changes() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[]);
    let r = host
        .run(&task(json!({"name": ["haproxy", "ghost", "phantom"], "state": "started"})))
        .refused("ghost: systemd has no unit ghost.service (option 'name'); phantom: systemd has no unit phantom.service (option 'name'). Nothing was changed.");
    assert_eq!(r.answer["not_found"], json!(["ghost", "phantom"]));
    assert!(host.changes().is_empty());
}

#[test]
fn systemd_a_start_that_leaves_the_unit_failed_fails_with_its_status() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[("on-start", "crash")]);
    let r = host
        .run(&task(json!({"name": "haproxy", "state": "started"})))
        .failed();
    assert!(
        r.msg().starts_with("haproxy: `systemctl start haproxy` succeeded, but haproxy.service is failed (failed) right after it\n"),
        "{}",
        r.msg()
    );
    assert!(r.msg().contains("Active: failed (failed)"), "{}", r.msg());

    host.unit("nginx", &[("on-start", "fail")]);
    let r = host
        .run(&task(json!({"name": "nginx", "state": "restarted"})))
        .failed();
    assert!(
        r.msg().starts_with("nginx: `systemctl start nginx` failed (exit status 1): Job for nginx.service failed because the control process exited with error code."),
        "{}",
        r.msg()
    );
    assert!(r.msg().contains("Active: failed"), "{}", r.msg());
}

#[test]
fn systemd_a_crash_loop_fails_and_a_oneshot_unit_is_reported_as_not_running() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[("on-start", "loop")]);
    let r = host
        .run(&task(json!({"name": "haproxy", "state": "started"})))
        .failed();
    assert!(
        r.msg()
            .contains("but haproxy.service is activating (auto-restart) right after it"),
        "{}",
        r.msg()
    );
    host.unit("setup-once", &[("on-start", "oneshot")]);
    let r = host
        .run(&task(json!({"name": "setup-once", "state": "restarted"})))
        .ok();
    assert_eq!(r.msg(), "start setup-once");
    assert_eq!(r.answer["services"]["setup-once"]["running"], json!(false));
}

#[test]
fn systemd_a_later_failure_still_reports_the_earlier_change() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[]);
    host.unit("keepalived", &[("on-start", "fail")]);
    let r = host
        .run(&task(
            json!({"name": ["haproxy", "keepalived"], "state": "started"}),
        ))
        .failed();
    assert!(r.changed(), "haproxy was started: {}", r.stdout);
    assert!(r.msg().starts_with("keepalived: "), "{}", r.msg());
    assert_eq!(r.answer["services"]["haproxy"]["running"], json!(true));
    assert_eq!(r.answer["services"]["keepalived"]["running"], Value::Null);
    assert_eq!(host.property("haproxy", "active"), "active");
}

#[test]
fn systemd_a_failed_change_reports_what_is_known() {
    let host = FakeHost::systemd();
    host.unit("keepalived", &[("on-start", "fail")]);
    host.unit("haproxy", &[]);
    let r = host
        .run(&task(
            json!({"name": ["keepalived", "haproxy"], "state": "started", "enabled": true}),
        ))
        .failed();
    assert!(r.changed(), "keepalived was enabled: {}", r.stdout);
    assert_eq!(
        r.answer["services"],
        json!({
            "keepalived": {"running": null, "enabled": true, "before": {"running": false, "enabled": false}},
            "haproxy": {"running": false, "enabled": false, "before": {"running": false, "enabled": false}},
        })
    );
}

#[test]
fn systemd_masked_units_are_refused_for_start_and_enable_only() {
    let host = FakeHost::systemd();
    host.unit("nginx", &[("load", "masked"), ("file", "masked")]);
    for args in [
        json!({"name": "nginx", "state": "started"}),
        json!({"name": "nginx", "enabled": true}),
    ] {
        host.run(&task(args)).refused(
            "nginx: nginx.service is masked, so it cannot be started or enabled (`systemctl unmask nginx` first). Nothing was changed.",
        );
    }
    let r = host
        .run(&task(
            json!({"name": "nginx", "state": "stopped", "enabled": false}),
        ))
        .ok();
    assert!(!r.changed());
}

#[test]
fn systemd_enabled_is_judged_as_ansible_judges_is_enabled() {
    let host = FakeHost::systemd();
    host.unit("static-unit", &[("file", "static")]);
    host.unit("indirect-unit", &[("file", "indirect")]);
    host.unit("ssh", &[("active", "active"), ("file", "enabled")]);
    host.alias("sshd", "ssh");
    host.unit(
        "legacy",
        &[("file", "generated"), ("source", "/etc/init.d/legacy")],
    );
    host.script("legacy", &[]);
    host.link("rc5.d", "S01legacy", "legacy");
    host.unit(
        "legacy-off",
        &[("file", "generated"), ("source", "/etc/init.d/legacy-off")],
    );

    let enable = |name: &str| host.run(&task(json!({"name": name, "enabled": true}))).ok();
    assert!(!enable("static-unit").changed());
    assert!(!enable("sshd").changed(), "an alias is judged by its unit");
    assert!(!enable("legacy").changed(), "S link in rc5.d");
    assert_eq!(enable("legacy-off").msg(), "enable legacy-off");
    // Ansible counts indirect as not enabled: `enabled: true` runs `systemctl enable` each time.
    host.clear_log();
    assert!(enable("indirect-unit").changed());
    assert!(enable("indirect-unit").changed());
    assert_eq!(host.changes().len(), 2);
}

#[test]
fn systemd_stopped_also_stops_a_deactivating_unit() {
    let host = FakeHost::systemd();
    host.unit(
        "etcd",
        &[("active", "deactivating"), ("sub", "stop-sigterm")],
    );
    let r = host
        .run(&task(json!({"name": "etcd", "state": "stopped"})))
        .ok();
    assert_eq!(r.msg(), "stop etcd");
    assert_eq!(
        r.answer["services"]["etcd"]["before"]["running"],
        json!(false)
    );
}

#[test]
fn systemd_that_cannot_be_asked_fails_with_its_words() {
    let host = FakeHost::systemd();
    std::fs::write(host.root().join("offline"), "").unwrap();
    let r = host
        .run(&task(json!({"name": "haproxy", "state": "started", "manager": "systemd"})))
        .refused("`systemctl show haproxy` failed (exit status 1): System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down");
    assert!(r.answer.get("services").is_none());
}

#[test]
fn systemd_a_hung_systemctl_is_killed_at_its_limit() {
    let host = FakeHost::systemd();
    host.limits("state_timeout=0.5\n");
    host.unit("etcd", &[("on-start", "hang")]);
    let start = Instant::now();
    let r = host
        .run(&task(json!({"name": "etcd", "state": "started"})))
        .failed();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        r.msg(),
        "etcd: `".to_owned()
            + &host.root().join("bin/systemctl").display().to_string()
            + " start etcd` did not finish within 0.5 s, so it was killed"
    );
}

// ---- init scripts ---------------------------------------------------------------------------

#[test]
fn sysvinit_enables_and_starts_then_changes_nothing() {
    let host = FakeHost::sysvinit();
    host.script("nginx", &[]);
    let args = task(json!({"name": "nginx", "state": "started", "enabled": true}));
    let r = host.run(&args).ok();
    assert_eq!(r.answer["manager"], json!("sysvinit"));
    assert_eq!(r.msg(), "enable nginx; start nginx");
    assert_eq!(
        host.changes(),
        [
            "update-rc.d nginx defaults",
            "update-rc.d nginx enable",
            "init.d/nginx start"
        ]
    );
    assert_eq!(
        host.rc_links("nginx"),
        [
            "rc0.d/K01nginx",
            "rc1.d/K01nginx",
            "rc2.d/S01nginx",
            "rc3.d/S01nginx",
            "rc4.d/S01nginx",
            "rc5.d/S01nginx",
            "rc6.d/K01nginx"
        ]
    );
    assert!(host.running("nginx"));
    assert_eq!(
        r.answer["diff"][0],
        json!({
            "before": "nginx: stopped, disabled\n",
            "after": "nginx: running, enabled\n",
            "before_header": "services (sysvinit)",
            "after_header": "services (sysvinit)",
        })
    );

    host.clear_log();
    let r = host.run(&args).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(host.log(), "init.d/nginx status\n");
}

#[test]
fn sysvinit_disables_stops_and_enables_again_without_defaults() {
    let host = FakeHost::sysvinit();
    host.script("nginx", &["running"]);
    for (dir, link) in [
        ("rc2.d", "S01nginx"),
        ("rc3.d", "S01nginx"),
        ("rc0.d", "K01nginx"),
    ] {
        host.link(dir, link, "nginx");
    }
    let r = host
        .run(&task(
            json!({"name": "nginx", "state": "stopped", "enabled": false}),
        ))
        .ok();
    assert_eq!(r.msg(), "disable nginx; stop nginx");
    assert_eq!(
        host.rc_links("nginx"),
        ["rc0.d/K01nginx", "rc2.d/K01nginx", "rc3.d/K01nginx"]
    );
    assert!(!host.running("nginx"));

    host.clear_log();
    host.run(&task(json!({"name": "nginx", "enabled": true})))
        .ok();
    assert_eq!(
        host.changes(),
        ["update-rc.d nginx enable"],
        "K links: no defaults"
    );
    assert_eq!(
        host.rc_links("nginx"),
        ["rc0.d/K01nginx", "rc2.d/S01nginx", "rc3.d/S01nginx"]
    );
}

#[test]
fn sysvinit_restarted_and_reloaded() {
    let host = FakeHost::sysvinit();
    host.script("haproxy", &["running"]);
    host.run(&task(json!({"name": "haproxy", "state": "restarted"})))
        .ok();
    host.run(&task(json!({"name": "haproxy", "state": "reloaded"})))
        .ok();
    assert!(host.state("haproxy").join("reloaded").exists());
    host.run(&task(json!({"name": "haproxy", "state": "stopped"})))
        .ok();
    let r = host
        .run(&task(json!({"name": "haproxy", "state": "reloaded"})))
        .ok();
    assert_eq!(r.msg(), "start haproxy");
    assert_eq!(
        host.changes(),
        [
            "init.d/haproxy restart",
            "init.d/haproxy reload",
            "init.d/haproxy stop",
            "init.d/haproxy start"
        ]
    );
}

#[test]
fn sysvinit_check_mode_runs_nothing_that_changes() {
    let host = FakeHost::sysvinit();
    host.script("nginx", &[]);
    host.script("haproxy", &["running"]);
    host.link("rc2.d", "S01haproxy", "haproxy");
    for args in [
        json!({"name": ["nginx", "haproxy"], "state": "started", "enabled": true}),
        json!({"name": ["nginx", "haproxy"], "state": "stopped", "enabled": false}),
        json!({"name": ["haproxy"], "state": "restarted"}),
    ] {
        let mut args = task(args);
        args["_ansible_check_mode"] = json!(true);
        let r = host.run(&args).ok();
        assert!(r.changed());
        assert!(r.msg().starts_with("would "), "{}", r.msg());
    }
    assert!(host.changes().is_empty(), "{:?}", host.changes());
    assert_eq!(host.rc_links("nginx"), Vec::<String>::new());
    assert_eq!(host.rc_links("haproxy"), ["rc2.d/S01haproxy"]);
    assert!(host.running("haproxy") && !host.running("nginx"));
}

#[test]
fn sysvinit_missing_or_unusable_scripts_fail_by_name_before_anything_changes() {
    let host = FakeHost::sysvinit();
    host.script("haproxy", &[]);
    host.script("broken", &[]);
    let broken = host.root().join("etc/init.d/broken");
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let r = host
        .run(&task(
            json!({"name": ["haproxy", "ghost", "broken"], "state": "started"}),
        ))
        .failed();
    let init_d = host.root().join("etc/init.d");
    assert_eq!(
        r.msg(),
        format!(
            "ghost: there is no init script {}/ghost (no systemd runs this host, so its services are init scripts) (option 'name'); broken: {}/broken is not an executable file (no systemd runs this host, so its services are init scripts) (option 'name'). Nothing was changed.",
            init_d.display(),
            init_d.display()
        )
    );
    assert!(!r.changed());
    assert!(host.changes().is_empty());
}

#[test]
fn sysvinit_a_status_of_1_is_a_stopped_service_as_lsb_says() {
    let host = FakeHost::sysvinit();
    host.script("etcd", &["exit-1"]);
    let args = task(json!({"name": ["etcd"], "state": "started"}));
    let r = host.run(&args).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(
        r.answer["services"]["etcd"]["before"]["running"],
        json!(false)
    );
    assert_eq!(r.answer["services"]["etcd"]["running"], json!(true));
    assert!(!host.run(&args).ok().changed());
}

#[test]
fn sysvinit_a_script_without_status_needs_processes() {
    let host = FakeHost::sysvinit();
    host.script("keepalived", &["no-status"]);
    host.script("haproxy", &[]);
    let r = host
        .run(&task(
            json!({"name": ["haproxy", "keepalived"], "state": "started"}),
        ))
        .refused("keepalived: `");
    assert!(
        r.msg().contains("/etc/init.d/keepalived status` cannot tell whether it runs (exit status 1: Usage: /etc/init.d/keepalived {start|stop|restart|reload|force-reload}); give its executable in option 'processes' (processes: {keepalived: /usr/sbin/keepalived}). Nothing was changed."),
        "{}",
        r.msg()
    );
    assert!(host.changes().is_empty(), "haproxy was not started either");

    // A typo in processes is named.
    let r = host
        .run(&task(json!({"name": "keepalived", "state": "started", "processes": {"keepalivd": "/usr/sbin/keepalived"}})))
        .failed();
    assert!(
        r.msg().contains("; 'processes' names only keepalivd"),
        "{}",
        r.msg()
    );

    // Enablement alone does not need to know: running is null.
    let r = host
        .run(&task(json!({"name": "keepalived", "enabled": true})))
        .ok();
    assert_eq!(r.answer["services"]["keepalived"]["running"], Value::Null);
    assert_eq!(
        r.answer["diff"][0]["before"],
        json!("keepalived: running or not (its init script cannot tell), disabled\n")
    );
}

#[test]
fn sysvinit_processes_tell_by_the_running_executable_even_deleted() {
    let host = FakeHost::sysvinit();
    host.script("keepalived", &["no-status"]);
    let exe = host.daemon("keepalived");
    let args = task(json!({
        "name": "keepalived", "state": "started",
        "processes": {"keepalived": exe.to_str().unwrap()},
    }));
    let r = host.run(&args).ok();
    assert_eq!(r.msg(), "start keepalived");
    let pid = host.daemon_pid("keepalived").unwrap();
    assert!(services::procs::running(&exe).contains(&pid));
    let r = host.run(&args).ok();
    assert!(!r.changed(), "the process runs: {}", r.stdout);

    // A package upgrade replaces the executable: /proc/PID/exe ends with " (deleted)".
    std::fs::remove_file(&exe).unwrap();
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(link.to_string_lossy().ends_with(" (deleted)"), "{link:?}");
    let r = host.run(&args).ok();
    assert!(!r.changed(), "still runs the old binary: {}", r.stdout);

    let mut stop = args.clone();
    stop["state"] = json!("stopped");
    let r = host.run(&stop).ok();
    assert_eq!(r.msg(), "stop keepalived");
    assert_eq!(r.answer["services"]["keepalived"]["running"], json!(false));
    assert!(!services::procs::running(&exe).contains(&pid));
}

#[test]
fn sysvinit_a_start_that_starts_nothing_fails_after_settling() {
    let host = FakeHost::sysvinit();
    host.limits("settle=0.3\n");
    // keepalived's script exits 0 for every action when its config file is missing.
    host.script("keepalived", &["no-status", "dud"]);
    let exe = host.daemon("keepalived");
    let r = host
        .run(&task(json!({
            "name": "keepalived", "state": "started",
            "processes": {"keepalived": exe.to_str().unwrap()},
        })))
        .failed();
    assert_eq!(
        r.msg(),
        format!(
            "keepalived: `{}/etc/init.d/keepalived start` succeeded, but keepalived is not running 0.3 s later (no process runs {})",
            host.root().display(),
            exe.display()
        )
    );
}

#[test]
fn sysvinit_failing_commands_carry_their_output() {
    let host = FakeHost::sysvinit();
    host.script("haproxy", &["fail-start"]);
    let r = host
        .run(&task(json!({"name": "haproxy", "state": "started"})))
        .failed();
    assert!(
        r.msg().ends_with("/etc/init.d/haproxy start` failed (exit status 1): Starting haproxy: failed: address already in use"),
        "{}",
        r.msg()
    );
    host.script("nginx", &["update-rc.d-fails"]);
    let r = host
        .run(&task(json!({"name": "nginx", "enabled": true})))
        .failed();
    assert_eq!(
        r.msg(),
        "nginx: `update-rc.d nginx defaults` failed (exit status 1): update-rc.d: error: nginx Default-Start contains no runlevels, aborting."
    );
}

#[test]
fn sysvinit_a_hung_status_is_killed_at_its_limit() {
    let host = FakeHost::sysvinit();
    host.limits("command_timeout=0.4\n");
    let script = host.root().join("etc/init.d/stuck");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let start = Instant::now();
    let r = host
        .run(&task(json!({"name": "stuck", "state": "started"})))
        .refused("did not finish within 0.4 s, so it was killed; give its executable in option 'processes'");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(r.msg().starts_with("stuck: `"), "{}", r.msg());
}

#[test]
fn manager_auto_follows_run_systemd_system_and_can_be_forced() {
    let host = FakeHost::sysvinit();
    host.script("nginx", &[]);
    host.unit("nginx", &[("active", "active")]);
    let r = host
        .run(&task(json!({"name": "nginx", "state": "started"})))
        .ok();
    assert_eq!(r.answer["manager"], json!("sysvinit"));
    let r = host
        .run(&task(
            json!({"name": "nginx", "state": "started", "manager": "systemd"}),
        ))
        .ok();
    assert_eq!(r.answer["manager"], json!("systemd"));
    assert!(!r.changed());
    std::fs::create_dir_all(host.root().join("run/systemd/system")).unwrap();
    let r = host
        .run(&task(json!({"name": "nginx", "state": "started"})))
        .ok();
    assert_eq!(r.answer["manager"], json!("systemd"));
}

// ---- bad input ------------------------------------------------------------------------------

#[test]
fn bad_input_fails_naming_the_option_and_runs_nothing() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[]);
    let cases = [
        (json!({"name": "haproxy", "state": "started", "colour": "red"}), "Unsupported parameters for (services module): colour. Supported parameters include: enabled, manager, name, processes, state."),
        (json!({"state": "started"}), "missing required arguments: name"),
        (json!({"name": "haproxy"}), "one of the options 'state' and 'enabled' is required"),
        (json!({"name": "haproxy", "state": "running"}), "option 'state' (in services module) must be one of: started, stopped, restarted, reloaded; got: running"),
        (json!({"name": "haproxy", "enabled": "maybe"}), "option 'enabled' (in services module) expects a boolean: got string 'maybe'"),
        (json!({"name": {"a": 1}, "enabled": true}), "option 'name' (in services module) expects a list: got a dictionary"),
        (json!({"name": [], "enabled": true}), "option 'name' must list at least one service"),
        (json!({"name": ["haproxy", "a b"], "enabled": true}), "option 'name': string 'a b' is not a service name"),
        (json!({"name": "../../bin/sh", "enabled": true}), "option 'name': string '../../bin/sh' is not a service name"),
        (json!({"name": "--all", "enabled": true}), "option 'name': string '--all' is not a service name"),
        (json!({"name": "nginx*", "enabled": true}), "option 'name': string 'nginx*' is not a service name"),
        (json!({"name": "haproxy", "enabled": true, "manager": "upstart"}), "option 'manager' (in services module) must be one of: auto, systemd, sysvinit; got: upstart"),
        (json!({"name": "haproxy", "enabled": true, "processes": ["x"]}), "option 'processes' (in services module) expects a dictionary: got a list of 1 items"),
        (json!({"name": "haproxy", "enabled": true, "processes": {"haproxy": "haproxy"}}), "option 'processes': the executable of 'haproxy' must be an absolute path, got string 'haproxy'"),
        (json!({"name": "haproxy", "enabled": true, "processes": {"haproxy": 5}}), "option 'processes': the executable of 'haproxy' must be an absolute path, got number 5"),
        (json!({"name": "haproxy", "enabled": true, "processes": {"a/b": "/x"}}), "option 'processes': string 'a/b' is not a service name"),
    ];
    for (args, expected) in cases {
        let r = host.run(&task(args.clone())).failed();
        assert!(
            r.msg().contains(expected),
            "for {args}:\n  got: {}\n want: {expected}",
            r.msg()
        );
        assert!(!r.changed());
    }
    assert_eq!(host.log(), "", "nothing was run");
}

#[test]
fn adhoc_strings_are_coerced() {
    let host = FakeHost::systemd();
    host.unit("haproxy", &[]);
    host.unit("keepalived", &[]);
    let r = host
        .run(&json!({"name": "haproxy,keepalived", "enabled": "yes", "processes": "haproxy=/usr/sbin/haproxy"}))
        .ok();
    assert_eq!(r.msg(), "enable haproxy; enable keepalived");
}
