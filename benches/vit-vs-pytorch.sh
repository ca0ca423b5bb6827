#!/usr/bin/env bash
# A Prithvi-sized ViT encoder on the CPU (embed 768, 12 blocks, 12 heads, patch (1, 16, 16), 6 × 224², batch 4;
# 1 and 4 frames): forward, and one fine-tuning step with the encoder frozen and trained, eoforge
# (`benches/src/bin/vit-step.rs`, burn's flex backend) against TerraTorch's `PrithviViT` in PyTorch
# (`benches/scripts/vit_reference.py`), same shapes, head, loss and optimiser, same cores, in one run. Each
# measurement is its own process, so peak RSS is that measurement's. Prints a Markdown table: seconds per call and
# peak memory for both, and eoforge's speed as a multiple of PyTorch's (higher is better).
#
# Not part of CI: PyTorch is large. Make a scratch environment once, outside the repository:
#   python3 -m venv /tmp/torchvenv
#   /tmp/torchvenv/bin/pip install torch numpy
#   /tmp/torchvenv/bin/pip install --no-deps timm einops torchvision terratorch
# usage: TORCH_PYTHON=/tmp/torchvenv/bin/python benches/vit-vs-pytorch.sh [STEPS]   (default 2 timed calls each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=${1:-2}
python=${TORCH_PYTHON:-}
[ -n "$python" ] && "$python" -c "import torch, timm, einops" >/dev/null 2>&1 || {
  echo "error: set TORCH_PYTHON to a python with torch, timm, einops and terratorch (see the header of $0)" >&2
  exit 1
}
cargo build --locked -q --release -p eoforge-benches --bin vit-step
bin="${CARGO_TARGET_DIR:-$root/target}/release/vit-step"
cores=$(nproc)
echo "| $cores cores, batch 4, 6 × 224², embed 768, 12 blocks | frames | eoforge s | PyTorch s | eoforge speed | eoforge peak MiB | PyTorch peak MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for frames in 1 4; do
  for mode in forward frozen trained; do
    ours=$("$bin" "$mode" "$frames" "$steps")
    theirs=$(OMP_NUM_THREADS=$cores "$python" benches/scripts/vit_reference.py "$mode" "$frames" "$steps" 2>/dev/null | tail -n 1)
    "$python" - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
label = {"forward": "forward", "frozen": "fine-tuning step, encoder frozen", "trained": "fine-tuning step, encoder trained"}
print(f"| {label[a['mode']]} | {a['frames']} | {a['seconds']:.2f} | {b['seconds']:.2f} | {b['seconds'] / a['seconds']:.2f}× "
      f"| {a['peak_rss_mib']:.0f} | {b['peak_rss_mib']:.0f} |")
PY
  done
done
echo
echo "eoforge: burn $(grep -m1 -A1 'name = "burn"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p') flex backend; PyTorch $("$python" -c 'import torch; print(torch.__version__)'), TerraTorch's prithvi_mae.PrithviViT."
