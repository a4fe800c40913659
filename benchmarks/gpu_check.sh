#!/usr/bin/env bash
# GPU check of the engine (issue 12), for a machine with a CUDA GPU and a CUDA
# build of torch. Prints the same tables as benchmarks/search_speed.py: nwot
# score speed of the NB201 / DARTS supernets and candidates (fp32, bf16), the
# NB201 paper-setting search (N=10, V=100, batch 256, seed 0; fp32 and bf16) and
# one DARTS proposal at batch 64. Meant to finish in under 5 minutes on a
# recent GPU; each step has a timeout so that one slow step cannot eat the rest.
#   bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "import torch, sys; ok = torch.cuda.is_available(); print('torch', torch.__version__, 'cuda', ok, torch.cuda.get_device_name(0) if ok else ''); sys.exit(0 if ok else 1)" \
  || { echo "gpu_check: no CUDA device visible to torch" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null | tee "$OUT/gpu.txt"
step() {  # step NAME SECONDS CMD...
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s)"
  local t0=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  echo "== $name: rc=${PIPESTATUS[0]} wall=$(( $(date +%s) - t0 ))s"
}
step nets 90 "$PY" benchmarks/search_speed.py --device cuda --space nb201 darts --variant fp32 bf16 --repeats 3 --json "$OUT/nets.json"
step nb201-fp32 80 "$PY" benchmarks/search_speed.py search --device cuda --space nb201 -N 10 -V 100 --batch-size 256 --seed 0 --variant fp32 --json "$OUT/nb201-fp32.json"
step nb201-bf16 80 "$PY" benchmarks/search_speed.py search --device cuda --space nb201 -N 10 -V 100 --batch-size 256 --seed 0 --variant bf16 --json "$OUT/nb201-bf16.json"
step darts-proposal 40 "$PY" benchmarks/search_speed.py search --device cuda --space darts -N 1 -V 0 --batch-size 64 --seed 0 --order fixed --variant fp32 bf16 --json "$OUT/darts-proposal.json"
echo "gpu_check: tables above; logs and JSON in $OUT"
