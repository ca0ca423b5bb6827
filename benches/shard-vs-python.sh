#!/usr/bin/env bash
# Shard conversion throughput, in one run on the same machine:
#   1. eoforge-prep shard reading the patches from local disk;
#   2. the Python reference (rasterio + numpy + webdataset) in a pool of one process per core, as users run it;
#   3. eoforge-prep shard reading the same patches from a local S3 server (SeaweedFS on 127.0.0.1).
# The real BigEarthNet fixture patches are replicated to N patches (default 10,000; same files, distinct ids).
# Prints patches/s, MB/s (uint16 tensor data), wall time and peak RSS, and the two ratios with their targets:
# eoforge / Python ≥ 5 at equal cores, S3 / local ≥ 0.8.
# usage: benches/shard-vs-python.sh [N] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-10000}
threads=${2:-0}
cores=$(nproc)
workers=$([ "$threads" -gt 0 ] && echo "$threads" || echo "$cores")
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
[ -d "$fixtures/bigearthnet/s2" ] || { echo "error: BigEarthNet fixtures not found at $fixtures (set EOFORGE_FIXTURES)" >&2; exit 1; }
fixtures=$(cd "$fixtures" && pwd -P)

./scripts/setup-system.sh
EOFORGE_PY_EXTRA="rasterio" ./scripts/python-env.sh
py="$root/.venv/bin/python"
cargo build --locked -q --profile bench -p eoforge-prep
prep="${CARGO_TARGET_DIR:-$root/target}/release/eoforge-prep"

# Outputs go to memory (/dev/shm) when it exists, so the table compares the tools rather than the disk's write-back
# (eoforge writes GBs in seconds; on a slow disk dirty-page throttling would time the disk). BENCH_DIR overrides.
bench_dir=${BENCH_DIR:-$([ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")}
work=$(mktemp -d "$bench_dir/eoforge-shard-bench.XXXXXX")
weed=""
trap '[ -n "$weed" ] && kill -9 $weed 2>/dev/null; [ -n "${EOFORGE_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
"$prep" gen-metadata --scan-s2 "$fixtures/bigearthnet/s2" --out "$work/base.parquet" 2>/dev/null
"$py" benches/scripts/replicate_catalog.py "$work/base.parquet" "$work/catalog.parquet" "$n"

# Label tables for the reference, taken from eoforge's own nomenclature so both encode the same classes.
export BEN19_JSON BEN43_TO_19_JSON
BEN19_JSON=$(sed -n '/^pub const BEN19/,/^];/p' crates/catalog/src/labels.rs | grep -o '"[^"]*"' | "$py" -c 'import sys,json; print(json.dumps([l.strip().strip("\"") for l in sys.stdin]))')
BEN43_TO_19_JSON=$(paste -d'|' \
  <(sed -n '/^pub const BEN43:/,/^];/p' crates/catalog/src/labels.rs | grep -o '"[^"]*"') \
  <(sed -n '/^const BEN43_TO_19/,/^];/p' crates/catalog/src/labels.rs | grep -oE 'Some\([0-9]+\)|None') \
  | "$py" -c 'import sys,json; print(json.dumps({l.split("|")[0].strip("\""): (None if "None" in l else int(l.split("(")[1].split(")")[0])) for l in sys.stdin.read().splitlines()}))')

# A virtual machine's first touch of a memory page can cost ten times a write to a recycled one: write and delete
# as much as one run writes first, and delete each run's output before the next, so no run pays that alone.
warm_page_cache() { dd if=/dev/zero of="$work/warm" bs=1M count=$((n * 400 / 1000 + 64)) status=none; rm -f "$work/warm"; }
warm_page_cache
echo "converting $n patches (12 bands each) to WebDataset shards of 50 MB on $cores cores, outputs in $bench_dir..." >&2
/usr/bin/time -f '%M' -o "$work/eoforge.rss" "$prep" shard --meta "$work/catalog.parquet" --out "$work/eoforge" \
  --format webdataset --target-shard-mb 50 --jobs "$threads" --on-error fail 2>"$work/eoforge.log" \
  || { cat "$work/eoforge.log" >&2; exit 1; }
cat "$work"/eoforge/train/*.tar | sha256sum > "$work/eoforge.sha256"
mv "$work/eoforge/profile/conversion-0-of-1.json" "$work/eoforge.profile.json"
rm -rf "$work/eoforge"
warm_page_cache
/usr/bin/time -f '%M' -o "$work/python.rss" "$py" benches/scripts/shard_reference.py "$work/catalog.parquet" \
  "$work/python" 50 "$workers" > "$work/python.json"
rm -rf "$work/python"

# The same patches on a local S3 server (a fresh random port until one serves; a bucket, then the files).
export AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  "$root/.venv/bin/weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$work" -master.port=$((port + 1)) \
    -volume.port=$((port + 2)) -filer.port=$((port + 3)) -s3 -s3.port=$port -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.telemetry=false -master.volumeSizeLimitMB=64 > "$work/weed.log" 2>&1 &
  weed=$!
  for _ in $(seq 150); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break 2
    kill -0 $weed 2>/dev/null || break
    sleep 0.2
  done
  kill -9 $weed 2>/dev/null || true
  weed=""
done
[ -n "$weed" ] || { echo "error: the S3 server did not start; its log:" >&2; tail -20 "$work/weed.log" >&2; exit 1; }
export EOFORGE_S3_ENDPOINT="http://127.0.0.1:$port"
for _ in $(seq 100); do
  echo "s3.bucket.create -name bench" | timeout 20 "$root/.venv/bin/weed" shell -master=127.0.0.1:$((port + 1)) 2>&1 \
    | grep -q "created bucket" && break
  sleep 0.3
done
for _ in $(seq 100); do "$prep" cp -r "$fixtures/bigearthnet/s2" s3://bench/s2 2>"$work/cp.log" && break; sleep 0.3; done
"$py" - "$work/catalog.parquet" "$work/s3.parquet" "$fixtures/bigearthnet/s2" <<'PY'
import sys, pyarrow as pa, pyarrow.parquet as pq
rows = pq.read_table(sys.argv[1]).to_pylist()
local = sys.argv[3].rstrip("/")
for r in rows:
    for k in list(r):
        if k.startswith("s2_") and r[k]:
            r[k] = "s3://bench/s2" + r[k].removeprefix("file://").removeprefix(local)
pq.write_table(pa.Table.from_pylist(rows), sys.argv[2])
PY
warm_page_cache
cpu_of() { awk '{print ($14 + $15 + $16 + $17) / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
weed_cpu0=$(cpu_of $weed)
/usr/bin/time -f '%M %U %S' -o "$work/s3.rss" "$prep" shard --meta "$work/s3.parquet" --out "$work/eoforge-s3" \
  --format webdataset --target-shard-mb 50 --jobs "$threads" --on-error fail 2>"$work/s3.log" \
  || { tail -n 5 "$work/cp.log" "$work/s3.log" >&2; exit 1; }
echo "$weed_cpu0 $(cpu_of $weed)" | awk '{print $2 - $1}' > "$work/weed.cpu"
[ "$(cat "$work"/eoforge-s3/train/*.tar | sha256sum)" = "$(cat "$work/eoforge.sha256")" ] \
  || { echo "error: shards converted from S3 differ from the local ones" >&2; exit 1; }

"$py" - "$work" "$n" "$workers" <<'PY'
import json, sys
work, n, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
load = lambda p: json.load(open(f"{work}/{p}"))
rss = lambda p: float(open(f"{work}/{p}").read().split()[0]) / 1024
eo, s3, py = load("eoforge.profile.json"), load("eoforge-s3/profile/conversion-0-of-1.json"), json.load(open(f"{work}/python.json"))
mb = n * 12 * 120 * 120 * 2 / 1e6
rows = [
    ("eoforge-prep shard, local files", eo["total_s"], rss("eoforge.rss")),
    (f"python pool ({workers} processes), local files", py["seconds"], rss("python.rss") + workers * py["peak_rss_mib_per_worker"]),
    ("eoforge-prep shard, from S3 (SeaweedFS)", s3["total_s"], rss("s3.rss")),
]
print(f"{'tool':44} {'patches':>8} {'wall s':>8} {'patches/s':>10} {'MB/s':>8} {'peak RSS MiB':>13}")
for name, s, mib in rows:
    print(f"{name:44} {n:8d} {s:8.1f} {n / s:10.1f} {mb / s:8.1f} {mib:13.0f}")
print(f"eoforge / python throughput: {py['seconds'] / eo['total_s']:.2f}x (target >= 5x at equal cores)")
print(f"S3 / local throughput:       {eo['total_s'] / s3['total_s']:.2f}x (target >= 0.8x)")
print("(python peak RSS: the parent's plus each worker's peak, summed)")
_, user, system = open(f"{work}/s3.rss").read().split()
print(f"CPU during the S3 run: eoforge {float(user) + float(system):.1f} s, the S3 server {float(open(f'{work}/weed.cpu').read()):.1f} s "
      f"(of {s3['total_s'] * workers:.1f} core-seconds)")
PY
