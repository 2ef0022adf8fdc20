#!/usr/bin/env bash
# One lent-GPU call for the speed issues, each part under its own time limit, in order of need: (1) the generation
# benchmark (issue 27), (2) the fused LSH kernel chapter's GPU cells without its slow property test (issue 25: bf16
# fused against plain), (3) tools/gpu_sparse_speed.sh (issue 24), (4) tools/bench_attention.py with the exactness check
# and the profile (issue 23). Everything lands in $OUT (records as *.jsonl, logs as *.log); about 9 minutes at most.
#   GIT_REV=$(git rev-parse --short HEAD) OUT=out bash tools/gpu_session_bench.sh
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
t=$(date +%s); lap() { echo "$1 rc $2 in $(( $(date +%s) - t )) s"; t=$(date +%s); }
timeout "${GEN_S:-150}" python3 tools/bench_generation.py --out "$OUT/generation.jsonl" ${GIT_REV:+--git $GIT_REV} > "$OUT/generation.log" 2>&1; lap generation $?
timeout "${LSH_S:-80}" python3 tools/run_cells.py --no-slow nbs/reformer/08_lsh_kernel.ipynb > "$OUT/lsh08.log" 2>&1; lap lsh08 $?
LINEAR_S=${LINEAR_S:-90} OVERHEAD_S=${OVERHEAD_S:-70} OUT="$OUT" bash tools/gpu_sparse_speed.sh > "$OUT/sparse.log" 2>&1; lap sparse $?
timeout "${ATTN_S:-140}" python3 tools/bench_attention.py --check --attn-cases sdpa_bf16,hf_lsh4,lsh4_fused_bf16 \
  --model 65536,1048576 --model-cases gpt_sdpa_bf16,reformerlm_fused_bf16 --reps 5 --profile 8192,65536 \
  --out "$OUT/attention.jsonl" > "$OUT/attention.log" 2>&1; lap attention $?
tail -3 "$OUT/lsh08.log"; grep -E "speedup|ratio|rc " "$OUT/sparse.log" | head -20
