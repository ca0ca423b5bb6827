#!/usr/bin/env bash
# The main job end to end on real imagery, ending with an HTML report:
#   ingest → catalog → preflight → windows → shards → train a U-Net → evaluate → tiled inference → COG + overviews
#   → QC → publish, plus NDVI/EVI/true-colour maps (eoforge-demo runs each stage as the binary a user would run).
#
# usage: scripts/demo.sh                      (environment variables, all optional:)
#   RASTER=scene.tif      a multi-band scene of your own (path or URL); default: a real Landsat 7 ETM+ scene of
#                         Olinda, Brazil from Debian's r-cran-stars package (downloaded with apt-get download and
#                         unpacked, not installed; Apache-2.0)
#   LABELS=labels.tif     a label raster covering the scene; default: labels derived from NDWI/NDVI thresholds
#   BAND_ROLES=blue=1,green=2,red=3,nir=4   which bands are which (default suits the Landsat scene and B02,B03,B04,B08 stacks)
#   STORE=s3://bucket/prefix   run against object storage (endpoint and credentials from the usual environment:
#                         EOFORGE_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)
#   LOCAL_S3=1            with STORE=s3://demo/…, start a local S3 server (SeaweedFS) for the run and stop it after
#   OUT=dir               where the run, logs and report go (default .cache/demo/out)
#   DEMO_ARGS="…"         more eoforge-demo flags (--epochs 5, --window 64, …)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work="$root/.cache/demo"
out=${OUT:-$work/out}
mkdir -p "$work"

"$root/scripts/setup-system.sh"
"$root/scripts/python-env.sh"
echo "== building the binaries (cargo build --workspace --bins)"
cargo build --locked -q --workspace --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

args=()
raster=${RASTER:-}
if [ -z "$raster" ]; then
  raster="$work/L7_ETMs.tif"
  if [ ! -f "$raster" ]; then
    echo "== fetching real imagery: Debian package r-cran-stars (tif/L7_ETMs.tif, Landsat 7 ETM+ over Olinda, Brazil)"
    download() { (cd "$work" && rm -f r-cran-stars_*.deb && apt-get download -q r-cran-stars >/dev/null 2>&1); }
    if ! download; then
      # Package lists may be missing or stale (a fresh container): refresh them once and try again.
      sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
      $sudo apt-get update -qq >/dev/null 2>&1 || true
      download || { echo "error: could not download r-cran-stars with apt-get; pass a scene: make demo RASTER=path" >&2; exit 1; }
    fi
    rm -rf "$work/deb" && dpkg-deb -x "$work"/r-cran-stars_*.deb "$work/deb"
    cp "$work/deb/usr/lib/R/site-library/stars/tif/L7_ETMs.tif" "$raster.partial" && mv "$raster.partial" "$raster"
    rm -rf "$work/deb" "$work"/r-cran-stars_*.deb
  fi
  version=$(apt-cache show r-cran-stars 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
  args+=(--scene-note "Landsat 7 ETM+ subset of Olinda, Brazil: 349 x 352 pixels of 28.5 m, bands 1-5 and 7 as \
8-bit digital numbers, SIRGAS 2000 / UTM zone 25S. Landsat data are public domain (USGS); this subset ships as \
tif/L7_ETMs.tif in the R package stars (Debian package r-cran-stars ${version:-}), licensed Apache-2.0, \
copyright Edzer Pebesma, Michael Sumner, Etienne Racine, Adriano Fantini.")
  # Top-of-atmosphere digital numbers: haze lifts green over land, so NDWI > 0 also catches the city; the open
  # water of this scene has NDWI > 0.6 and land < 0.35 (a gap in the histogram), hence 0.3.
  args+=(--water-ndwi 0.3)
fi
[ -n "${LABELS:-}" ] && args+=(--labels "$LABELS")
[ -n "${BAND_ROLES:-}" ] && args+=(--band-roles "$BAND_ROLES")
store=${STORE:-}
[ -n "$store" ] && args+=(--store "$store")

if [ "${LOCAL_S3:-0}" = 1 ]; then
  case "$store" in s3://*) ;; *) echo "error: LOCAL_S3=1 needs STORE=s3://bucket/prefix" >&2; exit 2 ;; esac
  bucket=${store#s3://}; bucket=${bucket%%/*}
  echo "== starting a local S3-compatible server (SeaweedFS) on 127.0.0.1 with bucket $bucket"
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
    echo "s3.bucket.create -name $bucket" | "$root/.venv/bin/weed" shell -master=127.0.0.1:19333 2>&1 \
      | grep -q "created bucket" && break
    sleep 0.3
  done
  export EOFORGE_S3_ENDPOINT="http://127.0.0.1:$port"
fi

# shellcheck disable=SC2086
"$bin/eoforge-demo" --scene "$raster" --out "$out" "${args[@]}" ${DEMO_ARGS:-}
echo "== open the report: file://$(cd "$out/report" && pwd)/index.html"
