#!/usr/bin/env bash
# The GPU runs behind nbs/experiments/gpu_runs/lm_ablations/records.jsonl (issue 13), for one GPU of 80 GB or more.
# Runs side by side on the one GPU, each a process writing its own results folder under $WORK: three ablation
# seeds, three copy-task LSH-1 seeds, and the context-length series; PARTS picks which ("abl copy ctx kernel").
# The 64K-token context runs (about 41 GB) are best run in a call of their own. At the end everything small under
# $WORK (results tables and logs, not the corpus) is packed into $OUT/results.tgz, since a call brings back at most
# a few files; `python tools/lm_records.py DIR` turns the unpacked folders into records. A later call continues:
# unpack the archive into a folder, carry it, and pass it as IN= with RESUME=--resume.
#   bash nbs/experiments/gpu_runs/lm_ablations/run.sh            (on the GPU machine; OUT defaults to ./out)
# The sizes below are the defaults; each can be set from the environment (a CPU smoke test of the script:
#   DEVICE=cpu D_MODEL=32 D_FF=64 N_HEADS=2 N_LAYERS=1 BUCKET=16 SEQ=128 BS=2 ABL_STEPS=4 CTX="128:8 256:4" CTX_STEPS=4 \
#   COPY_SEQ=64 COPY_STEPS=20 LIMIT=300 OUT=/tmp/smoke bash nbs/experiments/gpu_runs/lm_ablations/run.sh)
set -u
OUT=${OUT:-out}; WORK=${WORK:-/tmp/lm_work}; RESUME=${RESUME:-}; LIMIT=${LIMIT:-540}; PARTS=${PARTS:-abl copy ctx kernel}
mkdir -p "$OUT" "$WORK"
[ -n "${IN:-}" ] && cp -r "$IN"/. "$WORK"/
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
has() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
# The corpus: Python's standard library sources without its tests, in path order, as one byte stream.
CORPUS=$WORK/pysrc.txt
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
# FULL and LSH list the runs as chains separated by ';', each chain a process running its items one after another:
# FULL items are variant:seed (variants comma-separated), LSH items rounds:seed. By default a chain per seed. Full
# attention takes the fused path on the GPU, a few GB a run; set either to '' to skip it.
chains() { # chains PREFIX SPEC KEY ARGS...: one background process per chain of SPEC, items' first part set as KEY
  local prefix=$1 spec=$2 key=$3 i=0 chain; shift 3
  IFS=';' read -ra all <<< "$spec"
  for chain in "${all[@]}"; do
    [ -n "${chain// }" ] || continue; i=$((i + 1))
    ( j=0; for it in $chain; do j=$((j + 1)); run $ABL "$@" $key=${it%%:*} seed=${it##*:} --results $WORK/${prefix}_c${i}_$j; done ) > $WORK/${prefix}_c$i.log 2>&1 &
  done
}
ALL=transformer,shared_qk,reversible
has abl && chains abl_full "${FULL-$ALL:0;$ALL:1;$ALL:2}" variant
has abl && chains abl_lsh "${LSH-1,2,4,8:0;1,2,4,8:1;1,2,4,8:2}" n_hashes variant=lsh
# 2. Context length: the same LSH-2 ReformerLM, 64K bytes a step at every length, the same validation bytes. CTX
#    lists seq_len:bs items, in chains separated by ';' as above.
IFS=';' read -ra ctx_chains <<< "${CTX:-65536:1 1024:64;16384:4 4096:16}"
i=0; has ctx && for chain in "${ctx_chains[@]}"; do i=$((i + 1)); ( for p in $chain; do
    run lm_ablation $MODEL variant=lsh n_hashes=2 seq_len=${p%%:*} bs=${p##*:} valid_bs=${p##*:} \
      max_batches=$((262144 / ${p%%:*} / ${p##*:})) steps=${CTX_STEPS:-400} every=100 hashes=[2] full_attention=false seed=0 --results $WORK/ctx_c$i
  done ) > $WORK/ctx_c$i.log 2>&1 & done
# 3. The copy task's LSH-1 row: more seeds, more steps (capped by time so the call ends).
has copy && for s in ${COPY_SEEDS:-1 2 3}; do
  run copy_task_paper model.use_lsh=true model.n_hashes=1 data.seq_len=${COPY_SEQ:-1024} train.steps=${COPY_STEPS:-40000} train.max_minutes=${COPY_MIN:-7.5} seed=$s \
    --results $WORK/copy_s$s > $WORK/copy_s$s.log 2>&1 &
done
# 4. The exactness cells of the fused paths on this GPU (the attention chapter's fused shared-QK attention, the LSH
#    kernel's chapter), beside the rest.
has kernel && [ "${DEVICE:-cuda}" != cpu ] && for nb in 01_attention 08_lsh_kernel; do
  python3 tools/run_cells.py nbs/reformer/$nb.ipynb > $WORK/cells_$nb.log 2>&1; done &
wait
nvidia-smi --query-gpu=name,memory.total --format=csv > $WORK/gpu.txt 2>&1
tar czf "$OUT/results.tgz" -C "$WORK" --exclude=pysrc.txt .
grep -h -E "valid_bpc|FAILED|added|PASS|FAIL" "$WORK"/*.log | grep -v shadowing
