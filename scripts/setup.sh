#!/usr/bin/env bash
# Create or reuse the virtual environment at .venv and install zcpt into it.
# torch is pinned to the CPU build that these machines provide locally; on a
# CUDA machine install your torch first and this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install -q "torch==${ZCPT_TORCH_VERSION:-2.13.0}"
fi
# the optional extras too, so that the test suite exercises every code path
# (docs: the test suite builds the documentation site with mkdocs)
.venv/bin/pip install -q -e ".[test,fast,ray,export,plot,docs]"
# The report page is tested in a real headless browser: Debian's Chromium.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
    else
        echo "setup.sh: chromium not found; install it (e.g. apt-get install chromium) for the report tests" >&2
    fi
fi
