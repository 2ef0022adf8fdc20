#!/usr/bin/env bash
# One lent-GPU call for the speed issues, each part under its own time limit, in the order given by PARTS (default:
# generation lsh08 sparse attention):
#   generation  tools/bench_generation.py, GEN_ARGS (default: its own) (issue 27)      GEN_S (150 s)
#   lsh08       the fused LSH kernel chapter's cells, GPU cells included, slow ones not, on past a failing cell (issue 25)   LSH_S (80 s)
#   cells11     the generation chapter's cells, its GPU cell included (CUDA-graph decoding checked)  CELLS_S (80 s)
#   sparse      tools/gpu_sparse_speed.sh (issue 24)                                    LINEAR_S + OVERHEAD_S (90 + 70 s)
#   attention   tools/bench_attention.py, ATTN_ARGS (default: the exactness check, flash / HF / fused LSH-4 at
#               4K-1M, the models at 64K and 1M, the profile at 8K and 64K) (issue 23)  ATTN_S (140 s)
#   lshhost     tools/bench_lsh_host.py on this machine's CPU: the fused layer's host work without its launches, and
#               each launcher's cost (to set against the GPU profile's host_ms; the numbers in chapter 08 are another CPU's)
#                                                                                       LSHHOST_S (90 s)
#   lm          language-model runs after the benchmarks (issue 28): nbs/experiments/gpu_runs/lm_converged/call.sh with
#               LM_PHASE (long), LM_JOBS (its JOBS) and LM_ARGS (default: --lr 4e-3 --batch-tokens 65536 --steps 2000),
#               limited to LM_S (300 s; a job's own --set replaces a --set in LM_ARGS); needs the carried corpus (.carry);
#               its archive lands in work/lm/results.tgz
# Everything is written under $OUT/work (records *.jsonl, logs *.log) and packed into $OUT/results.tgz; then $OUT/work
# is removed (a call brings back at most 8 files; KEEP_LOOSE=1 keeps it).   GIT_REV=$(git rev-parse --short HEAD) OUT=out PARTS="attention lsh08" bash tools/gpu_session_bench.sh
set -u
OUT=${OUT:-out}; W="$OUT/work"; mkdir -p "$W"
source tools/gpu_wheels.sh || exit 1
export WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$W/gpu.txt"
ATTN_ARGS=${ATTN_ARGS:---check --attn-cases sdpa_bf16,hf_lsh4,lsh4_fused_bf16 --model 65536,1048576 --model-cases gpt_sdpa_bf16,reformerlm_fused_bf16 --reps 5 --profile 8192,65536}
t=$(date +%s); lap() { echo "$1 rc $2 in $(( $(date +%s) - t )) s" | tee -a "$W/parts.txt"; t=$(date +%s); }
for part in ${PARTS:-generation lsh08 sparse attention}; do
  case $part in
    generation) timeout "${GEN_S:-150}" python3 tools/bench_generation.py ${GEN_ARGS:-} --out "$W/generation.jsonl" ${GIT_REV:+--git $GIT_REV} > "$W/generation.log" 2>&1; lap generation $? ;;
    lsh08) timeout "${LSH_S:-80}" python3 tools/run_cells.py --no-slow --keep-going nbs/reformer/08_lsh_kernel.ipynb > "$W/lsh08.log" 2>&1; lap lsh08 $?; tail -2 "$W/lsh08.log" ;;
    cells11) timeout "${CELLS_S:-80}" python3 tools/run_cells.py nbs/reformer/11_generation.ipynb > "$W/cells11.log" 2>&1; lap cells11 $?; tail -2 "$W/cells11.log" ;;
    sparse) LINEAR_S=${LINEAR_S:-90} OVERHEAD_S=${OVERHEAD_S:-70} OUT="$W" bash tools/gpu_sparse_speed.sh > "$W/sparse.log" 2>&1; lap sparse $? ;;
    attention) timeout "${ATTN_S:-140}" python3 tools/bench_attention.py $ATTN_ARGS --out "$W/attention.jsonl" > "$W/attention.log" 2>&1; lap attention $? ;;
    lshhost) timeout "${LSHHOST_S:-90}" python3 tools/bench_lsh_host.py --runs 3 --out "$W/lsh_host.jsonl" > "$W/lsh_host.log" 2>&1; lap lshhost $? ;;
    lm) OUT="$W/lm" PHASE=${LM_PHASE:-long} JOBS="${LM_JOBS:-}" timeout $(( ${LM_S:-300} + 40 )) bash nbs/experiments/gpu_runs/lm_converged/call.sh --limit "${LM_S:-300}" ${LM_ARGS:---lr 4e-3 --batch-tokens 65536 --steps 2000} > "$W/lm.log" 2>&1; lap lm $?; tail -4 "$W/lm.log" ;;
    *) echo "unknown part $part" ;;
  esac
done
tar czf "$OUT/results.tgz" -C "$W" . && echo "packed $(ls "$W" | wc -l) files into results.tgz" || exit 1
# a call brings back at most 8 files from $OUT: the loose copies go (KEEP_LOOSE=1 keeps them), results.tgz has them all
[ "${KEEP_LOOSE:-0}" = 1 ] || rm -rf "$W"
