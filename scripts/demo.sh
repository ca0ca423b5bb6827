#!/usr/bin/env bash
# The main job at this stage, end to end on a real raster:
#   describe it, copy it locally, upload it to an S3-compatible server, describe it there, copy it back, compare.
# usage: scripts/demo.sh [RASTER]   (default: the real SRTM elevation raster of Luxembourg shipped in Debian's
#                                    r-cran-terra package, downloaded with apt-get download and unpacked, not installed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work="$root/.cache/demo"
mkdir -p "$work"

"$root/scripts/setup-system.sh"
"$root/scripts/python-env.sh"
cargo build --locked -q -p eoforge-prep
prep() { "${CARGO_TARGET_DIR:-$root/target}/debug/eoforge-prep" "$@"; }

raster=${1:-}
if [ -z "$raster" ]; then
  raster="$work/elev.tif"
  if [ ! -f "$raster" ]; then
    echo "== fetching a real raster: Debian package r-cran-terra (ex/elev.tif, SRTM elevation of Luxembourg)"
    (cd "$work" && rm -f r-cran-terra_*.deb && apt-get download -q r-cran-terra >/dev/null 2>&1) \
      || { echo "error: could not download r-cran-terra; pass a raster: scripts/demo.sh PATH" >&2; exit 1; }
    rm -rf "$work/deb" && dpkg-deb -x "$work"/r-cran-terra_*.deb "$work/deb"
    cp "$work/deb/usr/lib/R/site-library/terra/ex/elev.tif" "$raster"
  fi
fi
[ -f "$raster" ] || { echo "error: raster not found: $raster" >&2; exit 1; }
name=$(basename "$raster")

echo "== eoforge-prep info $raster"
prep info "$raster"

echo "== eoforge-prep cp $raster $work/copies/"
prep cp "$raster" "$work/copies/"

echo "== starting a local S3-compatible server (SeaweedFS) on 127.0.0.1"
export AWS_ACCESS_KEY_ID=demo-key AWS_SECRET_ACCESS_KEY=demo-secret-not-for-production
port=18333
rm -rf "$work/s3" && mkdir -p "$work/s3"
"$root/.venv/bin/weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$work/s3" -master.port=19333 \
  -volume.port=18080 -filer.port=18888 -s3 -s3.port=$port -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.telemetry=false -master.volumeSizeLimitMB=64 > "$work/s3.log" 2>&1 &
weed_pid=$!
trap 'kill -9 $weed_pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
for _ in $(seq 100); do
  echo "s3.bucket.create -name demo" | "$root/.venv/bin/weed" shell -master=127.0.0.1:19333 2>&1 | grep -q "created bucket" && break
  sleep 0.3
done
export EOFORGE_S3_ENDPOINT="http://127.0.0.1:$port"

echo "== eoforge-prep cp $raster s3://demo/rasters/"
prep cp "$raster" s3://demo/rasters/
echo "== eoforge-prep info s3://demo/rasters/$name"
prep info "s3://demo/rasters/$name" | head -n 12
echo "   …"
echo "== eoforge-prep cp s3://demo/rasters/$name $work/roundtrip/$name"
prep cp "s3://demo/rasters/$name" "$work/roundtrip/$name"
cmp "$raster" "$work/roundtrip/$name"
echo "== round trip through S3 is byte-identical: $work/roundtrip/$name"
