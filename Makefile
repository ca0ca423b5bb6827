# eoforge — the two commands of the README, and a few helpers.
.PHONY: demo test lint bench setup clean-cache

# Run the main job end to end on a real raster (RASTER=path to use your own).
demo:
	./scripts/demo.sh $(RASTER)

# The whole test suite, installing what is missing first.
test:
	./scripts/test.sh

# Formatting and lints (warnings are errors); the CUDA build of the trainer must compile (offline, no toolkit).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo check -p eoforge-train-cli --features cuda --locked

# Criterion benchmarks of the raster hot paths.
bench:
	./scripts/setup-system.sh
	cargo bench --locked -p eoforge-benches

# System packages and the Python test environment only.
setup:
	./scripts/setup-system.sh
	./scripts/python-env.sh

clean-cache:
	rm -rf .cache
