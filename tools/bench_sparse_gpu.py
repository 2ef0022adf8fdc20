"""Block-sparse linear layers (reformer_rigl.sparse.block_linear, kernels in reformer_rigl.sparse.block_kernels) against dense ones on one GPU.

Two kinds of measurement, side by side in one run, each the median of `--reps` timed calls after warm-up, with the
CUDA allocator's peak memory over the timed calls:

- `linear`: a bf16 `nn.Linear` (d_in = d_out = 2048 and 4096, 16384 tokens) against `BlockSparseLinear` on the same
  Parameters at density 0.05/0.1/0.2 with 32/64/128 tiles, forward + backward (`pass='fwd+bwd'`: y, dx, dW, db) and
  forward alone (`pass='fwd'`); torch's BSR Triton kernel (`torch.sparse._triton_ops.bsr_dense_mm`, forward only,
  it computes y^T) as a peer; at the headline size also variable fan-in, the dense-gradient mode (RigL's update
  steps) and each of the three kernels alone against the cuBLAS product it replaces (`pass` 'forward',
  'grad_input', 'grad_weight'; Triton's `do_bench` for both), with the settings the kernels' autotuning kept
  (`config`; `first_call_s` is the first forward and backward, tuning included). At the headline size the dense
  and the block-sparse fwd+bwd are also timed `--repeats` times, interleaved (dense, sparse, dense, ...): the
  records `dense_bf16` and `block_sparse_bf16` with `repeats` hold every repeat's ms (`ms_repeats`), the median
  (`ms`), the dense-vs-dense spread (`dense_spread`: each dense repeat over their median, min and max), the
  per-repeat speedups. Every block-sparse record holds the settings the autotuner kept for each kernel (`tuned`;
  for kind step those of the first block's two feed-forward layers). `--linear headline` times
  only that size (d 2048, density 0.1, 16K tokens, the tiles of `--blocks`). At the headline size also:
  `block_sparse_bf16_triton_launch`, the layer with every launch through Triton's own launcher (`FAST_LAUNCH`
  off), once; and `dense_bf16_graphed` / `block_sparse_bf16_graphed`, each layer's forward + backward
  (`torch.autograd.grad`) captured in one CUDA graph and replayed, `--repeats` times interleaved: the kernels'
  time without host work (`graph_err`: the replay against the eager layer).
- `step`: one training step (bf16 autocast, AdamW, fp32 weights) of a small pre-norm transformer LM written here
  (d_model 1024, d_ff 4096, 6 layers, 16 heads, byte vocabulary, 8 x 2048 = 16384 tokens) with dense feed-forward
  layers, with the same layers masked dense (what mask-based training costs), and block-sparse at density 0.1;
  the dense step and each block-sparse one are then also timed `--repeats` times interleaved, as at the headline
  linear case; then both steps captured whole in CUDA graphs (forward, backward, a capturable fused AdamW step),
  `dense_bf16_graphed` / `block_sparse_bf16_graphed`, also interleaved (`--no-graphed-step`: skipped).
  With `--compile` the dense and the block-sparse LM are both compiled (`torch.compile`, mode 'default', the
  block-sparse layers through their custom ops; `--compile-scope blocks`: each transformer block, one compiled graph
  that all blocks reuse, or `model`: the whole LM) and timed the same way, eager AdamW; the cases are then
  `dense_bf16_compiled`, `block_sparse_bf16_compiled` (the interleaved pairs too), with `compile` ('default'),
  `compile_scope`, `first_step_s` (the first step, compiling and autotuning included) and `graphs` (graphs dynamo
  compiled for that model). Before compiling, each step is timed once eagerly (`dense_bf16`, `block_sparse_bf16`,
  `compile` None: what compiling changes, on the same GPU in the same call); the compiled block-sparse LM is checked
  against the masked dense LM again (`rel_err`). The masked dense case and the CUDA-graph cases are skipped under
  `--compile` (the CUDA-graph cases capture the eager step; compile's own graphs, mode 'reduce-overhead', are not used).
  With `--block-adam` the same block-sparse LM (compiled or not, as above) is then also stepped with
  `reformer_rigl.sparse.block_linear.BlockAdamW` instead of AdamW: its feed-forward weights stepped on their kept tiles
  only (one Triton launch each), every other parameter by torch's fused AdamW; the dense step keeps
  `torch.optim.AdamW(fused=True)`. Cases `block_sparse_bf16_blockadam` (+ `_compiled`), timed once and as interleaved
  pairs with the dense step (whose record names it in `next_to`), with `opt` 'BlockAdamW' and `opt_err`: two steps of a
  fresh BlockAdamW (its other parameters on torch's foreach path) against torch's foreach AdamW from the same weights and
  gradients (the largest relative error of the parameters and moments; float32 rounding, the same step).
- `host` (`--host-cpu`, no GPU needed): microseconds of host work per call of the block-sparse layer on this CPU
  with its kernel launches replaced by no-ops (`host_us`, `ms` = host_us / 1000; the aten ops and launches of one
  call), and per launch in Triton's launcher (`triton_launch`) and in `block_kernels._launch` (`fast_launch`;
  `same_args`: it passes the compiled kernel what Triton passes).

Before timing, each sparse case is checked against the masked dense layer (outputs and gradients; `rel_err`).
One JSON line per measurement is appended to `--out` (default nbs/sparse/gpu_runs/sparse_speed/records.jsonl) with
kind, case, pass, n (tokens), d_in, d_out, density, block, fan_in, ms, peak_mib, device, torch, triton, and for
sparse cases dense_ms and speedup (dense ms / this ms); `host_ms` is the median host time of a timed call (until it
returns, the GPU idle at its start: what the GPU may wait for), `fast_launch` whether `_launch` skipped Triton's
per-call argument binding. Needs CUDA (except `--host-cpu`); about 3 minutes on an H200.

    python tools/bench_sparse_gpu.py [--kinds linear,step] [--reps 20] [--out FILE]
    python tools/bench_sparse_gpu.py --linear headline --blocks 64,128 --repeats 7   # the headline case only, with its spread
    python tools/bench_sparse_gpu.py --kinds step --compile --step-blocks 64 --repeats 7   # the LM step, dense and block-sparse both compiled
    python tools/bench_sparse_gpu.py --kinds step --compile --step-blocks 64 --repeats 7 --block-adam   # ... and the block-sparse step with BlockAdamW too
    python tools/bench_sparse_gpu.py --host-cpu  # no GPU: the layer's host path per call, and Triton's launcher, on this CPU
    python tools/bench_sparse_gpu.py --dry-run   # no GPU: tiny sizes on the CPU with TRITON_INTERPRET=1 (checks the script, times nothing)
"""
import argparse, copy, gc, json, os, statistics, sys, time, traceback

def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--kinds', default='linear,step', help="comma-separated: linear, step")
    p.add_argument('--reps', type=int, default=20, help="timed calls per measurement (median reported)")
    p.add_argument('--out', default='nbs/sparse/gpu_runs/sparse_speed/records.jsonl')
    p.add_argument('--linear', choices=('all', 'headline'), default='all', help="kind linear: every size, density and tile, or the headline case only")
    p.add_argument('--blocks', default=None, help="comma-separated tile sides of the headline case (default: 64; with --linear all: the headline's)")
    p.add_argument('--step-blocks', default=None, help="comma-separated tile sides of kind step (default 64,128)")
    p.add_argument('--repeats', type=int, default=5, help="interleaved dense / block-sparse repeats at the headline case (spread of the ratio)")
    p.add_argument('--no-graphed-step', dest='graphed_step', action='store_false', help="kind step: skip the CUDA-graph cases (the whole step captured)")
    p.add_argument('--compile', action='store_true', help="kind step: compile the dense and the block-sparse LM (torch.compile, mode 'default'), cases *_compiled; no masked dense or CUDA-graph cases")
    p.add_argument('--block-adam', action='store_true', help="kind step: also step the block-sparse LM with BlockAdamW (its feed-forward weights on their kept tiles only), cases block_sparse_bf16_blockadam*; the dense step keeps AdamW(fused=True)")
    p.add_argument('--compile-scope', choices=('blocks', 'model'), default='blocks', help="--compile: each transformer block (compiled once, reused by all) or the whole LM")
    p.add_argument('--host-cpu', action='store_true', help="no GPU: the host time of the block-sparse layer's Python path on this CPU, its kernel launches replaced by no-ops (kind 'host')")
    p.add_argument('--dry-run', action='store_true', help="CPU smoke test at tiny sizes under Triton's interpreter; writes to --out only if given")
    return p.parse_args()

ARGS = parse()
if ARGS.dry_run: os.environ['TRITON_INTERPRET'] = '1'   # before triton is imported
if ARGS.host_cpu: os.environ.pop('TRITON_INTERPRET', None)   # the compiled kernels' host path (their launches replaced below)
import torch, torch.nn as nn, torch.nn.functional as F
if not (ARGS.dry_run or ARGS.host_cpu) and not torch.cuda.is_available():
    sys.exit("bench_sparse_gpu.py needs a CUDA GPU (none is visible); use --dry-run to check the script on a CPU")
import triton
from reformer_rigl.sparse import block_kernels as bl
from reformer_rigl import core as launcher   # _launch, FAST_LAUNCH, _COMPILED (older commits: in block_kernels)
if not hasattr(launcher, '_launch'): launcher = bl
fast_ok = lambda: launcher._fast_ok() if hasattr(launcher, '_fast_ok') else getattr(launcher, '_FAST_OK', False)   # found at the first launch now
from reformer_rigl.sparse.block_kernels import TUNED, masked_linear, tune_key
from reformer_rigl.sparse.block_linear import BlockSparseLinear, to_block_sparse
if ARGS.block_adam: from reformer_rigl.sparse.block_linear import BlockAdamW   # (older commits have none)
from bench_sparse_overhead import git_rev
from host_timing import host_us

DRY = ARGS.dry_run
DEV = torch.device('cpu' if DRY or ARGS.host_cpu else 'cuda')
DEVICE_NAME = ('cpu (dry run, Triton interpreter)' if DRY else 'cpu (host path, kernel launches replaced by no-ops)' if ARGS.host_cpu
               else torch.cuda.get_device_name())
if DRY:   # tiny sizes: every code path, none of the timings mean anything
    LINEAR = dict(sizes=(64,), n=48, densities=(0.5,), blocks=(16, 32), headline=(64, 0.5, 16))
    STEP = dict(d_model=64, d_ff=128, n_layers=2, n_heads=2, vocab=256, batch=2, seq=24, blocks=(16,), density=0.5)
else:
    LINEAR = dict(sizes=(2048, 4096), n=16384, densities=(0.05, 0.1, 0.2), blocks=(32, 64, 128), headline=(2048, 0.1, 64))
    STEP = dict(d_model=1024, d_ff=4096, n_layers=6, n_heads=16, vocab=256, batch=8, seq=2048, blocks=(64, 128), density=0.1)
_blocks = lambda text: tuple(int(b) for b in text.split(','))
HEADLINE_BLOCKS = _blocks(ARGS.blocks) if ARGS.blocks else (LINEAR['headline'][2],)
if ARGS.linear == 'headline':   # the headline size, density and tiles only
    d, density, _ = LINEAR['headline']
    LINEAR = dict(LINEAR, sizes=(d,), densities=(density,), blocks=HEADLINE_BLOCKS)
if ARGS.step_blocks: STEP = dict(STEP, blocks=_blocks(ARGS.step_blocks))

def random_block_mask(shape, block, density, constant_fan_in=True, generator=None):
    "A bool mask of `shape` made of whole `block` x `block` tiles: round(density * cols) per block-row, or round(density * tiles) anywhere."
    rows, cols = shape[0] // block, shape[1] // block
    scores = torch.rand(rows, cols, generator=generator)
    if constant_fan_in: keep = scores.argsort(1)[:, :max(1, round(density * cols))]
    else: keep = scores.flatten().argsort()[:max(1, round(density * rows * cols))]
    kept = torch.zeros(rows, cols, dtype=torch.bool)
    if constant_fan_in: kept.scatter_(1, keep, True)
    else: kept.view(-1)[keep] = True
    return kept.repeat_interleave(block, 0).repeat_interleave(block, 1)

def sync():
    if DEV.type == 'cuda': torch.cuda.synchronize()

def measure(fn, reps=ARGS.reps, warmup=3):
    "Median milliseconds of `fn()` after `warmup` calls, the allocator's peak MiB over the timed calls, and the median host milliseconds of a call (until `fn` returns, the GPU idle at its start)."
    reps, warmup = (1, 1) if DRY else (reps, warmup)
    for _ in range(warmup): fn()
    sync()
    if DEV.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    times, host = [], []
    for _ in range(reps):
        start = time.perf_counter(); fn(); issued = time.perf_counter(); sync()
        times.append((time.perf_counter() - start) * 1e3); host.append((issued - start) * 1e3)
    peak = torch.cuda.max_memory_allocated() / 2**20 if DEV.type == 'cuda' else None
    return statistics.median(times), peak, statistics.median(host)

GIT = git_rev()

def write(rec):
    "Append one record to --out (in a dry run only when --out was given explicitly) and print it."
    rec = dict({'fast_launch': bool(getattr(launcher, 'FAST_LAUNCH', False) and fast_ok())},   # the block-sparse kernels launched again from their compiled form (`_launch`)
               **rec, device=DEVICE_NAME, torch=torch.__version__, triton=triton.__version__, git=GIT, time=time.strftime('%Y-%m-%d %H:%M:%S'))
    print(json.dumps(rec), flush=True)
    if (DRY or ARGS.host_cpu) and '--out' not in sys.argv: return
    os.makedirs(os.path.dirname(ARGS.out) or '.', exist_ok=True)
    with open(ARGS.out, 'a') as f: f.write(json.dumps(rec) + '\n')

def rel_err(ref, got):
    "Largest |difference| relative to the largest |reference| value."
    return ((ref.float() - got.float()).abs().max() / ref.float().abs().max().clamp_min(1e-30)).item()

# ---------------------------------------------------------------- kind 'linear'

def linear_runner(layer, x, dy, backward=True):
    "A call that runs the layer forward (and backward to dx, dW, db without accumulating into .grad)."
    params = [p for p in (layer.weight, layer.bias) if p is not None]
    def fwd():
        with torch.no_grad(): return layer(x)
    def fwd_bwd(): return torch.autograd.grad(layer(x), [x, *params], dy)
    return fwd_bwd if backward else fwd

def check_linear(sparse, x, dy):
    "rel_err of y, dx, dW, db between the block-sparse layer (Triton) and the masked dense layer."
    params = [sparse.weight, sparse.bias]
    ref = masked_linear(x, sparse.weight, sparse.bias, sparse.layout.mask, sparse.dense_grad)
    got = sparse(x)
    errs = [rel_err(a, b) for a, b in zip([ref, *torch.autograd.grad(ref, [x, *params], dy)], [got, *torch.autograd.grad(got, [x, *params], dy)])]
    return max(errs)

def bench_linear():
    n, dtype = LINEAR['n'], torch.bfloat16
    for d in LINEAR['sizes']:
        torch.manual_seed(0)
        dense = nn.Linear(d, d, device=DEV, dtype=dtype)
        x = torch.randn(n, d, device=DEV, dtype=dtype, requires_grad=True)
        dy = torch.randn(n, d, device=DEV, dtype=dtype)
        base = dict(kind='linear', n=n, d_in=d, d_out=d)
        dense_ms = {}
        for pas in ('fwd+bwd', 'fwd'):
            ms, peak, host = measure(linear_runner(dense, x, dy, pas == 'fwd+bwd'))
            dense_ms[pas] = ms
            write(dict(base, case='dense_bf16', density=1.0, block=None, fan_in=None, **{'pass': pas}, ms=ms, peak_mib=peak, host_ms=host))
        for density in LINEAR['densities']:
            for block in LINEAR['blocks']:
                headline = (d, density) == LINEAR['headline'][:2] and block in HEADLINE_BLOCKS
                fan_ins = ('constant', 'variable') if headline and ARGS.linear == 'all' else ('constant',)
                for fan_in in fan_ins:
                    g = torch.Generator().manual_seed(0)
                    mask = random_block_mask((d, d), block, density, constant_fan_in=fan_in == 'constant', generator=g).to(DEV)
                    sparse = BlockSparseLinear(dense, mask, block, impl='fused')
                    rec = dict(base, density=density, block=block, fan_in=fan_in, density_kept=sparse.layout.density)
                    try:
                        t0 = time.perf_counter()
                        err = check_linear(sparse, x, dy)
                        rec['first_call_s'] = time.perf_counter() - t0
                        err = max(err, check_linear(sparse, x, dy))   # again: the launches of a second call go straight to the compiled kernels
                        if err > 2e-2: raise AssertionError(f"block-sparse and masked dense disagree: rel_err {err:.2e}")
                        modes = [('block_sparse_bf16', False)] + ([('block_sparse_bf16_dense_grad', True)] if headline and fan_in == 'constant' else [])
                        for case, dense_grad in modes:
                            sparse.dense_grad = dense_grad
                            for pas in (('fwd+bwd', 'fwd') if not dense_grad else ('fwd+bwd',)):
                                ms, peak, host = measure(linear_runner(sparse, x, dy, pas == 'fwd+bwd'))
                                write(dict(rec, case=case, **{'pass': pas}, ms=ms, peak_mib=peak, host_ms=host, rel_err=err, dense_ms=dense_ms[pas],
                                           speedup=dense_ms[pas] / ms, tuned=tuned_configs(sparse.layout, x.dtype, x.shape[0])))
                        sparse.dense_grad = False
                        if fan_in == 'constant': kernel_breakdown(sparse, dense, x, dy, rec)
                        if headline and fan_in == 'constant': repeated(dense, sparse, x, dy, rec); graphed_linear(dense, sparse, x, dy, rec)
                    except Exception as e:
                        traceback.print_exc()
                        write(dict(rec, case='block_sparse_bf16', status='failed', error=f"{type(e).__name__}: {e}"[:500]))
                    if fan_in == 'constant' and ARGS.linear == 'all': bench_bsr(dense.weight.detach() * mask, x.detach(), block, rec, dense_ms['fwd'])
        del dense, x, dy
        if DEV.type == 'cuda': torch.cuda.empty_cache()

def tuned_configs(layout, dtype, n):
    "The settings the autotuner kept for each kernel of `layout` at `n` tokens (None: not tuned, e.g. TILE_CONFIG or the interpreter)."
    return {k: TUNED.get(tune_key(k, layout, dtype, n), (None,))[0] for k in ('forward', 'grad_input', 'grad_weight')}

def interleaved(dense_fn, sparse_fn, rec, dense_rec, suffix='', tag='', **sparse_extra):
    "Time `dense_fn` and `sparse_fn` `--repeats` times, interleaved (the order alternating), and write one record of each (cases `dense_bf16` and `block_sparse_bf16` + `tag`, then `suffix`) with every repeat and the dense-vs-dense spread."
    med, ms, host = statistics.median, dict(dense=[], sparse=[]), dict(dense=[], sparse=[])
    for r in range(max(ARGS.repeats, 1)):
        for k in (('dense', 'sparse') if r % 2 == 0 else ('sparse', 'dense')):
            t, _, h = measure(dense_fn if k == 'dense' else sparse_fn)
            ms[k].append(t); host[k].append(h)
    dense_med, sparse_med = med(ms['dense']), med(ms['sparse'])
    spread = [m / dense_med for m in ms['dense']]   # each dense repeat over their median: what a ratio of 1 may read as
    common = dict(repeats=len(ms['dense']), reps=ARGS.reps, dense_spread=[min(spread), max(spread)])
    write(dict(dense_rec, **common, case='dense_bf16' + suffix, density=1.0, block=None, fan_in=None, ms=dense_med, ms_repeats=ms['dense'],
               host_ms=med(host['dense']), next_to_block=rec['block'], **({'next_to': 'block_sparse_bf16' + tag + suffix} if tag else {})))
    ratios = [a / b for a, b in zip(ms['dense'], ms['sparse'])]
    write(dict(rec, **common, case='block_sparse_bf16' + tag + suffix, ms=sparse_med, ms_repeats=ms['sparse'], host_ms=med(host['sparse']), dense_ms=dense_med,
               speedup=dense_med / sparse_med, speedup_repeats=ratios, speedup_min=min(ratios), speedup_max=max(ratios), **sparse_extra))

GRAPH_WARMUP = 3   # calls of `fn` that `graphed` runs before the capture: for a training step, optimizer steps taken (an eager reference takes as many)

def graphed(fn):
    "`fn()`'s kernels captured once in a CUDA graph, after `GRAPH_WARMUP` warm-up calls on a side stream (autotuning and compiling happen there; they run, a training step's warm-ups are steps), and `fn`'s outputs at capture: each `graph.replay()` runs the same kernels on the same inputs, with no host work."
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(GRAPH_WARMUP): fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph): out = fn()
    graph.fn = fn   # kept with the graph: what `fn` holds that the captured kernels read and write (an optimizer's state) must outlive the capture
    return graph, out

def graphed_linear(dense, sparse, x, dy, rec):
    "Cases `dense_bf16_graphed` and `block_sparse_bf16_graphed`: each layer's forward + backward captured whole (`torch.autograd.grad` inside the graph), replayed `--repeats` times interleaved; `graph_err`: replayed block-sparse outputs against the eager ones."
    if DEV.type != 'cuda': return print("graphed cases: skipped without CUDA")
    rec = dict(rec, **{'pass': 'fwd+bwd'})
    try:
        eager = linear_runner(sparse, x, dy)()
        (dense_graph, _), (sparse_graph, outs) = graphed(linear_runner(dense, x, dy)), graphed(linear_runner(sparse, x, dy))
        sparse_graph.replay(); sync()
        err = max(rel_err(a, b) for a, b in zip(eager, outs))   # the capture saw the same kernels, settings and layout as an eager call
        if err > 1e-3: raise AssertionError(f"the replayed graph and the eager layer disagree: rel_err {err:.2e}")
        interleaved(dense_graph.replay, sparse_graph.replay, dict(rec, graph_err=err), {k: v for k, v in rec.items() if k not in ('density_kept', 'first_call_s')},
                    suffix='_graphed', tuned=tuned_configs(sparse.layout, x.dtype, x.shape[0]))
        del dense_graph, sparse_graph
    except Exception as e:
        traceback.print_exc()
        write(dict(rec, case='block_sparse_bf16_graphed', ms=None, status='failed', error=f"{type(e).__name__}: {e}"[:500]))

def repeated(dense, sparse, x, dy, rec):
    "Dense and block-sparse fwd+bwd timed `--repeats` times, interleaved: every ratio is read against the dense-vs-dense spread of the same run. Before: the block-sparse layer with every launch through Triton's own launcher (`FAST_LAUNCH` off), once."
    rec = dict(rec, **{'pass': 'fwd+bwd'})
    if fast_ok():   # (an older commit has no `_launch`)
        launcher.FAST_LAUNCH = False
        try:
            ms, peak, host = measure(linear_runner(sparse, x, dy))
            write(dict(rec, case='block_sparse_bf16_triton_launch', ms=ms, peak_mib=peak, host_ms=host, fast_launch=False))
        finally: launcher.FAST_LAUNCH = True
    interleaved(linear_runner(dense, x, dy), linear_runner(sparse, x, dy), rec, {k: v for k, v in rec.items() if k not in ('density_kept', 'first_call_s')},
                tuned=tuned_configs(sparse.layout, x.dtype, x.shape[0]))

def kernel_breakdown(sparse, dense, x, dy, rec):
    "Each kernel alone (the settings autotuning kept, or the defaults) against the cuBLAS product it replaces, both timed by do_bench."
    if DRY: return
    from triton.testing import do_bench
    lay, w, xd, n = sparse.layout, dense.weight.detach(), x.detach(), x.shape[0]
    runs = dict(forward=(lambda: bl.bsl_forward(xd, w, None, lay), lambda: xd @ w.t()),
                grad_input=(lambda: bl.bsl_grad_input(dy, w, lay), lambda: dy @ w),
                grad_weight=(lambda: bl.bsl_grad_weight(dy, xd, lay, w.dtype), lambda: dy.t() @ xd))
    for kind, (fast, plain) in runs.items():
        cfg = TUNED.get(tune_key(kind, lay, x.dtype, n), (None,))[0]
        ms, dense_ms = do_bench(fast, warmup=10, rep=50), do_bench(plain, warmup=10, rep=50)
        write(dict(rec, case='block_sparse_bf16', **{'pass': kind}, config=cfg, ms=ms, dense_ms=dense_ms, speedup=dense_ms / ms, timer='do_bench'))

def bench_bsr(weight, x, block, rec, dense_fwd_ms):
    "torch's BSR Triton kernel, forward only: y^T = W_bsr @ x^T."
    if DRY: return
    try:
        from torch.sparse._triton_ops import bsr_dense_mm
        bsr, xt = weight.to_sparse_bsr((block, block)), x.t().contiguous()
        err = rel_err(weight @ xt, bsr_dense_mm(bsr, xt))
        ms, peak, host = measure(lambda: bsr_dense_mm(bsr, xt))
        write(dict(rec, case='torch_bsr_bf16', **{'pass': 'fwd'}, ms=ms, peak_mib=peak, host_ms=host, rel_err=err, dense_ms=dense_fwd_ms, speedup=dense_fwd_ms / ms))
    except Exception as e: write(dict(rec, case='torch_bsr_bf16', **{'pass': 'fwd'}, status='failed', error=f"{type(e).__name__}: {e}"[:500]))

# ---------------------------------------------------------------- kind 'step'

class Block(nn.Module):
    "Pre-norm transformer block: causal self-attention (flash, through SDPA) and a GELU feed-forward."
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model, bias=False), nn.Linear(d_model, d_model, bias=False)
        self.ff1, self.ff2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, n, d))
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x))))

class LM(nn.Module):
    "A minimal GPT-style language model: token + learned positions, blocks, final norm, untied head."
    def __init__(self, vocab, d_model, n_layers, n_heads, d_ff, seq):
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, d_model), nn.Parameter(torch.randn(seq, d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.norm, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, vocab, bias=False)
    def forward(self, tokens):
        x = self.emb(tokens) + self.pos[:tokens.shape[1]]
        for block in self.blocks: x = block(x)
        return self.head(self.norm(x))

def lm_loss(model, tokens, targets, cache=True):
    with torch.autocast(DEV.type, dtype=torch.bfloat16, cache_enabled=cache):   # cache False inside a CUDA graph capture
        return F.cross_entropy(model(tokens).flatten(0, 1).float(), targets.flatten())

COMPILE = dict(compile='default', compile_scope=ARGS.compile_scope) if ARGS.compile else dict(compile=None)   # in every step record
EAGER = dict(compile=None, compile_scope=None)   # under --compile, the records of the steps timed once before compiling
SUFFIX = '_compiled' if ARGS.compile else ''   # of the step cases
FUSED = dict(fused=True) if DEV.type == 'cuda' else {}   # the steps' AdamW: fused on CUDA

def compile_model(model):
    "`--compile`: `model` compiled in place (`nn.Module.compile`, mode 'default'): each block (`--compile-scope blocks`) or the whole LM. Else `model` as it is."
    if ARGS.compile:
        for m in (model.blocks if ARGS.compile_scope == 'blocks' else [model]): m.compile(mode='default')
    return model

def first_step(step):
    "Seconds of `step()`'s first call (compiling and autotuning included), and how many graphs dynamo compiled during it."
    from torch._dynamo.utils import counters
    graphs, start = counters['stats']['unique_graphs'], time.perf_counter()
    step(); sync()
    return dict(first_step_s=time.perf_counter() - start, graphs=counters['stats']['unique_graphs'] - graphs)

def train_step(model, opt, tokens, targets):
    def step():
        lm_loss(model, tokens, targets).backward()
        opt.step(); opt.zero_grad(set_to_none=True)
    return step

def live_accumulators(params):
    """The parameters among `params` whose gradient accumulator (autograd's `AccumulateGrad` node) an autograd graph still
    alive in Python keeps, e.g. through a loss held after its `backward()`. Autograd makes that node once per parameter
    while one is alive and syncs with the stream it was made on; made by an eager step on the default stream, it makes a
    later CUDA graph capture of a backward fail ('operation would make the legacy stream depend on a capturing blocking
    stream')."""
    want, found, seen = {id(p): p for p in params}, [], {}
    gc.collect()
    stack = [o.grad_fn for o in gc.get_objects() if issubclass(type(o), torch.Tensor) and o.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen: continue
        seen[id(node)] = node   # (kept: an id is not reused while the walk runs)
        v = getattr(node, 'variable', None)
        if v is not None and id(v) in want and not any(v is f for f in found): found.append(v)
        stack.extend(n for n, _ in node.next_functions)
    return found

def step_error(masked, model, tokens, targets):
    "Largest relative error of `model`'s loss and first feed-forward weight gradient against the masked dense LM's; a float, and no autograd graph left alive (see `live_accumulators`)."
    losses, grads = [], []
    for m in (masked, model):
        loss = lm_loss(m, tokens, targets); loss.backward()
        losses.append(loss.detach()); grads.append(m.blocks[0].ff1.weight.grad.clone()); m.zero_grad(set_to_none=True)
    return max(rel_err(losses[0], losses[1]), rel_err(grads[0], grads[1]))

def optimizer_error(model, opt, tokens, targets, steps=2):
    """`--block-adam`: `steps` steps of `opt` (a fresh BlockAdamW over `model`) against torch's AdamW (foreach or fused as `opt`'s other
    parameters) stepping copies of the parameters with copies of the same gradients, each step from the same weights: the
    largest relative error of the parameters and moments after them. The steps are taken: the model moves on."""
    params, group = list(model.parameters()), opt.param_groups[0]
    copies = [p.detach().clone().requires_grad_() for p in params]
    ref = torch.optim.AdamW(copies, lr=group['lr'], betas=group['betas'], eps=group['eps'], weight_decay=group['weight_decay'],
                            foreach=group['foreach'], fused=group['fused'])   # as `opt` steps its other parameters
    if any(opt.state[p] for p in params): raise ValueError("optimizer_error needs a fresh optimizer: its reference starts without state")
    for _ in range(steps):
        lm_loss(model, tokens, targets).backward()
        with torch.no_grad():
            for p, q in zip(params, copies): q.copy_(p); q.grad = p.grad.clone()   # each step from the same weights
        opt.step(); ref.step()
        opt.zero_grad(set_to_none=True); ref.zero_grad(set_to_none=True)
    errs = [rel_err(q, p) for p, q in zip(params, copies)]
    errs += [rel_err(ref.state[q][k], opt.state[p][k]) for p, q in zip(params, copies) for k in ('exp_avg', 'exp_avg_sq')]
    return max(errs)

def block_adam_cases(model, dense_step, tokens, targets, rec, base, tuned):
    """`--block-adam`: the block-sparse `model` (compiled as it is) stepped with BlockAdamW instead of AdamW, checked first (`optimizer_error`):
    case `block_sparse_bf16_blockadam` (+ SUFFIX) timed once, then interleaved with `dense_step` (AdamW, fused on CUDA)."""
    # The check steps a BlockAdamW whose other parameters take torch's foreach AdamW, against torch's foreach AdamW: CUDA's fused
    # AdamW rounds beta2 to float32 before 1 - beta2 (0.00099998713 for 0.001), so its exp_avg_sq differs from the foreach
    # path's by 1.3e-5 everywhere (the h100 run of 2026-12-07, git a1cb301: opt_err 1.30e-05 against fused AdamW).
    check = BlockAdamW.from_model(model, lr=1e-4, impl='fused', foreach=True)
    err = optimizer_error(model, check, tokens, targets)
    if err > 1e-5: raise AssertionError(f"BlockAdamW and AdamW disagree: opt_err {err:.2e}")
    del check
    opt = BlockAdamW.from_model(model, lr=1e-4, impl='fused', **FUSED)
    rec, step = dict(rec, opt='BlockAdamW', opt_err=err), train_step(model, opt, tokens, targets)
    ms, peak, host = measure(step)
    write(dict(rec, case='block_sparse_bf16_blockadam' + SUFFIX, ms=ms, peak_mib=peak, host_ms=host, speedup=rec['dense_ms'] / ms, tuned=tuned))
    interleaved(dense_step, step, {k: v for k, v in rec.items() if k != 'dense_ms'}, dict(base), suffix=SUFFIX, tag='_blockadam', tuned=tuned)

def graphed_step(model, tokens, targets):
    """One training step (forward, backward, a fused AdamW step with `capturable=True`, its own state) captured whole in a CUDA graph: its `replay`. The gradients are the graph's (set to None before capture, written, not accumulated, by each replay).
    The graph keeps `step` and so the optimizer: its moments and step counts are made in the warm-up, before the capture, and
    each replay reads and writes them. Freed when this function returned (before: the h100 run of 2026-12-06 16:07), their
    memory went back to the allocator, and the next capture's `torch.cuda.graph` (which calls `torch.cuda.empty_cache()`)
    released it: the first replay after it was an illegal memory access."""
    live = live_accumulators(model.parameters())
    if live: raise RuntimeError(f"{len(live)} parameters' gradient accumulators are kept by an autograd graph still alive (a loss kept after backward?): the capture would fail")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True, capturable=True)
    def step():
        opt.zero_grad(set_to_none=True)
        lm_loss(model, tokens, targets, cache=False).backward()
        opt.step()
    graph, _ = graphed(step)
    graph.opt = opt   # (also kept through `graph.fn`) its step counters tell how many steps the model took: `GRAPH_WARMUP`, then one a replay
    return graph.replay

def bench_step():
    s = STEP
    n = n_tok = s['batch'] * s['seq']
    base = dict(kind='step', n=n, d_in=s['d_model'], d_out=s['d_ff'], n_layers=s['n_layers'], n_heads=s['n_heads'], vocab=s['vocab'],
                batch=s['batch'], seq=s['seq'], **COMPILE)
    torch.manual_seed(0)
    tokens = torch.randint(0, s['vocab'], (s['batch'], s['seq'] + 1), device=DEV)
    tokens, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    make = lambda: LM(s['vocab'], s['d_model'], s['n_layers'], s['n_heads'], s['d_ff'], s['seq']).to(DEV)
    dense_model = make()
    dense_opt = torch.optim.AdamW(dense_model.parameters(), lr=1e-4, **FUSED)
    dense_step = train_step(dense_model, dense_opt, tokens, targets)   # kept: timed again next to each block-sparse step
    first, eager_ms = {}, None
    if ARGS.compile:   # the same step eagerly first, once: what compiling changes, on the same GPU in the same call
        eager_ms, peak, host = measure(dense_step)
        write(dict(base, **EAGER, case='dense_bf16', density=1.0, block=None, ms=eager_ms, peak_mib=peak, host_ms=host))
        compile_model(dense_model)
        first = first_step(dense_step)
    dense_ms, peak, host = measure(dense_step)
    write(dict(base, case='dense_bf16' + SUFFIX, density=1.0, block=None, ms=dense_ms, peak_mib=peak, host_ms=host, **first))
    dense_graphed = None
    if ARGS.compile and ARGS.graphed_step: print("--compile: the CUDA-graph cases are skipped (the compiled steps run as compiled, mode 'default')")
    if DEV.type == 'cuda' and ARGS.graphed_step and not ARGS.compile:
        try: dense_graphed = graphed_step(dense_model, tokens, targets)
        except Exception as e:
            traceback.print_exc()
            write(dict(base, case='dense_bf16_graphed', density=1.0, block=None, ms=None, status='failed', error=f"{type(e).__name__}: {e}"[:500]))
    for block in s['blocks']:
        torch.manual_seed(0)
        model = make()
        g = torch.Generator().manual_seed(0)
        masks = {name: random_block_mask(p.shape, block, s['density'], generator=g).to(DEV)
                 for name, p in model.named_parameters() if name.endswith(('ff1.weight', 'ff2.weight'))}
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in masks: p.mul_(masks[name])
        rec = dict(base, density=s['density'], block=block, fan_in='constant')
        try:
            masked = to_block_sparse(copy.deepcopy(model), masks, block, impl='plain')       # dense layers on masked weights
            to_block_sparse(model, masks, block, impl='fused')
            err = step_error(masked, model, tokens, targets)   # (a loss kept here made the h100-2026-12-06b run's step capture fail)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **FUSED)
            sparse_step, first = train_step(model, opt, tokens, targets), {}
            if ARGS.compile:   # eagerly first, once (as the dense step above); then compiled, and checked again against the masked dense LM run eagerly
                ms, peak, host = measure(sparse_step)
                write(dict(rec, **EAGER, case='block_sparse_bf16', ms=ms, peak_mib=peak, host_ms=host, rel_err=err, dense_ms=eager_ms, speedup=eager_ms / ms))
                compile_model(model)
                first = first_step(sparse_step)
                masked.load_state_dict(model.state_dict())   # the weights after the steps taken since the first check
                err = step_error(masked, model, tokens, targets)
            if DRY:   # what the capture needs, checked on the CPU: no graph left by the check, and the check sees a kept loss
                assert not live_accumulators(model.parameters())
                kept = lm_loss(model, tokens, targets); kept.backward()
                assert len(live_accumulators(model.parameters())) == len(list(model.parameters())); del kept
                model.zero_grad(set_to_none=True)
            if err > 2e-2: raise AssertionError(f"block-sparse and masked dense LM disagree: rel_err {err:.2e}")
            if block == s['blocks'][0] and not ARGS.compile:
                masked_opt = torch.optim.AdamW(masked.parameters(), lr=1e-4, **FUSED)
                ms, peak, host = measure(train_step(masked, masked_opt, tokens, targets))
                write(dict(rec, case='masked_dense_bf16', ms=ms, peak_mib=peak, host_ms=host, dense_ms=dense_ms, speedup=dense_ms / ms))
                del masked_opt
            del masked
            ms, peak, host = measure(sparse_step)
            layers = {n: m for n, m in model.named_modules() if isinstance(m, BlockSparseLinear)}
            tuned = {n: tuned_configs(m.layout, torch.bfloat16, n_tok) for n, m in list(layers.items())[:2]}   # ff1 and ff2 of the first block: the others have the same shapes
            write(dict(rec, case='block_sparse_bf16' + SUFFIX, ms=ms, peak_mib=peak, host_ms=host, rel_err=err, dense_ms=dense_ms, speedup=dense_ms / ms, tuned=tuned, **first))
            interleaved(dense_step, sparse_step, dict(rec, rel_err=err), dict(base), suffix=SUFFIX, tuned=tuned)
            del opt, sparse_step
            if ARGS.block_adam:
                try: block_adam_cases(model, dense_step, tokens, targets, dict(rec, rel_err=err, dense_ms=dense_ms), base, tuned)
                except Exception as e:
                    traceback.print_exc()
                    write(dict(rec, case='block_sparse_bf16_blockadam' + SUFFIX, opt='BlockAdamW', ms=None, status='failed', error=f"{type(e).__name__}: {e}"[:500]))
            if dense_graphed is not None:   # the whole step without host work, next to the dense step graphed the same way
                try: interleaved(dense_graphed, graphed_step(model, tokens, targets), dict(rec, rel_err=err), dict(base), suffix='_graphed', tuned=tuned)
                except Exception as e:
                    traceback.print_exc()
                    write(dict(rec, case='block_sparse_bf16_graphed', ms=None, status='failed', error=f"{type(e).__name__}: {e}"[:500]))
        except Exception as e:
            traceback.print_exc()
            write(dict(rec, case='block_sparse_bf16' + SUFFIX, status='failed', error=f"{type(e).__name__}: {e}"[:500]))
        del model
        if DEV.type == 'cuda': torch.cuda.empty_cache()

# ---------------------------------------------------------------- kind 'host' (--host-cpu)

class NoLaunch:
    "Stands in for a `@triton.jit` kernel: `kernel[grid](...)` records the kernel's name and launches nothing."
    def __init__(self, name, launches): self.name, self.launches = name, launches
    def __getitem__(self, grid): return lambda *args, **kwargs: self.launches.append(self.name)

def bench_host_cpu(d=256, n=1024, block=128, calls=2000):
    """Kind 'host': microseconds of host work per call of the block-sparse layer (bf16, bias, every block-row keeping a tile, token
    slices as on an H100's 132 SMs, the settings the H100 autotuner kept at 128×128 tiles), its kernel launches replaced by
    no-ops: the Python path, the autograd function and torch's allocations, not Triton's launcher. Small d and n (the host
    work does not depend on them; a CPU allocation of a GPU-sized gradient would). Also the aten ops each pass issues."""
    from torch.utils._python_dispatch import TorchDispatchMode
    torch.set_num_threads(1)   # on a busy machine, OpenMP threads waiting for each other turn a fill into milliseconds
    launches = []
    for k in ('_forward', '_grad_input', '_grad_weight', '_sum_splits'): setattr(bl, k, NoLaunch(k, launches))
    bl.triton_unsupported, bl._n_sms, fast = (lambda *a: None), (lambda device: 132), getattr(launcher, 'FAST_LAUNCH', False)
    launcher.FAST_LAUNCH = False   # each launch straight to its no-op stand-in: the launchers are timed by `launch_us`
    torch.manual_seed(0)
    dense = nn.Linear(d, d, dtype=torch.bfloat16)
    sparse = BlockSparseLinear(dense, random_block_mask((d, d), block, 0.5), block, impl='fused')
    for kind, cfg in dict(forward=dict(BM=256, num_warps=8, num_stages=3), grad_input=dict(BM=64, num_warps=4, num_stages=4),
                          grad_weight=dict(BM=64, num_warps=8, num_stages=3, PER_SM=1)).items():
        TUNED[tune_key(kind, sparse.layout, torch.bfloat16, n)] = cfg, None
    x, dy = torch.randn(n, d, dtype=torch.bfloat16, requires_grad=True), torch.randn(n, d, dtype=torch.bfloat16)
    class Ops(TorchDispatchMode):
        def __init__(self): super().__init__(); self.ops = []
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func.overloadpacket.__name__)); return func(*args, **(kwargs or {}))
    for pas in ('fwd+bwd', 'fwd'):
        fn = linear_runner(sparse, x, dy, pas == 'fwd+bwd')
        us, runs = host_us(fn, calls)
        launches.clear()
        with Ops() as ops: fn()
        write(dict(kind='host', case='block_sparse_bf16', **{'pass': pas}, n=n, d_in=d, d_out=d, density=0.5, block=block, ms=us / 1e3, host_us=us,
                   host_us_runs=runs, launches=list(launches), aten_ops={o: ops.ops.count(o) for o in sorted(set(ops.ops))}))
    launcher.FAST_LAUNCH = fast

def launch_us(fn, calls=2000):
    """Microseconds of host work per launch of `fn` (`_forward`'s Python function) with the layer's arguments on this CPU,
    in Triton's own launcher (`kernel[grid](...)`: binding and specialising the arguments, the cache lookup) and in
    `block_kernels._launch` (its compiled kernel, launched again): a fake CUDA driver, and a compiled kernel whose launch
    does nothing. Also whether `_launch` passed the compiled kernel's launcher exactly the arguments Triton's passed
    (`same_args`). Triton internals: None for each if this Triton differs."""
    try:
        from host_timing import fake_jit, use_fake_driver, same_args
        kernel = fake_jit(fn)
        use_fake_driver()
        x, w, b = torch.empty(16384, 2048, dtype=torch.bfloat16), torch.empty(2048, 2048, dtype=torch.bfloat16), torch.empty(2048, dtype=torch.bfloat16)
        y, rows, cols = torch.empty_like(x), torch.zeros(17, dtype=torch.int32), torch.zeros(32, dtype=torch.int32)
        args = (x, w, b, y, rows, cols, 16384, 2048, 2048, 2048)
        consts = dict(BM=256, BO=128, BI=128, HAS_BIAS=True, **bl._types(torch.bfloat16), num_warps=8, num_stages=3)
        triton_us, fast_us = host_us(lambda: kernel[(16, 64)](*args, **consts), calls)[0], host_us(lambda: launcher._launch(kernel, (16, 64), args, consts), calls)[0]
        return triton_us, fast_us, same_args(kernel, (16, 64), args, consts, launcher._launch)
    except Exception as e:
        print(f"Triton's launcher not timed: {type(e).__name__}: {e}")
        return None, None, None

if __name__ == '__main__':
    start = time.time()
    if ARGS.host_cpu:
        forward = bl._forward.fn   # before `bench_host_cpu` replaces the kernels
        bench_host_cpu()
        triton_us, fast_us, same = launch_us(forward)   # after `bench_host_cpu`: it replaces Triton's driver
        one = dict(kind='host', **{'pass': 'forward'}, n=16384, d_in=2048, d_out=2048, density=None, block=128)   # `launch_us`'s arguments
        write(dict(one, case='triton_launch', ms=triton_us and triton_us / 1e3, host_us=triton_us, fast_launch=False))
        write(dict(one, case='fast_launch', ms=fast_us and fast_us / 1e3, host_us=fast_us, fast_ok=fast_ok(), same_args=same))
        sys.exit()
    kinds = ARGS.kinds.split(',')
    unknown = set(kinds) - {'linear', 'step'}
    if unknown: sys.exit(f"unknown kinds {sorted(unknown)}: use linear and/or step")
    if 'linear' in kinds: bench_linear()
    if 'step' in kinds: bench_step()
    print(f"done in {time.time() - start:.0f} s" + (" (dry run: the timings mean nothing)" if DRY else f"; records appended to {ARGS.out}"))
