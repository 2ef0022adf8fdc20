#!/usr/bin/env bash
# Issue 27 on one lent GPU (about 3 minutes on an H100): the generation benchmark, then the generation chapter's
# cells (its `#| gpu` cell included). reformer_rigl imports fastai (through reformer_rigl/core.py), which the GPU
# machine lacks: carry .whl (../shared/device/wheels.sh) and it is installed first. Everything lands in $OUT:
# records.jsonl (append it to nbs/reformer/gpu_runs/generation/records.jsonl here), bench.log, cells11.log.
#   GIT_REV=$(git rev-parse --short HEAD) bash nbs/reformer/gpu_runs/generation/run.sh
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
source tools/gpu_wheels.sh || exit 1
export WANDB_MODE=disabled
start=$(date +%s)
python3 tools/bench_generation.py --out "$OUT/records.jsonl" ${GIT_REV:+--git $GIT_REV} 2>&1 | tee "$OUT/bench.log" | grep -E '"case"|done|Error'
echo "bench rc ${PIPESTATUS[0]} in $(( $(date +%s) - start )) s"
python3 tools/run_cells.py nbs/reformer/11_generation.ipynb > "$OUT/cells11.log" 2>&1; echo "cells 11 rc $?"; tail -4 "$OUT/cells11.log"
