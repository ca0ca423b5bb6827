#!/usr/bin/env bash
# COG writing: eoforge's streaming writer vs `gdal_translate -of COG -co NUM_THREADS=ALL_CPUS`, in one run, on the
# real 29RKH 4-band stack (B02 B03 B04 B08) upsampled 10x to 10,980² Int16 (~965 MB raw), and again at 4x the area
# (21,960²). Both write LZW + predictor, 512² tiles, average overviews. Prints wall time, raw MB/s, the ratio and
# peak RSS. eoforge's wall time includes its QC pass; its write stage alone is shown too.
# usage: benches/cog-vs-gdal.sh [--no-big]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
scene="$fixtures/s2-l2a-29RKH"
[ -f "$scene/B04.tif" ] || { echo "error: 29RKH fixture not found at $scene" >&2; exit 1; }
./scripts/setup-system.sh
cargo build --locked -q --profile bench -p eoforge-infer
infer="${CARGO_TARGET_DIR:-$root/target}/release/eoforge-infer"

work=$(mktemp -d "${TMPDIR:-/tmp}/eoforge-cog-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
gdalbuildvrt -q -separate "$work/stack.vrt" "$scene/B02.tif" "$scene/B03.tif" "$scene/B04.tif" "$scene/B08.tif"
sizes=("1000%")
[ "${1:-}" = "--no-big" ] || sizes+=("2000%")
printf '%-10s %-8s %-28s %9s %9s %12s\n' size raw_MB tool wall_s MB/s peak_RSS_MiB
for size in "${sizes[@]}"; do
  raw="$work/raw.tif"
  gdal_translate -q -ot Int16 -outsize "$size" "$size" -r bilinear -co TILED=YES -co BLOCKXSIZE=512 -co BLOCKYSIZE=512 \
    -co BIGTIFF=YES "$work/stack.vrt" "$raw"
  px=$(gdalinfo "$raw" | sed -n 's/^Size is \([0-9]*\), \([0-9]*\)/\1 \2/p')
  mb=$(echo "$px" | awk '{printf "%.0f", $1 * $2 * 4 * 2 / 1e6}')
  sync
  /usr/bin/time -f '%e %M' -o "$work/gdal.time" gdal_translate -q -of COG -co COMPRESS=LZW -co PREDICTOR=YES \
    -co BLOCKSIZE=512 -co NUM_THREADS=ALL_CPUS -co BIGTIFF=IF_SAFER -co RESAMPLING=AVERAGE "$raw" "$work/gdal.tif"
  read -r g_s g_kb < "$work/gdal.time"
  /usr/bin/time -f '%e %M' -o "$work/eo.time" "$infer" cog "$raw" "$work/eo/eo.tif" --compress lzw 2> "$work/eo.log" \
    || { cat "$work/eo.log" >&2; exit 1; }
  read -r e_s e_kb < "$work/eo.time"
  e_write=$(python3 -c "import json; print(json.load(open('$work/eo/eo.tif.profile.json'))['stages']['write'])")
  label=$(echo "$px" | tr ' ' 'x')
  awk -v l="$label" -v mb="$mb" -v gs="$g_s" -v gk="$g_kb" -v es="$e_s" -v ek="$e_kb" -v ew="$e_write" 'BEGIN {
    printf "%-10s %-8s %-28s %9.1f %9.1f %12.0f\n", l, mb, "gdal_translate -of COG", gs, mb / gs, gk / 1024
    printf "%-10s %-8s %-28s %9.1f %9.1f %12.0f\n", l, mb, "eoforge-infer cog (+QC)", es, mb / es, ek / 1024
    printf "%-10s %-8s %-28s %9.1f %9.1f %12s\n", l, mb, "  of which write stage", ew, mb / ew, "-"
    printf "ratio (eoforge write / gdal throughput): %.2fx; with QC: %.2fx\n", gs / ew, gs / es }'
  rm -rf "$raw" "$work/gdal.tif" "$work/eo"
done
