# tracewarden: the two commands (run, test) and the benchmark. Each bootstraps first.
.PHONY: bootstrap run test bench lint

CARGO ?= cargo
ARGS ?=

bootstrap:
	@bash scripts/bootstrap.sh

# Runs the exporter with the shipped rules on :9862 (needs root). Extra flags: make run ARGS='...'
run: bootstrap
	$(CARGO) build --release --locked
	./target/release/exporter --rules-dir rules $(ARGS)

lint: bootstrap
	$(CARGO) fmt --check -p exporter
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Every test: unit, rules, kernel (real eBPF, real runc containers) and the alerting checks.
test: lint
	$(CARGO) test --locked
	bash tests/alerting/run.sh

bench: bootstrap
	$(CARGO) build --release --locked
	$(CARGO) bench --locked -p exporter
