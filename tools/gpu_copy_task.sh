#!/usr/bin/env bash
# The paper-sized copy task (Reformer paper, Table 2) on GPUs through the experiment runner (rr-run copy_task_paper):
# one training setting per GPU when there are enough (all on cuda:0 otherwise), the same number of steps for every
# setting, chosen from a timed calibration run so the whole table fits a time budget. Each setting writes its own
# results table under OUT_DIR/parts/; they are merged into OUT_DIR/copy_task_paper.jsonl, which rr-report reads.
#   tools/gpu_copy_task.sh OUT_DIR [TRAIN_MINUTES]
# STEPS=n skips the calibration; SETTINGS="lsh4:0 lsh2:1 ..." (setting:seed, one per GPU) replaces full/LSH-1/2/4 at seed 0.
set -euo pipefail
out=${1:?usage: tools/gpu_copy_task.sh OUT_DIR [TRAIN_MINUTES]}; minutes=${2:-6}
mkdir -p "$out/logs" "$out/parts"
run() { python3 -m reformer_rigl.experiments.runner copy_task_paper --no-progress "$@"; }
n_gpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1 | tee "$out/logs/gpu.txt"
if [ -z "${STEPS:-}" ]; then
  # calibration: 200 steps of the slowest setting (LSH-4), evaluated with 4 rounds only
  run model.n_hashes=4 train.steps=200 eval.full=false eval.n_hashes=[4] --device cuda:0 --results "$out/logs/calib" > "$out/logs/calib.log" 2>&1
  sec=$(python3 -c "import json; r=json.loads(open('$out/logs/calib/copy_task_paper.jsonl').readline())['info']['record']; print(r['seconds']/r['steps'])")
  share=$([ "$n_gpu" -ge 4 ] && echo 1 || echo 4)   # four settings sharing one GPU run about 4x slower each
  STEPS=$(python3 -c "print(int($minutes*60/($sec*$share)/100)*100)")
  echo "calibration: ${sec}s/step (LSH-4, alone)" | tee -a "$out/logs/gpu.txt"
fi
echo "$n_gpu GPU(s); $STEPS steps per setting" | tee -a "$out/logs/gpu.txt"
read -r -a settings <<< "${SETTINGS:-full:0 lsh1:0 lsh2:0 lsh4:0}"
for i in "${!settings[@]}"; do
  name=${settings[$i]%%:*}; seed=${settings[$i]##*:}; dev=cuda:$(( n_gpu >= ${#settings[@]} ? i : 0 ))
  if [ "$name" = full ]; then model=(model.use_lsh=false); else model=(model.use_lsh=true "model.n_hashes=${name#lsh}"); fi
  run "${model[@]}" "train.steps=$STEPS" "train.max_minutes=$(( minutes + 2 ))" "seed=$seed" --device "$dev" \
      --results "$out/parts/$name-s$seed" > "$out/logs/$name-s$seed.log" 2>&1 &
done
wait
cat "$out"/parts/*/copy_task_paper.jsonl > "$out/copy_task_paper.jsonl"
python3 -m reformer_rigl.experiments.report copy_task_paper --results "$out" --no-plots | tee "$out/table.txt"
python3 -c "
from reformer_rigl.experiments.report import results_frame
from reformer_rigl.experiments.config import ResultsTable
from reformer_rigl.experiments.copy_task import copy_task_matrix, matrix_markdown
print(matrix_markdown(copy_task_matrix(results_frame(ResultsTable('$out/copy_task_paper.jsonl').rows()))))" | tee -a "$out/table.txt"
tar -czf "$out/logs.tgz" -C "$out" logs && rm -r "$out/logs"
