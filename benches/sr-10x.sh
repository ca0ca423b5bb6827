#!/usr/bin/env bash
# The 10x super-resolution product of the real 29RKH scene (B02 B03 B04 B08, 1098² at 10 m -> 10,980² at 1 m,
# ~965 MB of UInt16 output): a small super-resolution network is trained at scale 10 on 80 px windows of the scene
# (one CPU epoch), then `eoforge-infer predict` applies it over the whole scene; the reference in the same run is
# the engine's built-in `upsample` model at the same scale, windows and codec (no network). Prints, per model: wall
# time, output MB/s (raw output bytes over the engine's run), windows/s, the engine's stage busy times, peak RSS,
# and whether GDAL's COG validator and eoforge's QC pass the product.
# usage: benches/sr-10x.sh [FEATURES] [BLOCKS]   (PROFILE=dev uses the test build: dependencies optimised, our
# crates at opt-level 1; the default is the bench profile)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
features=${1:-16}
blocks=${2:-2}
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
scene="$fixtures/s2-l2a-29RKH"
[ -f "$scene/B04.tif" ] || { echo "error: 29RKH fixture not found at $scene" >&2; exit 1; }
./scripts/setup-system.sh
./scripts/python-env.sh
profile=${PROFILE:-bench}
cargo build --locked -q --profile "$profile" -p eoforge-infer -p eoforge-train-cli -p eoforge-prep
bin="${CARGO_TARGET_DIR:-$root/target}/$([ "$profile" = dev ] && echo debug || echo release)"
validator=/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py

work=$(mktemp -d "${TMPDIR:-/tmp}/eoforge-sr-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
gdalbuildvrt -q -separate "$work/stack.vrt" "$scene/B02.tif" "$scene/B03.tif" "$scene/B04.tif" "$scene/B08.tif"
gdal_translate -q -co TILED=YES "$work/stack.vrt" "$work/stack.tif"
"$bin/eoforge-prep" windows --scene "$work/stack.tif" --labels "$scene/SCL.tif" --ignore 0 --size 80 \
  --out "$work/shards" > /dev/null
cat > "$work/sr.toml" <<EOF
batch_size = 8
shuffle_buffer = 64
augment = true
epochs = 1
lr = 0.002
warmup_steps = 5
min_lr = 0.0001
weight_decay = 0.0001
clip_norm = 1.0
checkpoint_every = 1000
seed = 3

[model]
kind = "sr"
in_channels = 4
scale = 10
features = $features
blocks = $blocks
EOF
/usr/bin/time -f '%e' -o "$work/train.time" "$bin/eoforge-train" fit --data "$work/shards" --out "$work/run" \
  --config "$work/sr.toml" > "$work/train.json"
echo "trained: scale 10, $features features, $blocks blocks, 1 epoch in $(cat "$work/train.time") s; validation:"
python3 -c "import json; v=json.load(open('$work/train.json'))['validation']; print(f\"  PSNR {v['psnr']:.2f} dB vs bicubic {v['bicubic_psnr']:.2f} dB, SSIM {v['ssim']:.4f} vs {v['bicubic_ssim']:.4f}\")"

mb=$(awk 'BEGIN{printf "%.0f", 10980 * 10980 * 4 * 2 / 1e6}')
printf '\n%-34s %8s %8s %9s %10s %10s %-5s %-5s  %s\n' model wall_s out_MB/s windows/s engine_s peak_MiB COG QC "busy s per engine stage"
for model in run upsample; do
  if [ "$model" = run ]; then m=("--model" "$work/run"); name="super-resolution (trained)"; else
    m=("--model" "upsample" "--scale" "10"); name="upsample (engine reference)"; fi
  out="$work/out-$model/29RKH_x10.tif"
  sync
  /usr/bin/time -f '%e %M' -o "$work/p.time" "$bin/eoforge-infer" predict "$work/stack.tif" "$out" "${m[@]}" \
    --window 100 --halo 4 2> "$work/p.log" || { cat "$work/p.log" >&2; exit 1; }
  read -r wall kb < "$work/p.time"
  line=$(grep -E '^[0-9]+ windows in' "$work/p.log" | tail -n 1)
  engine_s=$(echo "$line" | sed -E 's/^[0-9]+ windows in ([0-9.]+) s.*/\1/')
  wps=$(echo "$line" | sed -E 's/.*\(([0-9.]+) windows\/s.*/\1/')
  busy=$(echo "$line" | sed -E 's/.*busy s: //')
  cog=$(/usr/bin/python3 "$validator" -q "$out" > /dev/null 2>&1 && echo yes || echo NO)
  qc=$(python3 -c "import json; print('yes' if json.load(open('$out.qc.json'))['passed'] else 'NO')")
  printf '%-34s %8.1f %8.1f %9s %10s %10d %-5s %-5s  %s\n' "$name" "$wall" \
    "$(awk -v a="$mb" -v b="$engine_s" 'BEGIN{print a/b}')" "$wps" "$engine_s" "$((kb / 1024))" "$cog" "$qc" "$busy"
  rm -rf "$work/out-$model"
done
echo "output: 10980x10980x4 UInt16 = $mb MB raw; 2 threads unless RAYON_NUM_THREADS says otherwise"
