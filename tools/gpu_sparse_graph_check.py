"""Whether the LM training step of tools/bench_sparse_gpu.py (kind 'step') captured whole in a CUDA graph replays correctly, dense and block-sparse.

For each case (`dense`, then `block_sparse`: the feed-forward layers `BlockSparseLinear` at the step's density and first
tile) a model is built as the bench builds it, with two eager copies. Both steps are captured first, as the bench does
(`bench_sparse_gpu.graphed_step`: `bench_sparse_gpu.GRAPH_WARMUP` warm-up steps on a side stream, which are real
optimizer steps, then the capture; the second capture's `torch.cuda.graph` empties the allocator's cache, which is
what turned the optimizer state the first graph had lost into an illegal memory access in the run of 2026-12-06 16:07).
The eager copies take the same number of warm-up steps (the same capturable fused AdamW, the same loss). Then each graph
is replayed `--replays` times with a `torch.cuda.synchronize()` after each, each eager copy taking one step per replay.

What is compared after each replay:
- `steps`: the optimizer steps each side has taken, read from AdamW's step counters (graph, eager): equal, or not ok.
- `change_err` (decides `ok`): the parameters' change since the start, graph against eager, as the L2 norm of the
  difference over the L2 norm of the eager change, all parameters together; `floor_err`: the same between the two eager
  copies (what nondeterministic kernels leave, e.g. atomics in attention's backward). A step taken on one side and not
  the other gives about 1/(steps taken) or more (each Adam step moves nearly every weight by about lr); bf16 noise a few 1e-3.
- `rel_err`: the largest |graph change - eager change| over the largest |eager change| (this check's metric before
  run h100-2026-12-06d, kept for comparison). It does not tell a wrong step from rounding: Adam divides each moment
  by its root mean square, so a weight whose gradient changes sign from step to step (its first moment nearly
  cancelling) turns a 1e-3 difference in its gradients into an update that differs by a good fraction of lr; some of
  millions of weights do, and this maximum reads 0.3-0.7 with no bug at all (shown on the CPU by `--dry-run`'s
  `noise` control). That is what run h100-2026-12-06d reported for both cases, dense included.
One JSON line per case: case, ok, error, steps, change_err(s), floor_err(s), rel_err(s), replays, ms (median replay).

    python tools/gpu_sparse_graph_check.py                        # the bench's STEP config (d 1024, 6 layers, 16K tokens), < 60 s
    python tools/gpu_sparse_graph_check.py --small                # 2 layers, d 256, 4K tokens
    CUDA_LAUNCH_BLOCKING=1 python tools/gpu_sparse_graph_check.py  # a failing kernel named where it fails
    python tools/gpu_sparse_graph_check.py --repro                # the old bug on purpose: the graphs lose their optimizer (expect ok false, an illegal access)
    python tools/gpu_sparse_graph_check.py --dry-run              # no GPU: the models on the CPU (interpreter), the graph's path run eagerly with the
                                                                  # same warm-up and step counting; then two controls on the dense case: an eager
                                                                  # reference one warm-up short must fail (`miscount`), and gradients perturbed by
                                                                  # 1e-3 relative must pass while `rel_err` reads large (`noise`)
"""
import argparse, copy, gc, json, os, statistics, sys, time, traceback

def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--replays', type=int, default=5, help="replays of each graph, each checked against one eager step")
    p.add_argument('--tol', type=float, default=5e-2, help="largest change_err that passes (one step missed or added reads about 1/(steps taken), >= 0.1 here)")
    p.add_argument('--small', action='store_true', help="a smaller LM: 2 layers, d_model 256, d_ff 1024, 2 x 2048 tokens")
    p.add_argument('--repro', action='store_true', help="drop what each graph keeps alive (its optimizer) after capture, as the bench did: the failure on purpose")
    p.add_argument('--dry-run', action='store_true', help="CPU: the models at tiny sizes (Triton interpreter), the graph's path run eagerly with the same warm-up and step counting; then the miscount and noise controls")
    return p.parse_args()

ARGS = parse()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
_argv, sys.argv = sys.argv, ['bench_sparse_gpu.py', '--out', os.devnull] + (['--dry-run'] if ARGS.dry_run else [])
import bench_sparse_gpu as bench   # its STEP config, LM, masks and `graphed_step` (it parses its own defaults here)
sys.argv = _argv
import torch
from reformer_rigl.sparse.block_linear import to_block_sparse

DEV = bench.DEV
STEP = dict(bench.STEP, d_model=256, d_ff=1024, n_layers=2, n_heads=4, batch=2, seq=2048) if ARGS.small and not ARGS.dry_run else bench.STEP

def adamw(model):
    return torch.optim.AdamW(model.parameters(), lr=1e-4, **(dict(fused=True, capturable=True) if DEV.type == 'cuda' else {}))

def eager_step(model, opt, tokens, targets, grad_noise=0., generator=None):
    "The step `graphed_step` captures, run eagerly (`grad_noise`: each gradient times 1 + grad_noise * N(0, 1) before the optimizer step, the dry run's `noise` control)."
    def step():
        opt.zero_grad(set_to_none=True)
        bench.lm_loss(model, tokens, targets, cache=False).backward()
        if grad_noise:
            for p in model.parameters(): p.grad.mul_(1 + grad_noise * torch.randn(p.shape, generator=generator).to(p.device))
        opt.step()
    return step

def opt_steps(opt):
    "The optimizer steps `opt` has taken, from AdamW's per-parameter step counters (0 before the first; a list if they disagree)."
    counts = sorted({int(state['step']) for state in opt.state.values() if 'step' in state})
    return (counts or [0])[0] if len(counts) <= 1 else counts

def build(case, tokens):
    "The model of `case` as `bench_step` builds it (seed 0; block-sparse: the feed-forward weights masked in the step's first tile)."
    s = STEP
    torch.manual_seed(0)
    model = bench.LM(s['vocab'], s['d_model'], s['n_layers'], s['n_heads'], s['d_ff'], s['seq']).to(DEV)
    if case == 'block_sparse':
        block, g = s['blocks'][0], torch.Generator().manual_seed(0)
        masks = {n: bench.random_block_mask(p.shape, block, s['density'], generator=g).to(DEV)
                 for n, p in model.named_parameters() if n.endswith(('ff1.weight', 'ff2.weight'))}
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in masks: p.mul_(masks[n])
        to_block_sparse(model, masks, block, impl='fused')
    return model

def rel_change_err(start, graph_params, eager_params):
    "Largest |graph change - eager change| over the largest |eager change|, all parameters together (`rel_err`: blind to Adam's amplified rounding, see the docstring)."
    diff = max((g.detach().float() - e.detach().float()).abs().max().item() for g, e in zip(graph_params, eager_params))
    scale = max((e.detach().float() - s).abs().max().item() for s, e in zip(start, eager_params))
    return diff / max(scale, 1e-30)

def change_err(start, graph_params, eager_params):
    "L2 norm of (graph change - eager change) over the L2 norm of the eager change, all parameters together (`change_err`)."
    diff = sum(((g.detach().float() - e.detach().float()) ** 2).sum().item() for g, e in zip(graph_params, eager_params))
    scale = sum(((e.detach().float() - s) ** 2).sum().item() for s, e in zip(start, eager_params))
    return (diff / max(scale, 1e-60)) ** 0.5

def prepare(case, tokens, targets, eager_warmup=None, grad_noise=0.):
    """`case`'s model, its graph path (`replay`, captured by `bench.graphed_step` on a GPU; in a dry run the same step run eagerly with the
    same warm-ups) and two eager copies that took `eager_warmup` (default `bench.GRAPH_WARMUP`) steps: what `run` compares."""
    model = build(case, tokens)
    eager, eager2 = copy.deepcopy(model), copy.deepcopy(model)
    start = [p.detach().float().clone() for p in model.parameters()]
    eager_opt, eager2_opt = adamw(eager), adamw(eager2)
    steps = [eager_step(eager, eager_opt, tokens, targets), eager_step(eager2, eager2_opt, tokens, targets)]
    if DEV.type == 'cuda':
        replay = bench.graphed_step(model, tokens, targets)   # GRAPH_WARMUP warm-up steps, then the capture
        graph_opt = replay.__self__.opt
        if ARGS.repro: replay.__self__.fn = replay.__self__.opt = graph_opt = None; gc.collect()   # the bug: nothing keeps the optimizer the graph reads and writes
    else:   # dry run: no graph; the step run eagerly, with the warm-up steps `graphed` takes
        graph_opt = adamw(model)
        replay = eager_step(model, graph_opt, tokens, targets, grad_noise, torch.Generator().manual_seed(1))
        for _ in range(bench.GRAPH_WARMUP): replay()
    for step in steps:   # the eager copies take the warm-up steps too
        for _ in range(bench.GRAPH_WARMUP if eager_warmup is None else eager_warmup): step()
    return dict(model=model, eager=eager, eager2=eager2, start=start, replay=replay, steps=steps, graph_opt=graph_opt, eager_opt=eager_opt)

def run(c, rec):
    "Replay `c`'s graph `--replays` times, each eager copy one step after each; fill `rec` (steps, change_err, floor_err, rel_err, ms, ok)."
    counts = lambda: (opt_steps(c['graph_opt']) if c['graph_opt'] is not None else None, opt_steps(c['eager_opt']))
    errs, floors, maxes, ms = [], [], [], []
    rec['steps_before'] = counts()
    for _ in range(ARGS.replays):
        t = time.perf_counter(); c['replay'](); bench.sync(); ms.append((time.perf_counter() - t) * 1e3)
        for step in c['steps']: step()
        bench.sync()
        graph_params, eager_params, eager2_params = (list(c[k].parameters()) for k in ('model', 'eager', 'eager2'))
        errs.append(change_err(c['start'], graph_params, eager_params)); floors.append(change_err(c['start'], eager2_params, eager_params))
        maxes.append(rel_change_err(c['start'], graph_params, eager_params))
        rec['replays'] += 1
    rec.update(steps=counts(), change_err=max(errs), change_errs=errs, floor_err=max(floors), floor_errs=floors, rel_err=max(maxes), rel_errs=maxes,
               ms=statistics.median(ms))
    problems = []
    if rec['steps'][0] is not None and rec['steps'][0] != rec['steps'][1]: problems.append(f"steps taken: graph {rec['steps'][0]}, eager {rec['steps'][1]}")
    if max(errs) > ARGS.tol: problems.append(f"change_err {max(errs):.2e} > --tol {ARGS.tol:g} (eager against eager: {max(floors):.2e})")
    rec.update(ok=not problems, error='; '.join(problems) or None)
    return rec

def main():
    s = STEP
    torch.manual_seed(0)
    tokens = torch.randint(0, s['vocab'], (s['batch'], s['seq'] + 1), device=DEV)
    tokens, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    cases, results = {}, []
    for case in ('dense', 'block_sparse'):   # built and captured first, both, as the bench does: the second capture empties the cache
        rec = dict(case=case, ok=False, error=None, steps=None, change_err=None, rel_err=None, replays=0, warmup=bench.GRAPH_WARMUP, d_model=s['d_model'],
                   n_layers=s['n_layers'], tokens=s['batch'] * s['seq'], block=s['blocks'][0] if case == 'block_sparse' else None, repro=ARGS.repro,
                   device=bench.DEVICE_NAME, launch_blocking=os.environ.get('CUDA_LAUNCH_BLOCKING') == '1')
        try: cases[case] = (rec, prepare(case, tokens, targets))
        except Exception as e:
            traceback.print_exc(); rec['error'] = f"{type(e).__name__}: {e}"[:300]; results.append(rec); print(json.dumps(rec), flush=True)
    poisoned = None
    for case, (rec, c) in cases.items():
        if poisoned: rec['error'] = f"not run: {poisoned}"
        else:
            try: run(c, rec)
            except Exception as e:   # a CUDA error poisons the context: the next case cannot run after it
                traceback.print_exc(); rec['error'] = f"{type(e).__name__}: {e}"[:300]; poisoned = f"the {case} case failed first"
        results.append(rec); print(json.dumps(rec), flush=True)
    del cases
    if ARGS.dry_run: results += controls(tokens, targets)
    return results

def controls(tokens, targets):
    """Dry run, dense case: the check fails an eager reference one warm-up step short (`miscount`, as a miscounted warm-up would),
    and passes gradients perturbed by 1e-3 relative (`noise`, as bf16 kernels that differ between capture and eager would),
    while the old maximum (`rel_err`) reads large there. Each record's `ok`: the control behaved as expected."""
    out = []
    for name, kw in (('miscount', dict(eager_warmup=bench.GRAPH_WARMUP - 1)), ('noise', dict(grad_noise=1e-3))):
        rec = run(prepare('dense', tokens, targets, **kw), dict(case=f'control_{name}', replays=0, warmup=bench.GRAPH_WARMUP, device=bench.DEVICE_NAME))
        passed = rec['ok']
        rec.update(check_passed=passed, ok=(not passed and rec['steps'][0] != rec['steps'][1]) if name == 'miscount' else passed)
        out.append(rec); print(json.dumps(rec), flush=True)
    return out

if __name__ == '__main__':
    t0 = time.time()
    results = main()
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    sys.exit(0 if len(results) >= 2 and all(r['ok'] for r in results) else 1)
