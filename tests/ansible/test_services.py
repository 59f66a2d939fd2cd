"""services through real ansible-core on localhost, on fake hosts (services_fakes.py: fake
systemctl, update-rc.d and init scripts in a temp directory the module is pointed at). The
machine's own services, systemctl and /etc/init.d are never used. tests/run runs this file with
the fast path and again on Ansible's standard path (KUBEHA_FASTPATH=0)."""

import json

import pytest

from services_fakes import ROOT_VAR, FakeHost


@pytest.fixture
def systemd(tmp_path):
    return FakeHost(tmp_path / "host", systemd=True)


@pytest.fixture
def sysvinit(tmp_path):
    host = FakeHost(tmp_path / "host", systemd=False)
    yield host
    host.stop_daemons()


def task(host: FakeHost, args: dict, name: str = "Services | Test") -> str:
    """One services task with `args`, pointed at the fake host."""
    return (
        f"    - name: {name}\n"
        f"      services: {json.dumps(args)}\n"
        f"      environment: {json.dumps(host.environment)}\n"
    )


def test_starts_and_enables_then_changes_nothing(localhost, systemd):
    systemd.unit("haproxy")
    systemd.unit("keepalived", active="active", file="enabled")
    play = task(systemd, {"name": ["haproxy", "keepalived"], "state": "started", "enabled": True})

    run = localhost.playbook(play, "--diff")
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert run.last["manager"] == "systemd"
    assert run.last["msg"] == "enable haproxy; start haproxy"
    assert run.last["services"]["haproxy"] == {
        "running": True, "enabled": True, "before": {"running": False, "enabled": False},
    }
    assert "-haproxy: stopped, disabled" in run.output and "+haproxy: running, enabled" in run.output
    assert systemd.changes() == ["systemctl enable haproxy", "systemctl start haproxy"]

    again = localhost.playbook(play, "--diff")
    assert again.rc == 0, again.output
    assert again.last["changed"] is False
    assert [line for line in systemd.log() if line.startswith("systemctl show")][-1].endswith(
        "haproxy keepalived"
    ), "one systemctl show for both"


def test_check_mode_changes_nothing(localhost, systemd):
    systemd.unit("nginx", active="active", file="enabled")
    run = localhost.playbook(
        task(systemd, {"name": "nginx", "state": "stopped", "enabled": False}), "--check", "--diff"
    )
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    assert run.last["msg"] == "would disable nginx; stop nginx"
    assert run.last["services"]["nginx"]["running"] is False
    assert systemd.changes() == []
    assert systemd.prop("nginx", "active") == "active"


def test_restarted_always_acts(localhost, systemd):
    systemd.unit("haproxy", active="active", file="enabled")
    play = task(systemd, {"name": "haproxy", "state": "restarted"})
    for _ in range(2):
        run = localhost.playbook(play)
        assert run.rc == 0, run.output
        assert run.last["changed"] is True
    assert systemd.changes() == ["systemctl restart haproxy"] * 2


def test_missing_service_fails_by_name_and_changes_nothing(localhost, systemd):
    systemd.unit("haproxy")
    run = localhost.playbook(task(systemd, {"name": ["haproxy", "ghost"], "state": "started"}))
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert run.last["msg"] == (
        "ghost: systemd has no unit ghost.service (option 'name'). Nothing was changed."
    )
    assert run.last["not_found"] == ["ghost"]
    assert run.last["changed"] is False
    assert systemd.changes() == []


def test_a_unit_that_fails_right_after_its_start_fails_the_task(localhost, systemd):
    systemd.unit("haproxy", on_start="crash")
    run = localhost.playbook(task(systemd, {"name": "haproxy", "state": "started"}))
    assert run.rc != 0
    assert "but haproxy.service is failed (failed) right after it" in run.last["msg"]
    assert "Active: failed" in run.last["msg"]


def test_init_scripts_enable_and_start(localhost, sysvinit):
    sysvinit.script("nginx")
    play = task(sysvinit, {"name": "nginx", "state": "started", "enabled": True})
    run = localhost.playbook(play)
    assert run.rc == 0, run.output
    assert run.last["manager"] == "sysvinit"
    assert sysvinit.changes() == [
        "update-rc.d nginx defaults", "update-rc.d nginx enable", "init.d/nginx start",
    ]
    assert sysvinit.running("nginx")
    assert "rc2.d/S01nginx" in sysvinit.rc_links("nginx")
    again = localhost.playbook(play)
    assert again.rc == 0 and again.last["changed"] is False, again.output


def test_a_script_without_status_needs_processes(localhost, sysvinit):
    sysvinit.script("keepalived", "no-status")
    exe = sysvinit.daemon("keepalived")
    run = localhost.playbook(task(sysvinit, {"name": "keepalived", "state": "started"}))
    assert run.rc != 0
    assert "status` cannot tell whether it runs" in run.last["msg"]
    assert "give its executable in option 'processes'" in run.last["msg"]
    assert sysvinit.changes() == []

    play = task(sysvinit, {"name": "keepalived", "state": "started", "processes": {"keepalived": str(exe)}})
    run = localhost.playbook(play)
    assert run.rc == 0, run.output
    assert run.last["changed"] is True
    again = localhost.playbook(play)
    assert again.rc == 0 and again.last["changed"] is False, again.output


def test_adhoc_string_arguments(localhost, systemd, monkeypatch):
    systemd.unit("haproxy")
    systemd.unit("keepalived", active="active")
    # The local connection hands the controller's environment to the module.
    monkeypatch.setenv(ROOT_VAR, str(systemd.root))
    run = localhost.adhoc("services", "name=haproxy,keepalived state=started enabled=no")
    assert run.rc == 0, run.output
    assert run.last["msg"] == "start haproxy"
    assert set(run.last["services"]) == {"haproxy", "keepalived"}


@pytest.mark.parametrize("args, expected", [
    ({"name": "haproxy", "state": "started", "colour": "red"},
     "Unsupported parameters for (services module): colour"),
    ({"name": "haproxy"}, "one of the options 'state' and 'enabled' is required"),
    ({"name": "haproxy", "state": "running"}, "option 'state' (in services module) must be one of"),
    ({"name": "haproxy", "enabled": "maybe"}, "option 'enabled' (in services module) expects a boolean"),
    ({"name": ["ha proxy"], "enabled": True}, "option 'name': string 'ha proxy' is not a service name"),
    ({"name": "haproxy", "enabled": True, "processes": {"haproxy": "haproxy"}},
     "option 'processes': the executable of 'haproxy' must be an absolute path"),
])
def test_bad_input_fails_clearly(localhost, systemd, args, expected):
    systemd.unit("haproxy")
    run = localhost.playbook(task(systemd, args))
    assert run.rc != 0
    assert expected in run.last["msg"], run.last["msg"]
    assert run.last["changed"] is False
    assert systemd.log() == []
