#!/usr/bin/env bash
# What the lead runs on a lent GPU machine (no internet, no fastai): the memory/time sweeps of the
# efficiency claims, then every notebook's `#| gpu` cells. Wheels in .whl (../shared/device/wheels.sh plus
# nbdev/execnb/ipython/wandb/sacrebleu) are installed into /tmp/site; the package runs from the tree.
#   tools/gpu_checks.sh OUT_DIR [NOTEBOOK ...]   (notebooks given: only their gpu cells, and the sweeps only with SWEEPS=1)
# Each notebook's printed output is kept in OUT_DIR/<notebook>.log.
set -uo pipefail
out=${1:?usage: tools/gpu_checks.sh OUT_DIR [NOTEBOOK ...]}; shift
source tools/gpu_wheels.sh || exit 1
export WANDB_MODE=offline
# console scripts without an install: call_parse reads sys.argv only when its caller is a script's __main__
for m in runner report; do printf 'from reformer_rigl.experiments.%s import main\nmain()\n' $m > /tmp/rr_$m.py; done
printf 'from nbdev.test import nbdev_test\nnbdev_test()\n' > /tmp/nbdev_test.py
rr() { python3 /tmp/rr_$1.py "${@:2}"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
if [ $# -eq 0 ] || [ "${SWEEPS:-0}" = 1 ]; then
# 1. efficiency claims, timed alone on the GPU
rr runner profile_memory seq_len=1024,2048,4096,8192,16384 use_lsh=false,true --device cuda --results results/gpu --no-progress
rr runner profile_memory n_layers=1,2,4,8,12 reversible=false,true --device cuda --results results/gpu --no-progress
rr report profile_memory --results results/gpu
cp results/gpu/profile_memory.jsonl results/gpu/profile_memory.md "$out"/ 2>/dev/null
cp results/gpu/profile_memory/*.png "$out"/ 2>/dev/null
fi
# 2. the notebooks' gpu cells (each notebook runs whole, its gpu cells included)
nbs="nbs/reformer/01_attention.ipynb nbs/reformer/02_reversible.ipynb nbs/reformer/05_models.ipynb
     nbs/sparse/04_training.ipynb nbs/sparse/05_pruning.ipynb nbs/experiments/02_runner.ipynb
     nbs/reformer/09_decoding.ipynb nbs/experiments/11_sparse_images.ipynb nbs/experiments/12_lm.ipynb nbs/experiments/13_translation.ipynb nbs/experiments/14_profiling.ipynb nbs/data/01_byte_lm.ipynb nbs/data/02_translation.ipynb nbs/data/03_images.ipynb"
[ $# -gt 0 ] && nbs="$*"
for nb in $nbs; do
  start=$(date +%s)
  log="$out/$(basename "$nb" .ipynb).log"
  if python3 /tmp/nbdev_test.py "$nb" --flags gpu --verbose > "$log" 2>&1; then r=PASS; else r=FAIL; fi
  echo "$r $nb ($(( $(date +%s) - start ))s)" | tee -a "$out/gpu_cells.txt"
  [ $r = FAIL ] && { echo "== $nb"; grep -E "While Executing|Error|error" "$log" | head -8; tail -30 "$log"; } >> "$out/gpu_failures.txt"
done
