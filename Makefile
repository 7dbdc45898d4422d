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

# Kernel tests skip only on the developer's opt-out (TRACEWARDEN_SKIP_KERNEL_TESTS=1, ignored
# under CI=true); each skip is logged here, and the count ends `make test`.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
SKIP_LOG := $(TARGET_DIR)/kernel-test-skips.log

# Every test: unit, rules, kernel (real eBPF, real runc containers) and the alerting checks.
test: lint
	@rm -f $(SKIP_LOG)
	TRACEWARDEN_SKIP_LOG=$(SKIP_LOG) $(CARGO) test --locked
	TRACEWARDEN_EXPORTER=$(TARGET_DIR)/debug/exporter bash tests/alerting/run.sh
	@skipped=$$(cat $(SKIP_LOG) 2>/dev/null | wc -l); \
	echo "kernel tests skipped: $$skipped"; \
	[ -f $(SKIP_LOG) ] && sed 's/^/    /' $(SKIP_LOG); \
	if [ "$$skipped" -gt 0 ] && [ "$${CI:-}" = true ]; then echo "CI=true: no kernel test may be skipped"; exit 1; fi

bench: bootstrap
	$(CARGO) build --release --locked
	$(CARGO) bench --locked -p exporter
