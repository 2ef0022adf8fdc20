#!/usr/bin/env bash
# One call on the lent GPU machine for issue 24: install the carried wheels (.whl, if any), then
# (0) tools/bench_sparse_gpu.py --host-cpu: the block-sparse layer's host work per call on this machine's CPU (kernel
#     launches replaced by no-ops), and Triton's launcher against block_kernels._launch per launch (~15 s, no GPU);
# (a) tools/bench_sparse_gpu.py: the headline block-sparse linear case (d 2048, density 0.1, 16K tokens, 64 and 128
#     tiles; dense and block-sparse repeated interleaved, with the spread, the autotuner's settings and host_ms; once
#     with Triton's own launches; and both layers' forward + backward captured as CUDA graphs, `*_graphed`) and the LM
#     step (64 tiles; also repeated interleaved with the dense step, eager and captured whole as CUDA graphs);
# (b) tools/bench_sparse_overhead.py: the sparse callbacks' cost on a WRN-22-2, bs 128, SGD and Adam interleaved,
#     with a second dense case (dense_repeat) for the dense-vs-dense spread (OVERHEAD_S=0 skips it).
# Everything lands in $OUT: sparse_host.jsonl, sparse_gpu.jsonl, sparse_overhead.jsonl and the logs, packed at the end
# into $OUT/sparse_speed.tgz (PACK=0: left loose); append the .jsonl files to nbs/sparse/gpu_runs/sparse_speed/records.jsonl.
#     OUT=out bash tools/gpu_sparse_speed.sh
#     OUT=out KINDS=step COMPILE=1 HOST=0 OVERHEAD_S=0 LINEAR_S=110 bash tools/gpu_sparse_speed.sh   # the compiled LM step alone (~2 min)
#     OUT=out KINDS=step COMPILE=1 BLOCK_ADAM=1 HOST=0 OVERHEAD_S=0 LINEAR_S=150 bash tools/gpu_sparse_speed.sh   # ... and its block-sparse step with BlockAdamW too
# Knobs: LINEAR_S / OVERHEAD_S (time limits of parts (a) and (b), default 100 and 80 s; (a) writes its records as it
# goes, (b) starts no round it cannot finish; 0 skips the part, LINEAR_S=0 also (0): only (b) then runs), BLOCKS (default 64,128), STEP_BLOCKS (default 64), ROUNDS (default 5),
# STEPS (default 50), OPTS (of (b), default sgd,adam), CASES (of (b), default all: dense,dense_repeat,static,set,snfs,rigl; dense first), KINDS (of (a), default linear,step), COMPILE=1 (part (a) with --compile: the LM step, dense and block-sparse,
# both torch.compile'd, cases *_compiled; no CUDA-graph cases then), BLOCK_ADAM=1 (part (a) with --block-adam: the block-sparse LM step
# also with BlockAdamW, which steps its feed-forward weights on their kept tiles only; cases block_sparse_bf16_blockadam*, with opt_err), HOST=0 (skips (0)), LOCKSTEP=1 (part (b) with --lockstep: every case's fit at
# once, a step at a time in turn, so each step is paired with dense's step of the same cycle: ratio_step with a 95% interval),
# PROCS (part (b) in that many processes one after another, OVERHEAD_S shared among them, records labelled proc<i>, and
# each case's paired ratio averaged over them: dense against its copy differs by up to 2.7% from one process to another). DRY=1: the scripts' CPU smoke modes (no GPU; checks this script, times nothing).
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
if ls .whl/*.whl > /dev/null 2>&1; then source tools/gpu_wheels.sh || exit 1; fi
export PYTHONPATH=/tmp/site:$PWD:$PWD/tools PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 WANDB_MODE=disabled MPLBACKEND=Agg
if [ "${DRY:-0}" = 1 ]; then gpu=(--dry-run --blocks 16,32 --step-blocks 16); ovh=(--quick --device cpu --rounds 2 --steps 24)
else nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1
     gpu=(--blocks "${BLOCKS:-64,128}" --step-blocks "${STEP_BLOCKS:-64}"); ovh=(--device cuda --bs 128 --rounds "${ROUNDS:-5}" --steps "${STEPS:-50}"); fi
[ "${COMPILE:-0}" = 1 ] && gpu+=(--compile)
[ "${BLOCK_ADAM:-0}" = 1 ] && gpu+=(--block-adam)
start=$(date +%s)
if [ "${LINEAR_S:-100}" -gt 0 ]; then
if [ "${HOST:-1}" = 1 ]; then
timeout 60 python3 tools/bench_sparse_gpu.py --host-cpu --out "$OUT/sparse_host.jsonl" > "$OUT/bench_sparse_host.log" 2>&1
echo "(0) host path rc $? in $(( $(date +%s) - start )) s"
fi
[ -f "$OUT/sparse_host.jsonl" ] && python3 - "$OUT/sparse_host.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(' | '.join(str(c) for c in (r['kind'], r['case'], r['pass'], f"{r['host_us']:.1f} us" if r.get('host_us') else r.get('host_us'),
                                      r.get('aten_ops', ''), r.get('launches', ''), f"same_args {r['same_args']}" if 'same_args' in r else '', r['triton'])))
PY
mid=$(date +%s)
timeout "${LINEAR_S:-100}" python3 tools/bench_sparse_gpu.py --kinds "${KINDS:-linear,step}" --linear headline --repeats 7 --reps 20 "${gpu[@]}" \
  --out "$OUT/sparse_gpu.jsonl" > "$OUT/bench_sparse_gpu.log" 2>&1
echo "(a) bench_sparse_gpu rc $? in $(( $(date +%s) - mid )) s"
[ -f "$OUT/sparse_gpu.jsonl" ] && python3 - "$OUT/sparse_gpu.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not (r.get('repeats') or r['kind'] == 'step' or r.get('pass') in ('forward', 'grad_input', 'grad_weight') or r['case'].endswith('_triton_launch')
            or 'status' in r): continue
    cols = [r['kind'], r['case'], f"block {r.get('block')}", r.get('pass') or '', f"{r['ms']:.3f} ms" if r.get('ms') is not None else f"FAILED {r.get('error', '')[:120]!r}"]
    if r.get('host_ms') is not None: cols.append(f"host {r['host_ms']:.3f} ms")
    if r.get('compile'): cols.append(f"compiled ({r['compile']}, {r['compile_scope']}" + (f", first step {r['first_step_s']:.1f} s, {r['graphs']} graphs)" if 'first_step_s' in r else ')'))
    if 'speedup' in r: cols.append(f"speedup {r['speedup']:.2f}" + (f" ({r['speedup_min']:.2f}-{r['speedup_max']:.2f})" if 'speedup_min' in r else ''))
    if 'dense_spread' in r: cols.append(f"dense spread {r['dense_spread'][0]:.3f}-{r['dense_spread'][1]:.3f}")
    if 'graph_err' in r: cols.append(f"graph_err {r['graph_err']:.1e}")
    if r.get('opt_err') is not None: cols.append(f"{r['opt']} opt_err {r['opt_err']:.1e}")
    if 'next_to' in r: cols.append(f"next to {r['next_to']}")
    if r.get('tuned') or r.get('config'): cols.append(json.dumps(r.get('tuned') or r['config']))
    print(' | '.join(cols))
PY
fi
if [ "${OVERHEAD_S:-80}" -gt 0 ]; then
  procs=${PROCS:-1}; each=$(( ${OVERHEAD_S:-80} / procs ))
  for i in $(seq 1 "$procs"); do   # PROCS > 1: that many processes one after another, each its own run (label proc<i>)
    mid=$(date +%s); log="$OUT/bench_sparse_overhead$([ "$procs" -gt 1 ] && echo "_$i").log"
    timeout "$each" python3 tools/bench_sparse_overhead.py --opt "${OPTS:-sgd,adam}" --budget-s $(( each - 30 )) "${ovh[@]}" ${CASES:+--cases "$CASES"} $([ "${LOCKSTEP:-0}" = 1 ] && echo --lockstep) \
      $([ "$procs" -gt 1 ] && echo --label "proc$i") --out "$OUT/sparse_overhead.jsonl" > "$log" 2>&1
    echo "(b) bench_sparse_overhead$([ "$procs" -gt 1 ] && echo " process $i of $procs") rc $? in $(( $(date +%s) - mid )) s"
    grep -E "^\||^sgd|^adam|stopping|Error" "$log"
  done
  [ "$procs" -gt 1 ] && [ -f "$OUT/sparse_overhead.jsonl" ] && python3 - "$OUT/sparse_overhead.jsonl" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
by = {(r['label'], r['opt'], r['case']): r for r in rs if r.get('label', '').startswith('proc') and r.get('ratio_step') is not None}
for opt in sorted({k[1] for k in by}):
    procs = sorted({k[0] for k in by if k[1] == opt})
    for case in sorted({k[2] for k in by if k[1] == opt} - {'dense', 'dense_repeat'}):
        vs_dense = [by[p, opt, case]['ratio_step'] for p in procs if (p, opt, case) in by]
        vs_copy = [by[p, opt, case]['ratio_step'] / by[p, opt, 'dense_repeat']['ratio_step'] for p in procs if (p, opt, case) in by and (p, opt, 'dense_repeat') in by]
        copies = [by[p, opt, 'dense_repeat']['ratio_step'] for p in procs if (p, opt, 'dense_repeat') in by]
        print(f"{opt} {case} over {len(vs_dense)} processes: against dense {statistics.mean(vs_dense):.4f} ({min(vs_dense):.3f}-{max(vs_dense):.3f})"
              + (f", against dense_repeat {statistics.mean(vs_copy):.4f} ({min(vs_copy):.3f}-{max(vs_copy):.3f}); dense_repeat {min(copies):.3f}-{max(copies):.3f}" if vs_copy else ''))
PY
fi
if [ "${PACK:-1}" = 1 ]; then
  files=$(cd "$OUT" && ls | grep -v '^sparse_speed.tgz$')
  (cd "$OUT" && tar -czf sparse_speed.tgz $files && rm -f $files) && echo "packed into $OUT/sparse_speed.tgz: $(echo $files)"
fi
echo "done in $(( $(date +%s) - start )) s"
