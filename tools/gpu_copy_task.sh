#!/usr/bin/env bash
# The paper-sized copy task (Reformer paper, Table 2) on GPUs: one training setting per GPU when there
# are four (all on cuda:0 otherwise), the same number of steps for every setting, chosen from a timed
# calibration run so the whole table fits a time budget. Writes JSON records, logs and the merged table.
#   tools/gpu_copy_task.sh OUT_DIR [TRAIN_MINUTES]
# STEPS=n skips the calibration; SETTINGS="lsh4:0 lsh2:0 ..." (setting:seed, one per GPU) replaces full/LSH-1/2/4 at seed 0.
set -euo pipefail
out=${1:?usage: tools/gpu_copy_task.sh OUT_DIR [TRAIN_MINUTES]}; minutes=${2:-6}
mkdir -p "$out/logs"
run() { python3 -m reformer_rigl.reformer.copy_experiment --preset paper "$@"; }
n_gpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1 | tee "$out/logs/gpu.txt"
if [ -z "${STEPS:-}" ]; then
  # calibration: 200 steps of the slowest setting (LSH-4), evaluated with full attention only
  run --device cuda:0 --train lsh4 --eval full --n-steps 200 --log-every 100 --out "$out/logs/calib.json" > "$out/logs/calib.log" 2>&1
  sec=$(python3 -c "import json; r=json.load(open('$out/logs/calib.json'))['records'][0]; print(r['seconds']/r['steps'])")
  share=$([ "$n_gpu" -ge 4 ] && echo 1 || echo 4)   # four settings sharing one GPU run about 4x slower each
  STEPS=$(python3 -c "print(int($minutes*60/($sec*$share)/100)*100)")
  echo "calibration: ${sec}s/step (LSH-4, alone)" | tee -a "$out/logs/gpu.txt"
fi
echo "$n_gpu GPU(s); $STEPS steps per setting" | tee -a "$out/logs/gpu.txt"
read -r -a settings <<< "${SETTINGS:-full:0 lsh1:0 lsh2:0 lsh4:0}"
outs=()
for i in "${!settings[@]}"; do
  name=${settings[$i]%%:*}; seed=${settings[$i]##*:}; dev=cuda:$(( n_gpu >= ${#settings[@]} ? i : 0 ))
  run --device "$dev" --train "$name" --seed "$seed" --n-steps "$STEPS" --log-every 1000 --max-minutes $(( minutes + 2 )) \
      --out "$out/$name-s$seed.json" > "$out/logs/$name-s$seed.log" 2>&1 &
  outs+=("$out/$name-s$seed.json")
done
wait
run --merge "${outs[@]}" | tee "$out/table.txt"
tar -czf "$out/logs.tgz" -C "$out" logs && rm -r "$out/logs"
