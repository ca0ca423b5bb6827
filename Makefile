# eoforge — the two commands of the README, and a few helpers.
.PHONY: demo demo-s3 test lint bench setup clean-cache

# The main job end to end on real imagery, ending with an HTML report (see scripts/demo.sh for the variables:
# RASTER=, LABELS=, BAND_ROLES=, STORE=s3://bucket/prefix, OUT=, DEMO_ARGS=).
demo:
	RASTER="$(RASTER)" LABELS="$(LABELS)" BAND_ROLES="$(BAND_ROLES)" STORE="$(STORE)" OUT="$(OUT)" \
	  DEMO_ARGS="$(DEMO_ARGS)" ./scripts/demo.sh

# The same job against a local S3 server started for the run (SeaweedFS, bucket `demo`).
demo-s3:
	RASTER="$(RASTER)" LABELS="$(LABELS)" BAND_ROLES="$(BAND_ROLES)" STORE=s3://demo/main-job LOCAL_S3=1 \
	  OUT="$(or $(OUT),.cache/demo/out-s3)" DEMO_ARGS="$(DEMO_ARGS)" ./scripts/demo.sh

# The whole test suite, installing what is missing first.
test:
	./scripts/test.sh

# Formatting and lints (warnings are errors); the CUDA builds of the trainer and of inference must compile (offline,
# no toolkit); the docs' links and the commands they show must exist.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo check -p eoforge-train-cli --features cuda --locked
	cargo check -p eoforge-infer --features cuda --locked
	python3 scripts/check-docs.py

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
