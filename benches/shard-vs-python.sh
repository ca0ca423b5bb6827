#!/usr/bin/env bash
# Shard conversion throughput: eoforge-prep shard vs a straightforward Python reference (rasterio + numpy +
# webdataset), in one run, on the real BigEarthNet fixture patches replicated to N patches (default 10,000).
# Prints a table with patches/s, MB/s (uint16 tensor data), wall time, peak RSS and the ratio.
# usage: benches/shard-vs-python.sh [N] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-10000}
threads=${2:-0}
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
[ -d "$fixtures/bigearthnet/s2" ] || { echo "error: BigEarthNet fixtures not found at $fixtures (set EOFORGE_FIXTURES)" >&2; exit 1; }

./scripts/setup-system.sh
EOFORGE_PY_EXTRA="rasterio" ./scripts/python-env.sh
py="$root/.venv/bin/python"
cargo build --locked -q --profile bench -p eoforge-prep
prep="${CARGO_TARGET_DIR:-$root/target}/release/eoforge-prep"

work=$(mktemp -d "${TMPDIR:-/tmp}/eoforge-shard-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$prep" gen-metadata --scan-s2 "$fixtures/bigearthnet/s2" --out "$work/base.parquet" 2>/dev/null
"$py" benches/scripts/replicate_catalog.py "$work/base.parquet" "$work/catalog.parquet" "$n"

# Label tables for the reference, taken from eoforge's own nomenclature so both encode the same classes.
export BEN19_JSON BEN43_TO_19_JSON
BEN19_JSON=$(sed -n '/^pub const BEN19/,/^];/p' crates/catalog/src/labels.rs | grep -o '"[^"]*"' | "$py" -c 'import sys,json; print(json.dumps([l.strip().strip("\"") for l in sys.stdin]))')
BEN43_TO_19_JSON=$(paste -d'|' \
  <(sed -n '/^pub const BEN43:/,/^];/p' crates/catalog/src/labels.rs | grep -o '"[^"]*"') \
  <(sed -n '/^const BEN43_TO_19/,/^];/p' crates/catalog/src/labels.rs | grep -oE 'Some\([0-9]+\)|None') \
  | "$py" -c 'import sys,json; print(json.dumps({l.split("|")[0].strip("\""): (None if "None" in l else int(l.split("(")[1].split(")")[0])) for l in sys.stdin.read().splitlines()}))')

echo "converting $n patches (12 bands each) to WebDataset shards of 50 MB on $(nproc) cores..." >&2
/usr/bin/time -f '%M' -o "$work/eoforge.rss" "$prep" shard --meta "$work/catalog.parquet" --out "$work/eoforge" \
  --format webdataset --target-shard-mb 50 --threads "$threads" 2>"$work/eoforge.log" || { cat "$work/eoforge.log" >&2; exit 1; }
eo=$(cat "$work/eoforge/profile/conversion-0-of-1.json")
/usr/bin/time -f '%M' -o "$work/python.rss" "$py" benches/scripts/shard_reference.py "$work/catalog.parquet" "$work/python" 50 > "$work/python.json"
pyr=$(cat "$work/python.json")

"$py" - "$eo" "$pyr" "$(cat "$work/eoforge.rss")" "$(cat "$work/python.rss")" "$n" <<'PY'
import json, sys
eo, py, eo_rss_kb, py_rss_kb, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
mb = n * 12 * 120 * 120 * 2 / 1e6
eo_s = eo["total_s"]
rows = [("eoforge-prep shard", eo_s, eo_rss_kb / 1024), ("python (rasterio+numpy+webdataset)", py["seconds"], py_rss_kb / 1024)]
print(f"{'tool':38} {'patches':>8} {'wall s':>8} {'patches/s':>10} {'MB/s':>8} {'peak RSS MiB':>13}")
for name, s, rss in rows:
    print(f"{name:38} {n:8d} {s:8.1f} {n / s:10.1f} {mb / s:8.1f} {rss:13.0f}")
print(f"ratio (eoforge / python throughput): {py['seconds'] / eo_s:.2f}x")
PY
