#!/usr/bin/env bash
# One call on the lent GPU machine: install the carried wheels (.whl: fastai and its pins), unpack the carried corpus
# (.carry/corpus.tar.xz, built here by rr-corpus and checked there against its SHA-256), then run drive.py's PHASE
# with its arguments; everything small under WORK is packed into $OUT/results.tgz.
#   PHASE=abl bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit 520
#   PHASE=ctx bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit 520 --lr 2e-3 --batch-tokens 65536 --steps 800
set -u
OUT=${OUT:-out}; WORK=${WORK:-/tmp/lmc}; mkdir -p "$OUT" "$WORK"
source tools/gpu_wheels.sh || exit 1
export WANDB_MODE=disabled \
       PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True REFORMER_RIGL_DATA=/tmp/rrdata
mkdir -p /tmp/rrdata/pypi_corpus && tar xJf .carry/corpus.tar.xz -C /tmp/rrdata/pypi_corpus || exit 1
python3 -c "from reformer_rigl.data.corpus import load_corpus; print('corpus', load_corpus(verify=True)['manifest']['sha256'])" || exit 1
printf 'from reformer_rigl.experiments.runner import main\nmain()\n' > /tmp/rr.py
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$WORK/gpu.txt"
python3 nbs/experiments/gpu_runs/lm_converged/drive.py "$PHASE" --work "$WORK" --rr "python3 /tmp/rr.py" "$@" > "$OUT/drive.log" 2>&1
echo "drive rc $?"; grep -v "^ *$" "$OUT/drive.log" | tail -40
tar czf "$OUT/results.tgz" -C "$WORK" --exclude='*.bin' .
