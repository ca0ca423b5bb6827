#!/usr/bin/env bash
# Users' ONNX models over the whole real 29RKH scene (B02 B03 B04 B08, 1098² at 10 m): the Swin2SR ×4 and
# SegFormer fixtures (real architectures exported by Hugging Face `transformers`, random weights) through
# `eoforge-infer predict --model FILE.onnx`, against a Python reference doing what TerraTorch's tiled inference does
# (rasterio window reads → onnxruntime → numpy blending of overlapping windows in a whole-scene accumulator →
# rasterio write of a tiled GeoTIFF → `gdal_translate -of COG`), same windows, halo, codec and cores. Prints wall
# time, peak RSS and whether GDAL's COG validator passes each product, one row per model and tool
# (`eoforge` = `eoforge-infer predict`, `python` = the reference); benches/scripts/bench_table.py makes the ratios.
# usage: benches/onnx-vs-python.sh [WINDOW] [HALO]   (PROFILE=dev uses the test build; default: the bench profile)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
window=${1:-256}
halo=${2:-32}
fixtures=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
scene="$fixtures/s2-l2a-29RKH"
models="$fixtures/models"
[ -f "$scene/B04.tif" ] && [ -f "$models/swin2sr_x4_tiny.onnx" ] || { echo "error: 29RKH or model fixtures not found under $fixtures" >&2; exit 1; }
./scripts/setup-system.sh
EOFORGE_PY_EXTRA=rasterio ./scripts/python-env.sh
python="$root/.venv/bin/python"
profile=${PROFILE:-bench}
cargo build --locked -q --profile "$profile" -p eoforge-infer
bin="${CARGO_TARGET_DIR:-$root/target}/$([ "$profile" = dev ] && echo debug || echo release)"
library=$("$python" -c "import os, onnxruntime; print(os.path.dirname(onnxruntime.__file__))")/capi
library=$(ls "$library"/libonnxruntime.so.* | sort | tail -n 1)
validator=/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py
cores=$(nproc)

work=$(mktemp -d "${TMPDIR:-/tmp}/eoforge-onnx-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
gdalbuildvrt -q -separate "$work/stack.vrt" "$scene/B02.tif" "$scene/B03.tif" "$scene/B04.tif" "$scene/B08.tif"
gdal_translate -q -co TILED=YES "$work/stack.vrt" "$work/stack.tif"

cat > "$work/reference.py" <<'PY'
"""Tiled inference as TerraTorch does it: windows with a halo read with rasterio, the model run by onnxruntime on
batches, outputs blended (Hann weights over the halo) into a whole-scene accumulator, then written as a tiled
GeoTIFF (LZW) and converted to a COG with gdal_translate."""
import subprocess, sys
import numpy as np, onnxruntime as ort, rasterio
from rasterio.windows import Window

scene, model, out, kind, window, halo, multiple, threads = sys.argv[1:9]
window, halo, multiple, threads = int(window), int(halo), int(multiple), int(threads)
options = ort.SessionOptions()
options.intra_op_num_threads = threads
session = ort.InferenceSession(model, options)
name = session.get_inputs()[0].name

def starts(n, size, stride):
    s = list(range(0, max(n - size, 0) + 1, stride))
    if s[-1] + size < n:
        s.append(n - size)
    return s

def ramp(size):
    d = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5)
    return np.clip(0.5 - 0.5 * np.cos(np.pi * np.minimum(d / (2 * halo), 1.0)), 1e-3, 1.0)

with rasterio.open(scene) as src:
    profile = src.profile
    h, w = src.height, src.width
    size = min(window, h, w)
    stride = size - 2 * halo
    probe = session.run(None, {name: np.zeros((1, src.count, size, size), np.float32)})[0]
    k = probe.shape[1]
    scale = probe.shape[2] // size if probe.shape[2] >= size else 1
    acc = np.zeros((k, h * scale, w * scale), np.float32)
    weight = np.zeros((h * scale, w * scale), np.float32)
    for r in starts(h, size, stride):
        for c in starts(w, size, stride):
            x = src.read(window=Window(c, r, size, size)).astype(np.float32) * 1e-4
            y = session.run(None, {name: x[None]})[0][0]
            if y.shape[1] < size * scale:  # logits at 1/k: bilinear (half-pixel centres) back to the window
                f = size // y.shape[1]
                src_idx = np.clip((np.arange(size) + 0.5) / f - 0.5, 0, y.shape[1] - 1)
                i0 = np.floor(src_idx).astype(int); i1 = np.minimum(i0 + 1, y.shape[1] - 1); t = src_idx - i0
                y = y[:, i0] * (1 - t)[None, :, None] + y[:, i1] * t[None, :, None]
                y = y[:, :, i0] * (1 - t)[None, None, :] + y[:, :, i1] * t[None, None, :]
            wy = ramp(size * scale)
            wt = np.outer(wy, wy).astype(np.float32)
            acc[:, r * scale:(r + size) * scale, c * scale:(c + size) * scale] += y * wt
            weight[r * scale:(r + size) * scale, c * scale:(c + size) * scale] += wt
    acc /= weight
    transform = src.transform * src.transform.scale(1 / scale, 1 / scale)
if kind == "classes":
    data = acc.argmax(0).astype(np.uint8)[None]
    dtype, count = "uint8", 1
else:
    data = np.clip(np.rint(acc / 1e-4), 1, 65535).astype(np.uint16)
    dtype, count = "uint16", k
profile.update(driver="GTiff", tiled=True, blockxsize=512, blockysize=512, compress="lzw", dtype=dtype, count=count,
               height=data.shape[1], width=data.shape[2], transform=transform, nodata=0 if kind != "classes" else 255,
               BIGTIFF="IF_SAFER")
with rasterio.open(out + ".tiled.tif", "w", **profile) as dst:
    dst.write(data)
subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=LZW", "-co", "BLOCKSIZE=512",
                "-co", f"NUM_THREADS={threads}", out + ".tiled.tif", out], check=True)
PY

printf '\n%-10s %-8s %8s %9s %-4s\n' model tool wall_s peak_MiB COG
for spec in "swin2sr_x4_tiny image 8" "segformer_tiny classes 32"; do
  read -r name kind multiple <<< "$spec"
  model="$models/$name.onnx"
  out="$work/$name-eoforge.tif"
  /usr/bin/time -f '%e %M' -o "$work/e.time" "$bin/eoforge-infer" predict "$work/stack.tif" "$out" --model "$model" \
    --onnxruntime "$library" --output "$kind" --normalize scale=0.0001/offset=0 --size-multiple "$multiple" \
    --window "$window" --halo "$halo" 2> "$work/e.log" || { cat "$work/e.log" >&2; exit 1; }
  read -r e_wall e_kb < "$work/e.time"
  e_cog=$(/usr/bin/python3 "$validator" -q "$out" > /dev/null 2>&1 && echo yes || echo NO)
  ref="$work/$name-python.tif"
  /usr/bin/time -f '%e %M' -o "$work/p.time" "$python" "$work/reference.py" "$work/stack.tif" "$model" "$ref" \
    "$kind" "$window" "$halo" "$multiple" "$cores" 2> "$work/p.log" || { cat "$work/p.log" >&2; exit 1; }
  read -r p_wall p_kb < "$work/p.time"
  p_cog=$(/usr/bin/python3 "$validator" -q "$ref" > /dev/null 2>&1 && echo yes || echo NO)
  printf '%-10s %-8s %8.1f %9d %-4s\n' "${name%%_*}" eoforge "$e_wall" "$((e_kb / 1024))" "$e_cog"
  printf '%-10s %-8s %8.1f %9d %-4s\n' "${name%%_*}" python "$p_wall" "$((p_kb / 1024))" "$p_cog"
  rm -f "$out" "$ref" "$ref.tiled.tif"
done
echo "scene: 1098x1098x4 UInt16; window $window, halo $halo; $cores cores; ONNX Runtime $(basename "$library")"
