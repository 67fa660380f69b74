#!/usr/bin/env bash
# The GPU check (issue 22): one table of gansweep's speed goals on this machine's GPU (cuda when torch sees one,
# else cpu, where nothing is judged), in under 8 minutes on one H100. benchmarks/gpu_check.py says what each row is.
#   bash benchmarks/gpu_check.sh            # full sizes
#   bash benchmarks/gpu_check.sh --tiny     # tiny sizes: that it runs (tests/test_benchmarks.py, on CPU)
# Run it from the Python environment gansweep is installed in (PYTHON=... picks another interpreter); it needs no
# network. The Inception weights are read from torch's cache when there (metrics.inception_weights' default).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled PYTHONWARNINGS=ignore
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
