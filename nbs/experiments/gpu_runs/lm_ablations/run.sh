#!/usr/bin/env bash
# The GPU runs behind nbs/experiments/gpu_runs/lm_ablations/records.jsonl (issue 13), for one H200.
# Everything runs side by side on the one GPU: three ablation seeds, the context-length series and three copy-task
# LSH-1 seeds, each a process writing its own results folder under $OUT; `python tools/lm_records.py $OUT` then
# turns the results tables into records. A second call with the same $OUT (copied back) and RESUME=--resume
# finishes whatever the time limit cut off.
#   bash nbs/experiments/gpu_runs/lm_ablations/run.sh            (on the GPU machine; OUT defaults to ./out)
# The sizes below are the defaults; each can be set from the environment (a CPU smoke test of the script:
#   DEVICE=cpu D_MODEL=32 D_FF=64 N_HEADS=2 N_LAYERS=1 BUCKET=16 SEQ=128 BS=2 ABL_STEPS=4 CTX="128:8 256:4" CTX_STEPS=4 \
#   COPY_SEQ=64 COPY_STEPS=20 LIMIT=300 OUT=/tmp/smoke bash nbs/experiments/gpu_runs/lm_ablations/run.sh)
set -u
OUT=${OUT:-out}; RESUME=${RESUME:-}; LIMIT=${LIMIT:-540}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
# The corpus: Python's standard library sources without its tests, in path order, as one byte stream.
CORPUS=$OUT/pysrc.txt
[ -f "$CORPUS" ] || python3 - "$CORPUS" <<'PY'
import pathlib, statistics, sys, sysconfig, json
root = pathlib.Path(sysconfig.get_paths()['stdlib'])
files = sorted(p for p in root.rglob('*.py') if not {'test', 'tests', 'site-packages', 'dist-packages', 'idle_test'} & set(p.relative_to(root).parts))
data = [p.read_bytes() for p in files]
pathlib.Path(sys.argv[1]).write_bytes(b''.join(data))
sizes = [len(d) for d in data]
json.dump(dict(root=str(root), files=len(files), bytes=sum(sizes), median_file=statistics.median(sizes),
               share_in_files_over_16k=sum(s for s in sizes if s > 16384) / sum(sizes),
               share_in_files_over_64k=sum(s for s in sizes if s > 65536) / sum(sizes)),
          open(pathlib.Path(sys.argv[1]).with_suffix('.json'), 'w'), indent=1)
PY
DEADLINE=$(( $(date +%s) + LIMIT ))
run() { local left=$(( DEADLINE - $(date +%s) )); [ $left -gt 20 ] || return 0; timeout $left ${RR:-rr-run} --no-progress --keep-going $RESUME --device ${DEVICE:-cuda} "$@"; }
MODEL="source=$CORPUS d_model=${D_MODEL:-512} d_ff=${D_FF:-2048} n_heads=${N_HEADS:-8} n_layers=${N_LAYERS:-6} bucket_size=${BUCKET:-64}"
MODEL="$MODEL opt=adam lr=1e-3 log_every=25 on_test=false"
# 1. Ablations: 6 x 512, windows of 4K bytes, 4 a batch, the same steps for all; LSH models also evaluated with 1-8 rounds.
ABL="lm_ablation $MODEL seq_len=${SEQ:-4096} bs=${BS:-4} steps=${ABL_STEPS:-600} every=200 max_batches=16 hashes=[1,2,4,8]"
for s in 0 1 2; do
  if [ $s = 1 ]; then order="lsh transformer"; else order="transformer lsh"; fi   # the full-attention runs do not all coincide
  ( for o in $order; do
      if [ $o = lsh ]; then run $ABL variant=lsh n_hashes=1,2,4,8 seed=$s --results $OUT/abl_s$s
      else run $ABL variant=transformer,shared_qk,reversible seed=$s --results $OUT/abl_s$s; fi
    done ) > $OUT/abl_s$s.log 2>&1 &
done
# 2. Context length: the same LSH-2 ReformerLM, 64K bytes a step at every length, the same validation bytes.
( for p in ${CTX:-1024:64 4096:16 16384:4 65536:1}; do
    run lm_ablation $MODEL variant=lsh n_hashes=2 seq_len=${p%%:*} bs=${p##*:} valid_bs=${p##*:} \
      max_batches=$((262144 / ${p%%:*} / ${p##*:})) steps=${CTX_STEPS:-400} every=100 hashes=[2] full_attention=false seed=0 --results $OUT/ctx
  done ) > $OUT/ctx.log 2>&1 &
# 3. The copy task's LSH-1 row: more seeds, more steps (capped by time so the call ends).
for s in 1 2 3; do
  run copy_task_paper model.use_lsh=true model.n_hashes=1 data.seq_len=${COPY_SEQ:-1024} train.steps=${COPY_STEPS:-40000} train.max_minutes=${COPY_MIN:-7.5} seed=$s \
    --results $OUT/copy_s$s > $OUT/copy_s$s.log 2>&1 &
done
# 4. The fused kernel's exactness cells on this GPU (after the row-reduction change), beside the rest.
[ "${DEVICE:-cuda}" = cpu ] || python tools/run_cells.py nbs/reformer/08_lsh_kernel.ipynb > $OUT/kernel_cells.log 2>&1 &
wait
nvidia-smi --query-gpu=name,memory.used --format=csv > $OUT/gpu.txt 2>&1
