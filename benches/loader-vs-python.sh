#!/usr/bin/env bash
# Training-loader throughput, in one run on the same machine and the same shards:
#   1. eoforge's Loader (worker thread + parallel decode) over one epoch of the train split;
#   2. the Python reference: webdataset + numpy in one process per core, as a DataLoader with that many workers.
# Both decode the uint16 tensors, normalise with stats.json, flip/rotate and stack float32 batches of 32 through a
# 512-sample shuffle buffer. The shards are converted from the real BigEarthNet fixture patches replicated to N
# (default 5,000). Prints samples/s, MB/s of f32 batches, wall time and peak RSS, and the ratio with its target
# (eoforge / Python ≥ 5 at equal cores).
# usage: benches/loader-vs-python.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-5000}
cores=$(nproc)
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
[ -d "$fixtures/bigearthnet/s2" ] || { echo "error: BigEarthNet fixtures not found at $fixtures (set EOFORGE_FIXTURES)" >&2; exit 1; }
fixtures=$(cd "$fixtures" && pwd -P)

./scripts/setup-system.sh
./scripts/python-env.sh
py="$root/.venv/bin/python"
# The shards only need converting (their speed is not measured here): the test build of eoforge-prep will do.
cargo build --locked -q -p eoforge-prep
cargo build --locked -q --profile bench -p eoforge-benches --bin loader-throughput
bin="${CARGO_TARGET_DIR:-$root/target}/release"
prep="${CARGO_TARGET_DIR:-$root/target}/debug/eoforge-prep"

bench_dir=${BENCH_DIR:-$([ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")}
work=$(mktemp -d "$bench_dir/eoforge-loader-bench.XXXXXX")
trap '[ -n "${EOFORGE_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
"$prep" gen-metadata --scan-s2 "$fixtures/bigearthnet/s2" --out "$work/base.parquet" 2>/dev/null
"$py" benches/scripts/replicate_catalog.py "$work/base.parquet" "$work/catalog.parquet" "$n"
"$prep" shard --meta "$work/catalog.parquet" --out "$work/shards" --format webdataset \
  --target-shard-mb 50 --split-ratios 1,0,0 --on-error fail 2>"$work/prep.log" || { cat "$work/prep.log" >&2; exit 1; }
cat "$work"/shards/train/*.tar > /dev/null   # both read from the page cache

echo "one epoch of $n samples (12x120x120 uint16) into batches of 32 on $cores cores..." >&2
/usr/bin/time -f '%M' -o "$work/eoforge.rss" "$bin/loader-throughput" "$work/shards" 32 512 > "$work/eoforge.json"
/usr/bin/time -f '%M' -o "$work/python.rss" "$py" benches/scripts/loader_reference.py "$work/shards" "$cores" 32 512 \
  > "$work/python.json"

"$py" - "$work" "$n" "$cores" <<'PY'
import json, sys
work, n, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
e = json.load(open(f"{work}/eoforge.json"))
p = json.load(open(f"{work}/python.json"))
mb = 12 * 120 * 120 * 4 / 1e6
rss = lambda name: int(open(f"{work}/{name}.rss").read().split()[-1]) / 1024
assert e["samples"] == p["samples"] == n, (e["samples"], p["samples"], n)
ratio = e["samples_per_s"] / p["samples_per_s"]
print(f"| loader ({n} samples, batch 32, {cores} cores) | samples/s | MB/s f32 | wall s | peak RSS MiB |")
print("|---|---:|---:|---:|---:|")
print(f"| eoforge Loader | {e['samples_per_s']:.0f} | {e['samples_per_s'] * mb:.0f} | {e['seconds']:.2f} | {rss('eoforge'):.0f} |")
print(f"| Python webdataset + numpy, {cores} processes | {p['samples_per_s']:.0f} | {p['samples_per_s'] * mb:.0f} | {p['seconds']:.2f} | {rss('python'):.0f} (main process) |")
print(f"\neoforge / Python: {ratio:.2f}x (target >= 5x): {'met' if ratio >= 5 else 'NOT met'}")
PY
