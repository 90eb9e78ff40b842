#!/usr/bin/env bash
# The prepared GPU benchmark (src/attnzoo/benchmarks/gpu.py), at most 8 minutes on one H100/H200:
# groups stop at --budget (420 s), and `timeout` kills the run at 470 s whatever happens.
# Usage: scripts/gpu-bench.sh [--tiny]   (--tiny: CPU rehearsal with tiny networks)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [[ "${1:-}" == "--tiny" ]]; then
  exec timeout 470 env PYTHONPATH="$PWD/src" "$PY" -m attnzoo.benchmarks.gpu --tiny --device cpu \
    --warmup 1 --repeats 2 --modes eager,default --out "${OUT:-/tmp/gpu-bench-tiny}"
fi
tag=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0).split()[-1].lower())")
exec timeout 470 env PYTHONPATH="$PWD/src" "$PY" -m attnzoo.benchmarks.gpu --device cuda \
  --out "docs/bench/gpu-$tag"
