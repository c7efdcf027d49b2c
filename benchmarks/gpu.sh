#!/usr/bin/env bash
# Issue 11's GPU check in one go, printing everything: install, the GPU tests (every strategy × detector pair
# one tiny task under autocast), then `dfcl bench` for ResNet-50 at 224 px and EfficientNet-Lite0 in bf16, fp16
# and fp32, from the decoded-image cache of the cnndetection-ranking fixture, with the GPU's utilisation sampled
# by nvidia-smi meanwhile. Without CUDA it says so, skips the GPU parts and runs the CPU benches instead.
#
#   bash benchmarks/gpu.sh            # from the repository root; JSON lands in $OUT (default benchmarks/out)
#   EPOCHS=5 REPEATS=2 bash benchmarks/gpu.sh   # shorter
#   VENV=/path/to/venv bash benchmarks/gpu.sh   # an existing environment instead of `make install`
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out}
DATA=${DFCL_DATA:-../shared/data}
EPOCHS=${EPOCHS:-30}
REPEATS=${REPEATS:-3}
mkdir -p "$OUT"
failures=0
step() { echo; echo "=== $*"; }

step "install"
VENV=${VENV:-.venv}
if [ -x "$VENV/bin/python" ]; then echo "$VENV present"
else make install || { echo "make install failed"; exit 1; }; VENV=.venv; fi
PY=$VENV/bin/python
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # this checkout's code, whatever the environment installed
DFCL="$PY -m benchmark.cli"

step "machine"
uptime; nproc
nvidia-smi || echo "nvidia-smi: not available"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
CUDA=$($PY -c 'import torch; print(int(torch.cuda.is_available()))')

step "GPU tests (tests/test_gpu.py; skipped without CUDA)"
$PY -m pytest -q -rs tests/test_gpu.py || failures=$((failures + 1))

step "fixture: $DATA/cnndetection-ranking laid out as one task"
if [ ! -d "$DATA/cnndetection-ranking" ]; then echo "no $DATA/cnndetection-ranking: set DFCL_DATA"; exit 1; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for class in 0_real 1_fake; do
  mkdir -p "$WORK/gpu-fixture/all/$class"
  for file in "$(cd "$DATA" && pwd)"/cnndetection-ranking/*/"$class"/*.png; do
    family=$(basename "$(dirname "$(dirname "$file")")")
    ln -s "$file" "$WORK/gpu-fixture/all/$class/$family-$(basename "$file")"
  done
done
echo "$(find "$WORK/gpu-fixture" -name '*.png' | wc -l) images"
$DFCL scenario benchmarks/gpu-fixture.yaml --data-root "$WORK" || failures=$((failures + 1))  # builds the cache
$DFCL cache info

bench() {  # name, then dfcl bench arguments
  local name=$1; shift
  step "dfcl bench $*"
  local smi=""
  if [ "$CUDA" = 1 ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/$name.smi" &
    smi=$!
  fi
  if $DFCL bench "$@" --json > "$OUT/$name.json"; then cat "$OUT/$name.json"; else failures=$((failures + 1)); fi
  if [ -n "$smi" ]; then
    kill "$smi"; wait "$smi" 2>/dev/null
    awk -F', ' '$1 > 0 {busy += $1; n++} END {if (n) printf "nvidia-smi: GPU busy %.1f %% (mean of %d samples above 0 %%)\n", busy / n, n}' "$OUT/$name.smi"
  fi
}

if [ "$CUDA" = 1 ]; then
  for detector in resnet50 efficientnet_lite0; do
    if ! $PY -c "import sys; from benchmark import detectors; sys.exit('$detector' not in detectors.available())"; then
      step "$detector: not registered in this checkout; skipped"
      continue
    fi
    for precision in bf16 fp16 fp32; do
      bench "$detector-$precision" --device cuda --precision "$precision" --detector "$detector" \
        --scenario benchmarks/gpu-fixture.yaml --data-root "$WORK" --tasks 1 --epochs "$EPOCHS" --repeats "$REPEATS"
    done
  done
else
  step "no CUDA device: the GPU benches are skipped (not measured); the CPU benches instead"
  bench cpu-smallcnn-synthetic --device cpu
  bench cpu-smallcnn-folder224 --device cpu --scenario cnndetection-mini --scenario-param crop=224 \
    --data-root "$DATA" --tasks 5 --repeats 1
fi

step "summary"
$PY - "$OUT" <<'PY'
import json, pathlib, sys
rows = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    r = json.loads(path.read_text())
    s, t, e, l = r["setup"], r["train_images_per_s"], r["eval_images_per_s"], r["loader"]
    peak = "n/a" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']['suite']:.0f} MB"
    busy = "n/a" if r["gpu_busy_percent"] is None else f"{r['gpu_busy_percent']:.0f} %"
    rows.append(f"| {s['detector']} | {s['scenario']} | {s['device']} | {s['precision']} | {t['suite']:.0f} | {t['bare']:.0f} "
                f"| {r['train_ratio']:.3f} | {e['suite']:.0f} | {r['eval_ratio']:.3f} | {l['warm']:.0f} "
                f"| {peak} | {busy} | {path.stem} |")
print("| detector | scenario | device | precision | train img/s suite | bare | train ratio | eval img/s suite "
      "| eval ratio | loader img/s warm | peak memory | GPU busy (NVML) | file |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
print("\n".join(rows))
PY
echo
echo "failures: $failures"
exit $((failures > 0))
