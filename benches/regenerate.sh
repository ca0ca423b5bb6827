#!/usr/bin/env bash
# Reruns eoforge's benchmarks and rewrites their tables in docs/BENCHMARKS.md.
#
# usage: benches/regenerate.sh [NAME...]      (no NAME: all of them; --list prints the names)
#   shard-vs-python   benches/shard-vs-python.sh $BENCH_SHARD_ARGS        (default 5000)
#   loader-vs-python  benches/loader-vs-python.sh $BENCH_LOADER_ARGS      (default 5000)
#   cog-vs-gdal       benches/cog-vs-gdal.sh $BENCH_COG_ARGS              (default none; --no-big skips 21,960²)
#   preflight-s3      benches/preflight-s3.sh $BENCH_PREFLIGHT_ARGS       (default 1000)
#   train-step        the train-step binary (bench profile), $BENCH_TRAIN_STEP_ARGS steps (default 2)
#   sr-10x            benches/sr-10x.sh $BENCH_SR_ARGS                    (default "16 2": features, blocks)
#   onnx-vs-python    benches/onnx-vs-python.sh $BENCH_ONNX_ARGS          (default "256 32": window, halo)
#   criterion         every criterion group of benches/benches/*.rs, in one `cargo bench` run
#   criterion-GROUP   one group (e.g. criterion-lzw_tile_512x512x4_i16); several are run in one `cargo bench`
#
# Each benchmark's stdout is kept in target/benchmarks/NAME.txt (BENCH_OUT overrides the folder) and turned into a
# Markdown table by benches/scripts/bench_table.py; the table, and a line saying when, on what machine and with
# which command it was measured, replace the block between <!-- bench:NAME:begin --> and <!-- bench:NAME:end -->.
# A benchmark that fails, or whose output holds no table, is reported and its block is left as it was; the script
# then goes on with the others and exits with status 1 at the end.
#
# Fixtures: EOFORGE_FIXTURES, default ../shared/fixtures next to the repository (see docs/BENCHMARKS.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
doc=docs/BENCHMARKS.md
conv=benches/scripts/bench_table.py
export EOFORGE_FIXTURES=${EOFORGE_FIXTURES:-$root/../shared/fixtures}
target_dir=${CARGO_TARGET_DIR:-$root/target}
out_dir=${BENCH_OUT:-$target_dir/benchmarks}

scripts=(shard-vs-python loader-vs-python cog-vs-gdal preflight-s3 train-step sr-10x onnx-vs-python)
groups=(read write_tiled_2048x2048x4_u16 tiling lzw_tile_512x512x4_i16 postprocess_cog_2048x2048x4_i16
  engine_identity_1x_1024x1024x4)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
contains() { local x=$1; shift; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }

selected=()
selected_groups=()
[ $# -gt 0 ] || set -- "${scripts[@]}" criterion
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage ;;
    --list) printf '%s\n' "${scripts[@]}" criterion "${groups[@]/#/criterion-}"; exit 0 ;;
    criterion) selected_groups+=("${groups[@]}") ;;
    criterion-*)
      contains "${arg#criterion-}" "${groups[@]}" || { echo "error: unknown criterion group: ${arg#criterion-}" >&2; usage; }
      selected_groups+=("${arg#criterion-}") ;;
    *)
      contains "$arg" "${scripts[@]}" || { echo "error: unknown benchmark: $arg" >&2; usage; }
      selected+=("$arg") ;;
  esac
done

command -v python3 >/dev/null || { echo "error: python3 is needed to turn outputs into tables" >&2; exit 2; }
[ -f "$doc" ] || { echo "error: $doc not found" >&2; exit 2; }
for name in ${selected[@]+"${selected[@]}"} ${selected_groups[@]+"${selected_groups[@]/#/criterion-}"}; do
  grep -qF "<!-- bench:$name:begin -->" "$doc" && grep -qF "<!-- bench:$name:end -->" "$doc" \
    || { echo "error: $doc has no block <!-- bench:$name:begin --> … <!-- bench:$name:end -->" >&2; exit 2; }
done
mkdir -p "$out_dir"

# The machine, as the tables name it: cores, CPU model, memory.
cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
mem_total=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576; exit}' /proc/meminfo 2>/dev/null || true)
machine="$(nproc) cores, ${cpu_model:-unknown CPU model} ($(uname -m)), MemTotal ${mem_total:-unknown}"

updated=()
failed=()

# publish NAME OUTPUT_FILE COMMAND_SHOWN: the table of OUTPUT_FILE into NAME's block of the document.
publish() {
  local name=$1 out=$2 shown=$3 body="$out_dir/$1.md"
  if ! python3 "$conv" table "$name" "$out" > "$body"; then
    failed+=("$name: its output holds no table the converter reads (raw output: $out)")
    return 0
  fi
  printf '\nmeasured %s on %s, command: `%s`\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$machine" "$shown" >> "$body"
  if python3 "$conv" splice "$doc" "$name" "$body"; then
    updated+=("$name")
  else
    failed+=("$name: its block in $doc could not be rewritten (table: $body)")
  fi
}

# run_script NAME COMMAND...: runs one benchmark (its progress and errors go to the terminal), then publishes.
run_script() {
  local name=$1 out="$out_dir/$1.txt" rc
  shift
  echo "== $name: $*" >&2
  if "$@" > "$out"; then
    publish "$name" "$out" "$*"
  else
    rc=$?
    failed+=("$name: exit status $rc (its errors are above; its output: $out)")
  fi
}

train_step() {
  ./scripts/setup-system.sh \
    && cargo build --locked -q --profile bench -p eoforge-benches --bin train-step \
    && "$target_dir/release/train-step" "$@"
}

args() { local -n into=$1; read -r -a into <<< "${2-}"; }

for name in "${scripts[@]}"; do
  contains "$name" ${selected[@]+"${selected[@]}"} || continue
  case "$name" in
    shard-vs-python) args a "${BENCH_SHARD_ARGS-5000}"; run_script "$name" benches/shard-vs-python.sh ${a[@]+"${a[@]}"} ;;
    loader-vs-python) args a "${BENCH_LOADER_ARGS-5000}"; run_script "$name" benches/loader-vs-python.sh ${a[@]+"${a[@]}"} ;;
    cog-vs-gdal) args a "${BENCH_COG_ARGS-}"; run_script "$name" benches/cog-vs-gdal.sh ${a[@]+"${a[@]}"} ;;
    preflight-s3) args a "${BENCH_PREFLIGHT_ARGS-1000}"; run_script "$name" benches/preflight-s3.sh ${a[@]+"${a[@]}"} ;;
    sr-10x) args a "${BENCH_SR_ARGS-16 2}"; run_script "$name" benches/sr-10x.sh ${a[@]+"${a[@]}"} ;;
    onnx-vs-python) args a "${BENCH_ONNX_ARGS-256 32}"; run_script "$name" benches/onnx-vs-python.sh ${a[@]+"${a[@]}"} ;;
    train-step)
      args a "${BENCH_TRAIN_STEP_ARGS-2}"
      out="$out_dir/train-step.txt"
      shown="cargo build --locked -q --profile bench -p eoforge-benches --bin train-step && target/release/train-step ${a[*]-}"
      echo "== train-step: $shown" >&2
      if train_step ${a[@]+"${a[@]}"} > "$out"; then
        publish train-step "$out" "$shown"
      else
        rc=$?
        failed+=("train-step: exit status $rc (its errors are above; its output: $out)")
      fi ;;
  esac
done

if [ ${#selected_groups[@]} -gt 0 ]; then
  # One cargo bench run for every selected group; the two bench targets are named so that `--noplot` reaches
  # criterion only (the package's binaries would hand it to libtest, which refuses it).
  mapfile -t wanted < <(printf '%s\n' "${selected_groups[@]}" | awk '!seen[$0]++')
  bench=(cargo bench -p eoforge-benches --locked --bench raster --bench postprocess -- --noplot)
  shown="${bench[*]}"
  if [ ${#wanted[@]} -ne ${#groups[@]} ]; then
    bench+=("^($(IFS='|'; echo "${wanted[*]}"))/")
    shown+=" '${bench[-1]}'"
  fi
  out="$out_dir/criterion.txt"
  echo "== criterion: $shown" >&2
  if [ ! -f "$EOFORGE_FIXTURES/s2-l2a-29RKH/B04.tif" ]; then
    for g in "${wanted[@]}"; do
      failed+=("criterion-$g: fixtures not found at $EOFORGE_FIXTURES (the benches would time synthetic data)")
    done
  elif ./scripts/setup-system.sh && "${bench[@]}" > "$out"; then
    for g in "${wanted[@]}"; do publish "criterion-$g" "$out" "$shown"; done
  else
    rc=$?
    for g in "${wanted[@]}"; do failed+=("criterion-$g: exit status $rc (errors above; output: $out)"); done
  fi
fi

echo >&2
for name in ${updated[@]+"${updated[@]}"}; do echo "updated: $name" >&2; done
if [ ${#failed[@]} -gt 0 ]; then
  for f in "${failed[@]}"; do echo "FAILED: $f (its block is unchanged)" >&2; done
  exit 1
fi
echo "all tables rewritten in $doc" >&2
