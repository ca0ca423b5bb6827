#!/usr/bin/env bash
# COG writing: eoforge's streaming writer vs `gdal_translate -of COG -co NUM_THREADS=ALL_CPUS`, in one run, on the
# real 29RKH 4-band stack (B02 B03 B04 B08) upsampled 10x to 10,980² Int16 (~965 MB raw), and again at 4x the area
# (21,960²), then a 36,000² UInt8 class map (low entropy, nearest overviews). Both write LZW + predictor, then ZSTD
# level 1 + predictor; 512² tiles, average overviews. Prints wall
# time, raw MB/s, the ratios and peak RSS. eoforge's wall time is the whole command: write, QC (which decodes the
# file again) and publish; the write stage alone is shown too.
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
row() { printf '%-12s %-7s %-6s %-30s %8.1f %8.1f %12s\n' "$@"; }
printf '%-12s %-7s %-6s %-30s %8s %8s %12s\n' size raw_MB codec tool wall_s MB/s peak_RSS_MiB
summary=()
for size in "${sizes[@]}"; do
  raw="$work/raw.tif"
  gdal_translate -q -ot Int16 -outsize "$size" "$size" -r bilinear -co TILED=YES -co BLOCKXSIZE=512 -co BLOCKYSIZE=512 \
    -co BIGTIFF=YES "$work/stack.vrt" "$raw"
  px=$(gdalinfo "$raw" | sed -n 's/^Size is \([0-9]*\), \([0-9]*\)/\1 \2/p')
  mb=$(echo "$px" | awk '{printf "%.0f", $1 * $2 * 4 * 2 / 1e6}')
  label=$(echo "$px" | tr ' ' 'x')
  for codec in lzw zstd; do
    if [ "$codec" = lzw ]; then gdal_co=(-co COMPRESS=LZW); eo_co=(--compress lzw); else
      gdal_co=(-co COMPRESS=ZSTD -co LEVEL=1); eo_co=(--compress zstd --level 1); fi
    sync
    /usr/bin/time -f '%e %M' -o "$work/gdal.time" gdal_translate -q -of COG "${gdal_co[@]}" -co PREDICTOR=YES \
      -co BLOCKSIZE=512 -co NUM_THREADS=ALL_CPUS -co BIGTIFF=IF_SAFER -co RESAMPLING=AVERAGE "$raw" "$work/gdal.tif"
    read -r g_s g_kb < "$work/gdal.time"
    sync
    /usr/bin/time -f '%e %M' -o "$work/eo.time" "$infer" cog "$raw" "$work/eo/eo.tif" "${eo_co[@]}" 2> "$work/eo.log" \
      || { cat "$work/eo.log" >&2; exit 1; }
    read -r e_s e_kb < "$work/eo.time"
    read -r e_write e_qc < <(python3 -c "import json; s=json.load(open('$work/eo/eo.tif.profile.json'))['stages']; print(s['write'], s['qc'])")
    row "$label" "$mb" "$codec" "gdal_translate -of COG" "$g_s" "$(awk -v a="$mb" -v b="$g_s" 'BEGIN{print a/b}')" "$((g_kb / 1024))"
    row "$label" "$mb" "$codec" "eoforge-infer cog (all, +QC)" "$e_s" "$(awk -v a="$mb" -v b="$e_s" 'BEGIN{print a/b}')" "$((e_kb / 1024))"
    row "$label" "$mb" "$codec" "  of which write stage" "$e_write" "$(awk -v a="$mb" -v b="$e_write" 'BEGIN{print a/b}')" -
    row "$label" "$mb" "$codec" "  of which QC (reads it back)" "$e_qc" "$(awk -v a="$mb" -v b="$e_qc" 'BEGIN{print a/b}')" -
    summary+=("$(awk -v l="$label" -v c="$codec" -v gs="$g_s" -v es="$e_s" -v ew="$e_write" -v gk="$g_kb" -v ek="$e_kb" 'BEGIN {
      printf "%s %s: eoforge whole run %.2fx GDAL throughput (write stage alone %.2fx); peak RSS %.0f vs %.0f MiB", l, c, gs / es, gs / ew, ek / 1024, gk / 1024 }')")
    rm -rf "$work/gdal.tif" "$work/eo"
  done
  rm -f "$raw"
done

# A large low-entropy class map: the real USDA CDL crop-type map upsampled by nearest to 36,000² UInt8 (1.3 GB raw,
# DEFLATE source in 1024² blocks), as class maps and masks are; LZW + predictor, nearest overviews on both sides.
cdl="$fixtures/labels/cdl_2021_30m_kansas_1000.tif"
if [ -f "$cdl" ]; then
  raw="$work/classes.tif"
  gdal_translate -q -outsize 3600% 3600% -r nearest -co COMPRESS=DEFLATE -co TILED=YES -co BLOCKXSIZE=1024 \
    -co BLOCKYSIZE=1024 -co BIGTIFF=YES "$cdl" "$raw"
  label=36000x36000; mb=1296
  sync
  /usr/bin/time -f '%e %M' -o "$work/gdal.time" gdal_translate -q -of COG -co COMPRESS=LZW -co PREDICTOR=YES \
    -co BLOCKSIZE=512 -co NUM_THREADS=ALL_CPUS -co BIGTIFF=IF_SAFER -co RESAMPLING=NEAREST "$raw" "$work/gdal.tif"
  read -r g_s g_kb < "$work/gdal.time"
  sync
  /usr/bin/time -f '%e %M' -o "$work/eo.time" "$infer" cog "$raw" "$work/eo/eo.tif" --compress lzw 2> "$work/eo.log" \
    || { cat "$work/eo.log" >&2; exit 1; }
  read -r e_s e_kb < "$work/eo.time"
  read -r e_write e_qc < <(python3 -c "import json; s=json.load(open('$work/eo/eo.tif.profile.json'))['stages']; print(s['write'], s['qc'])")
  row "$label" "$mb" "lzw" "gdal_translate -of COG (classes)" "$g_s" "$(awk -v a="$mb" -v b="$g_s" 'BEGIN{print a/b}')" "$((g_kb / 1024))"
  row "$label" "$mb" "lzw" "eoforge-infer cog (all, +QC)" "$e_s" "$(awk -v a="$mb" -v b="$e_s" 'BEGIN{print a/b}')" "$((e_kb / 1024))"
  row "$label" "$mb" "lzw" "  of which write stage" "$e_write" "$(awk -v a="$mb" -v b="$e_write" 'BEGIN{print a/b}')" -
  row "$label" "$mb" "lzw" "  of which QC (reads it back)" "$e_qc" "$(awk -v a="$mb" -v b="$e_qc" 'BEGIN{print a/b}')" -
  summary+=("$(awk -v l="$label" -v gs="$g_s" -v es="$e_s" -v ew="$e_write" -v gk="$g_kb" -v ek="$e_kb" 'BEGIN {
    printf "%s class map lzw: eoforge whole run %.2fx GDAL throughput (write stage alone %.2fx); peak RSS %.0f vs %.0f MiB", l, gs / es, gs / ew, ek / 1024, gk / 1024 }')")
  rm -rf "$work/gdal.tif" "$work/eo" "$raw"
fi
printf '%s\n' "${summary[@]}"
