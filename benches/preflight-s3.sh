#!/usr/bin/env bash
# Preflight HEAD throughput against a real S3-compatible server (SeaweedFS on 127.0.0.1): uploads the
# BigEarthNet fixture patches, builds a catalog of N patches pointing at them, and runs `eoforge-prep check`
# with several worker counts. Prints a table of HEAD requests per second.
# usage: benches/preflight-s3.sh [N_PATCHES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-1000}
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
[ -d "$fixtures/bigearthnet/s2" ] || { echo "error: BigEarthNet fixtures not found at $fixtures" >&2; exit 1; }
./scripts/setup-system.sh
./scripts/python-env.sh
py="$root/.venv/bin/python"
cargo build --locked -q --profile bench -p eoforge-prep
prep="${CARGO_TARGET_DIR:-$root/target}/release/eoforge-prep"

work=$(mktemp -d "${TMPDIR:-/tmp}/eoforge-preflight.XXXXXX")
port=$((20000 + RANDOM % 20000))
export AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret EOFORGE_S3_ENDPOINT="http://127.0.0.1:$port"
"$root/.venv/bin/weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$work" -master.port=$((port + 1)) \
  -volume.port=$((port + 2)) -filer.port=$((port + 3)) -s3 -s3.port=$port -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.telemetry=false -master.volumeSizeLimitMB=64 > "$work/weed.log" 2>&1 &
weed=$!
trap 'kill -9 $weed 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
for _ in $(seq 100); do
  echo "s3.bucket.create -name bench" | "$root/.venv/bin/weed" shell -master=127.0.0.1:$((port + 1)) 2>&1 | grep -q "created bucket" && break
  sleep 0.3
done
"$prep" cp -r "$fixtures/bigearthnet/s2" s3://bench/s2 2>/dev/null
"$prep" gen-metadata --scan-s2 "$fixtures/bigearthnet/s2" --out "$work/base.parquet" 2>/dev/null
"$py" benches/scripts/replicate_catalog.py "$work/base.parquet" "$work/big.parquet" "$n"
"$prep" gen-metadata --meta "$work/big.parquet" --s2-root s3://bench/s2 --layout v1 --out "$work/s3.parquet" 2>/dev/null
# Replicated ids must point at the real folders: rewrite the folder part back to the original patch names.
"$py" - "$work/s3.parquet" <<'PY'
import sys, re, pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1]).to_pylist()
for r in t:
    for k in list(r):
        if k.startswith("s2_"):
            r[k] = re.sub(r"_copy\d+", "", r[k])
pq.write_table(pa.Table.from_pylist(t), sys.argv[1])
PY
printf '%-8s %-8s %-10s %-10s\n' workers objects seconds "HEAD/s"
for w in 8 32 64 128; do
  "$prep" check --meta "$work/s3.parquet" --workers "$w" --out "$work/report.json" 2>/dev/null
  "$py" -c "import json; r=json.load(open('$work/report.json')); print(f\"{$w:<8} {r['objects_checked']:<8} {r['elapsed_s']:<10.2f} {r['heads_per_s']:<10.0f}\")"
done
