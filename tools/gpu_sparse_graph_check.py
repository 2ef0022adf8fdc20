"""Whether the LM training step of tools/bench_sparse_gpu.py (kind 'step') captured whole in a CUDA graph replays correctly, dense and block-sparse.

For each case (`dense`, then `block_sparse`: the feed-forward layers `BlockSparseLinear` at the step's density and first
tile) a model is built as the bench builds it, with an eager copy. Both steps are captured first, as the bench does
(`bench_sparse_gpu.graphed_step`: three warm-up steps on a side stream, then the capture; the second capture's
`torch.cuda.graph` empties the allocator's cache, which is what turned the optimizer state the first graph had lost
into an illegal memory access in the run of 2026-12-06 16:07). Then each graph is replayed `--replays` times with a
`torch.cuda.synchronize()` after each, the eager copy taking the same steps (the same capturable fused AdamW, the
same loss); after each replay the parameters' change since the start, graph against eager, relative to the
largest eager change (`rel_err`, the worst over the replays; bf16 autocast and atomics in attention's backward leave
~1e-3). One JSON line per case: case, ok, error, rel_err, replays, ms (median replay).

    python tools/gpu_sparse_graph_check.py                        # the bench's STEP config (d 1024, 6 layers, 16K tokens), < 60 s
    python tools/gpu_sparse_graph_check.py --small                # 2 layers, d 256, 4K tokens
    CUDA_LAUNCH_BLOCKING=1 python tools/gpu_sparse_graph_check.py  # a failing kernel named where it fails
    python tools/gpu_sparse_graph_check.py --repro                # the old bug on purpose: the graphs lose their optimizer (expect ok false, an illegal access)
    python tools/gpu_sparse_graph_check.py --dry-run              # no GPU: builds the models and runs the eager steps on the CPU (interpreter), captures nothing
"""
import argparse, copy, gc, json, os, statistics, sys, time, traceback

def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--replays', type=int, default=5, help="replays of each graph, each checked against one eager step")
    p.add_argument('--tol', type=float, default=2e-2, help="largest rel_err that passes")
    p.add_argument('--small', action='store_true', help="a smaller LM: 2 layers, d_model 256, d_ff 1024, 2 x 2048 tokens")
    p.add_argument('--repro', action='store_true', help="drop what each graph keeps alive (its optimizer) after capture, as the bench did: the failure on purpose")
    p.add_argument('--dry-run', action='store_true', help="CPU: the models and eager steps at tiny sizes (Triton interpreter); no graph")
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

def eager_step(model, opt, tokens, targets):
    "The step `graphed_step` captures, run eagerly."
    def step():
        opt.zero_grad(set_to_none=True)
        bench.lm_loss(model, tokens, targets, cache=False).backward()
        opt.step()
    return step

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
    "Largest |graph change - eager change| over the largest |eager change|, all parameters together."
    diff = max((g.detach().float() - e.detach().float()).abs().max().item() for g, e in zip(graph_params, eager_params))
    scale = max((e.detach().float() - s).abs().max().item() for s, e in zip(start, eager_params))
    return diff / max(scale, 1e-30)

def main():
    s = STEP
    torch.manual_seed(0)
    tokens = torch.randint(0, s['vocab'], (s['batch'], s['seq'] + 1), device=DEV)
    tokens, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    cases, results = {}, []
    for case in ('dense', 'block_sparse'):   # built and captured first, both, as the bench does: the second capture empties the cache
        rec = dict(case=case, ok=False, error=None, rel_err=None, replays=0, d_model=s['d_model'], n_layers=s['n_layers'], tokens=s['batch'] * s['seq'],
                   block=s['blocks'][0] if case == 'block_sparse' else None, repro=ARGS.repro, device=bench.DEVICE_NAME,
                   launch_blocking=os.environ.get('CUDA_LAUNCH_BLOCKING') == '1')
        try:
            model = build(case, tokens)
            eager = copy.deepcopy(model)
            start = [p.detach().float().clone() for p in model.parameters()]
            eager_opt = adamw(eager)
            step = eager_step(eager, eager_opt, tokens, targets)
            if DEV.type == 'cuda':
                replay = bench.graphed_step(model, tokens, targets)   # three warm-up steps, then the capture
                if ARGS.repro: replay.__self__.fn = None; gc.collect()   # the bug: nothing keeps the optimizer the graph reads and writes
            else: replay = eager_step(model, adamw(model), tokens, targets); [replay() for _ in range(3)]   # dry run: no graph
            for _ in range(3): step()   # the eager copy takes the warm-up steps too
            cases[case] = (rec, model, eager, start, replay, step)
        except Exception as e:
            traceback.print_exc(); rec['error'] = f"{type(e).__name__}: {e}"[:300]; results.append(rec); print(json.dumps(rec), flush=True)
    poisoned = None
    for case, (rec, model, eager, start, replay, step) in cases.items():
        if poisoned: rec['error'] = f"not run: {poisoned}"
        else:
            try:
                errs, ms = [], []
                for _ in range(ARGS.replays):
                    t = time.perf_counter(); replay(); bench.sync(); ms.append((time.perf_counter() - t) * 1e3)
                    step(); bench.sync()
                    errs.append(rel_change_err(start, list(model.parameters()), list(eager.parameters())))
                    rec['replays'] += 1
                rec.update(rel_err=max(errs), rel_errs=errs, ms=statistics.median(ms), ok=max(errs) <= ARGS.tol)
                if not rec['ok']: rec['error'] = f"rel_err {max(errs):.2e} > --tol {ARGS.tol:g}"
            except Exception as e:   # a CUDA error poisons the context: the next case cannot run after it
                traceback.print_exc(); rec['error'] = f"{type(e).__name__}: {e}"[:300]; poisoned = f"the {case} case failed first"
        results.append(rec); print(json.dumps(rec), flush=True)
    return results

if __name__ == '__main__':
    t0 = time.time()
    results = main()
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    sys.exit(0 if len(results) == 2 and all(r['ok'] for r in results) else 1)
