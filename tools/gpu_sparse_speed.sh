#!/usr/bin/env bash
# One call on the lent GPU machine for issue 24, about 3 minutes on an H100: install the carried wheels (.whl, if any), then
# (a) tools/bench_sparse_gpu.py: the headline block-sparse linear case (d 2048, density 0.1, 16K tokens, 64 and 128
#     tiles; dense and block-sparse repeated interleaved, with the spread and the autotuner's settings) and the LM step
#     (64 tiles; also repeated interleaved with the dense step);
# (b) tools/bench_sparse_overhead.py: the sparse callbacks' cost on a WRN-22-2, bs 128, SGD and Adam interleaved,
#     with a second dense case (dense_repeat) for the dense-vs-dense spread.
# Everything lands in $OUT: sparse_gpu.jsonl, sparse_overhead.jsonl and the two logs; append both .jsonl files to
# nbs/sparse/gpu_runs/sparse_speed/records.jsonl.       OUT=out bash tools/gpu_sparse_speed.sh
# Knobs: LINEAR_S / OVERHEAD_S (time limits of the two parts, default 100 and 80 s; (a) writes its records as it goes,
# (b) starts no round it cannot finish), BLOCKS (default 64,128), STEP_BLOCKS (default 64), ROUNDS (default 5), STEPS
# (default 50). DRY=1: both scripts' CPU smoke modes (no GPU; checks this script, times nothing).
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
if ls .whl/*.whl > /dev/null 2>&1; then source tools/gpu_wheels.sh || exit 1; fi
export PYTHONPATH=/tmp/site:$PWD:$PWD/tools PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 WANDB_MODE=disabled MPLBACKEND=Agg
if [ "${DRY:-0}" = 1 ]; then gpu=(--dry-run --blocks 16,32 --step-blocks 16); ovh=(--quick --device cpu --rounds 2 --steps 24)
else nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1
     gpu=(--blocks "${BLOCKS:-64,128}" --step-blocks "${STEP_BLOCKS:-64}"); ovh=(--device cuda --bs 128 --rounds "${ROUNDS:-5}" --steps "${STEPS:-50}"); fi
start=$(date +%s)
timeout "${LINEAR_S:-100}" python3 tools/bench_sparse_gpu.py --kinds linear,step --linear headline --repeats 7 --reps 20 "${gpu[@]}" \
  --out "$OUT/sparse_gpu.jsonl" > "$OUT/bench_sparse_gpu.log" 2>&1
echo "(a) bench_sparse_gpu rc $? in $(( $(date +%s) - start )) s"
[ -f "$OUT/sparse_gpu.jsonl" ] && python3 - "$OUT/sparse_gpu.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not (r.get('repeats') or r['kind'] == 'step' or r.get('pass') in ('forward', 'grad_input', 'grad_weight')): continue
    cols = [r['kind'], r['case'], f"block {r.get('block')}", r.get('pass') or '', f"{r['ms']:.3f} ms" if 'ms' in r else r.get('error', '')]
    if 'speedup' in r: cols.append(f"speedup {r['speedup']:.2f}" + (f" ({r['speedup_min']:.2f}-{r['speedup_max']:.2f})" if 'speedup_min' in r else ''))
    if 'dense_spread' in r: cols.append(f"dense spread {r['dense_spread'][0]:.3f}-{r['dense_spread'][1]:.3f}")
    if r.get('tuned') or r.get('config'): cols.append(json.dumps(r.get('tuned') or r['config']))
    print(' | '.join(cols))
PY
mid=$(date +%s)
timeout "${OVERHEAD_S:-80}" python3 tools/bench_sparse_overhead.py --opt sgd,adam --budget-s $(( ${OVERHEAD_S:-80} - 30 )) "${ovh[@]}" \
  --out "$OUT/sparse_overhead.jsonl" > "$OUT/bench_sparse_overhead.log" 2>&1
echo "(b) bench_sparse_overhead rc $? in $(( $(date +%s) - mid )) s"
grep -E "^\||^sgd|^adam|stopping|Error" "$OUT/bench_sparse_overhead.log"
echo "done in $(( $(date +%s) - start )) s"
