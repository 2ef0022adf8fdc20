#!/usr/bin/env bash
# One call on the lent GPU machine for issues 13 and 15: install the carried wheels (.whl), then optionally the
# sparse-speed benchmark and the block-sparse chapter's cells, timed before anything else shares the GPU
# (SPARSE=1), then the language-model runs of nbs/experiments/gpu_runs/lm_ablations/run.sh (its PARTS, LIMIT, IN,
# RESUME settings pass through). Everything returned lands in $OUT: sparse_gpu.jsonl, the logs, results.tgz.
#   SPARSE=1 PARTS="abl copy kernel" LIMIT=400 bash tools/gpu_round.sh
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
source tools/gpu_wheels.sh || exit 1
export WANDB_MODE=disabled
printf 'from reformer_rigl.experiments.runner import main\nmain()\n' > /tmp/rr_runner.py
start=$(date +%s)
if [ "${SPARSE:-0}" = 1 ]; then
  python3 tools/bench_sparse_gpu.py --kinds linear,step --reps 20 --out "$OUT/sparse_gpu.jsonl" > "$OUT/bench_sparse.log" 2>&1
  echo "sparse bench rc $? in $(( $(date +%s) - start )) s"; grep -E "done in|Error" "$OUT/bench_sparse.log" | tail -3
  python3 tools/run_cells.py nbs/sparse/09_block_linear.ipynb > "$OUT/cells09.log" 2>&1; echo "cells 09 rc $?"; tail -3 "$OUT/cells09.log"
fi
left=$(( ${BUDGET:-560} - ($(date +%s) - start) ))
[ -n "${PARTS:-}" ] && [ $left -gt 60 ] && LIMIT=$(( left - 25 )) RR="python3 /tmp/rr_runner.py" OUT="$OUT" \
  COPY_MIN=$(python3 -c "print(round(($left - 60) / 60, 2))") bash nbs/experiments/gpu_runs/lm_ablations/run.sh
echo "round done in $(( $(date +%s) - start )) s"
