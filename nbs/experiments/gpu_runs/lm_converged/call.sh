#!/usr/bin/env bash
# One call on the lent GPU machine: install the carried wheels (.whl: fastai and its pins), unpack the carried corpus
# (.carry/corpus.tar.xz, built here by rr-corpus and checked there against its SHA-256), then run drive.py's PHASE
# with its arguments; everything small under WORK is packed into $OUT/results.tgz.
#   PHASE=abl bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit 520
#   PHASE=ctx bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit 520 --lr 2e-3 --batch-tokens 65536 --steps 800
# With JOBS, several drive.py invocations run side by side instead, each in WORK/j<k> with the common arguments first
# and its own after them ('|' between jobs), e.g. two compiled runs beside two eager ones:
#   PHASE=long JOBS="--steps 16000 --seeds 1 --variants transformer shared_qk --parallel 2 --compile|--steps 4000 --seeds 0 --variants lsh4 lsh8 --parallel 2" \
#     bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit 540 --lr 4e-3 --batch-tokens 65536 --no-ctx
# A run longer than one call: make the same call twice (the second on the warm machine, whose /tmp keeps WORK). The
# first call's limit stops each unfinished run with SIGTERM, which saves a checkpoint (also saved every 60 s:
# drive.py --checkpoint-s) under WORK; the second, with the same arguments, skips the finished runs and continues the
# others from their checkpoints. Each call packs what has finished so far; checkpoints stay in WORK, not in the archive:
#   PHASE=long bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit 540 --lr 4e-3 --batch-tokens 65536 --steps 8000 --seeds 0 --variants lsh8 --no-ctx --parallel 1   # twice
set -u
OUT=${OUT:-out}; WORK=${WORK:-/tmp/lmc}; mkdir -p "$OUT" "$WORK"
source tools/gpu_wheels.sh || exit 1
export WANDB_MODE=disabled \
       PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True REFORMER_RIGL_DATA=/tmp/rrdata
mkdir -p /tmp/rrdata/pypi_corpus && tar xJf .carry/corpus.tar.xz -C /tmp/rrdata/pypi_corpus || exit 1
python3 -c "from reformer_rigl.data.corpus import load_corpus; print('corpus', load_corpus(verify=True)['manifest']['sha256'])" || exit 1
printf 'from reformer_rigl.experiments.runner import main\nmain()\n' > /tmp/rr.py
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$WORK/gpu.txt"
D=nbs/experiments/gpu_runs/lm_converged/drive.py
if [ -z "${JOBS:-}" ]; then
  python3 $D "$PHASE" --work "$WORK" --rr "python3 /tmp/rr.py" "$@" > "$OUT/drive.log" 2>&1
  echo "drive rc $?"; grep -v "^ *$" "$OUT/drive.log" | tail -40
else
  IFS='|' read -ra JA <<< "$JOBS"; k=0
  for j in "${JA[@]}"; do
    k=$((k+1)); read -ra JARGS <<< "$j"
    python3 $D "$PHASE" --work "$WORK/j$k" --rr "python3 /tmp/rr.py" "$@" "${JARGS[@]}" > "$OUT/drive_$k.log" 2>&1 &
  done
  wait
  for f in "$OUT"/drive_*.log; do echo "== $f"; grep -v "^ *$" "$f" | tail -8; done
fi
tar czf "$OUT/results.tgz" -C "$WORK" --exclude='*.bin' --exclude='checkpoint.pt' --exclude='.checkpoint.pt.*' .
ls "$WORK"/*/lm_converged/runs/*/checkpoint.pt "$WORK"/j*/*/lm_converged/runs/*/checkpoint.pt 2>/dev/null | sed 's/^/unfinished, checkpointed: /'
