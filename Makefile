# kubeha: build glue. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TARGET   := x86_64-unknown-linux-gnu
VENV     := .venv
MODULES  := $(notdir $(patsubst %/src/main.rs,%,$(wildcard modules/*/src/main.rs)))
MAX_SIZE := 2097152

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## install what a fresh Debian 12 machine lacks (apt packages, .venv, the version matrix's .venvs/)
	tests/deps

build: ## build every module as a static binary into library/ with its ansible-doc sidecar
	@# RUSTFLAGS with an explicit --target apply to the modules only, not to build scripts
	@# or proc-macros (which cannot be static). A non-PIE static binary is ~90 KiB smaller.
	RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release --locked --target $(TARGET) $(addprefix -p ,$(MODULES))
	@mkdir -p library action_plugins
	@for m in $(MODULES); do \
	  install -m 0755 target/$(TARGET)/release/$$m library/$$m; \
	  install -m 0644 modules/$$m/$$m.yml library/$$m.yml; \
	  install -m 0644 modules/runtime/ansible/kubeha_fastpath.py action_plugins/$$m.py; \
	  info=$$(file -b library/$$m); size=$$(stat -c %s library/$$m); \
	  case "$$info" in *"statically linked"*|*"static-pie linked"*) ;; *) echo "library/$$m is not static: $$info" >&2; exit 1;; esac; \
	  [ $$size -le $(MAX_SIZE) ] || { echo "library/$$m is $$size bytes, over 2 MiB" >&2; exit 1; }; \
	  printf '  library/%-22s %8d bytes  static\n' $$m $$size; \
	done

collection: ## build the kubeha.ha Galaxy collection (make build + roles) into target/collection/
	@test -x $(VENV)/bin/ansible-galaxy || { echo "no $(VENV): run make deps first" >&2; exit 1; }
	$(VENV)/bin/python modules/runtime/ansible/collection/build.py

test: deps build ## run every test: cargo, ansible-core 2.15-2.19, kubespray drop-in, the lab, molecule
	tests/run

test-fast: ## cargo tests only (no root, seconds)
	KUBEHA_REQUIRE_TOOLS=$${KUBEHA_REQUIRE_TOOLS:-} cargo test --workspace --all-features --locked

lint: build ## cargo fmt + clippy, yamllint, ansible-lint (needs library/ so modules resolve)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
	$(VENV)/bin/yamllint --strict .
	tests/ansible-lint

kubespray-dropin: build ## copy kubeha into a kubespray checkout: make kubespray-dropin KUBESPRAY=<dir> [DROPIN_ARGS="--check --diff"]
	@test -n "$(KUBESPRAY)" || { echo "set KUBESPRAY to your kubespray checkout" >&2; exit 1; }
	@test -x $(VENV)/bin/ansible-playbook || { echo "no $(VENV): run make deps first" >&2; exit 1; }
	$(VENV)/bin/ansible-playbook -i localhost, -c local playbooks/kubespray-dropin.yml -e kubespray_dir="$(abspath $(KUBESPRAY))" $(DROPIN_ARGS)

demo: build ## the main job on the local lab: hosts up, cluster.yml, VIP and health shown
	@# the demo needs only the pinned ansible-core, not the version matrix's venvs
	KUBEHA_ANSIBLE_VERSIONS= tests/deps
	tests/demo

bench-pki: build ## etcd_certs vs the openssl CLI, full PKI of 3 members; writes bench/results/
	bench/etcd_pki.py

bench-scale: deps build ## the node LB on 10/50/100 workers of a 103-host lab vs kubespray's own task files (~15 min)
	$(VENV)/bin/python bench/scale_bench.py

bench-failover: deps build ## host-death failover and a soak under CPU load per VRRP advert interval (~30 min)
	bench/failover_bench.py

bench: deps build ## every benchmark: bench-pki, the 6-host lab's (per task, role, exec, steady state, certs, 3 vs 9 hosts), bench-scale, bench-failover
	bench/etcd_pki.py
	bench/lab_bench.py
	$(VENV)/bin/python bench/scale_bench.py
	bench/failover_bench.py

clean: ## remove build output (not the lab cache)
	cargo clean
	rm -rf library

.PHONY: help deps build collection test test-fast lint kubespray-dropin demo bench bench-pki bench-scale bench-failover clean
