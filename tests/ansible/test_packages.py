"""packages through real ansible-core with the machine's real apt, read-only (installs are
proven on the lab hosts, from the lab's offline repository)."""


def test_installed_packages_are_left_alone(localhost):
    run = localhost.playbook("""\
    - name: Packages | Ensure present
      packages:
        name: [dpkg, coreutils]
""", "--diff")
    assert run.rc == 0, run.output
    assert run.last["changed"] is False
    assert run.last["manager"] == "apt"
    assert run.last["versions"]["dpkg"]


def test_unknown_package_fails_naming_it(localhost):
    run = localhost.playbook("""\
    - name: Packages | Ensure present
      packages:
        name: [dpkg, kubeha-no-such-package]
""", "--check")
    assert run.rc != 0
    assert run.last["_status"] == "FAILED"
    assert "no package named kubeha-no-such-package" in run.last["msg"]


def test_adhoc_comma_list(localhost):
    run = localhost.adhoc("packages", "name=dpkg,coreutils state=present", "--check")
    assert run.rc == 0, run.output
    assert run.last["changed"] is False
    assert set(run.last["versions"]) == {"dpkg", "coreutils"}
