#!/usr/bin/env bash
# Set up .venv (if needed) and run the main job on the bundled data: the
# paper's Zero-Cost-PT search on NAS-Bench-201 with CIFAR-10 (nwot, N=10,
# V=100, batch 256, seed 0). Extra arguments are passed to `zcpt search`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/zcpt search --space nb201 --proxy nwot --order random -N 10 -V 100 \
    --batch-size 256 --seed 0 --device cpu --out runs/quickstart --resume "$@"
