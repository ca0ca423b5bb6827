#!/usr/bin/env bash
# The whole test suite, from a bare machine: system packages, the Python test venv (S3 server), then cargo test
# (the SLURM tests install and start their own cluster).
# Integration tests need a real S3 server and the real fixtures; here a missing one is a failure, not a skip.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/setup-system.sh" browser
"$root/scripts/python-env.sh"

# The scale-out tests start a real single-node SLURM cluster (scripts/slurm.sh; needs root, installs slurm-wlm).
export EOFORGE_REQUIRE_S3=1 EOFORGE_REQUIRE_PYTHON=1 EOFORGE_REQUIRE_BROWSER=1 EOFORGE_REQUIRE_SLURM=1
# The request-queue tests start a private PostgreSQL server (scripts/postgres.sh; installs Debian's server).
export EOFORGE_REQUIRE_POSTGRES=1
export EOFORGE_WEED="$root/.venv/bin/weed"
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
if [ -f "$fixtures/README.md" ]; then
  export EOFORGE_FIXTURES=$(cd "$fixtures" && pwd)
  export EOFORGE_REQUIRE_FIXTURES=1
else
  echo "WARNING: real fixtures not found at $fixtures (set EOFORGE_FIXTURES); fixture tests will be skipped" >&2
fi

# Quiet, deterministic output; one test binary at a time, tests inside it in parallel.
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
cargo test --workspace --locked "$@"
