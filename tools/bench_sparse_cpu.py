"""CPU inference of sparse layers: dense `nn.Linear` against the condensed form (`reformer_rigl.sparse.condensed`), interleaved.

Issue 15, item 3. For each case a model is built (a single `nn.Linear(d, d)`, or a feed-forward stack of `--ff-blocks`
blocks Linear(d, 4d), ReLU, Linear(4d, d)), every linear weight is masked at the density (mask kinds: 'unstructured',
'fan_in' = the same number of kept inputs per output neuron, 'block16'/'block32' = whole 16x16 or 32x32 tiles), and the
condensed copy is made with `condense(model, masks)`. Outputs are checked equal (float32, 1e-4) before any timing.

Timing, under `torch.no_grad()`: after warm-up, `--reps` rounds; in each round dense and condensed are timed back to back
(the order alternates between rounds), each sample being the mean of enough calls to last about 2 ms. `ms` is the median
over rounds; `speedup` the median over rounds of (dense / condensed) of the same round, so the load changes of a shared
machine hit both. The 1-minute load average before and after each case (`load`) and the share of the CPU that other
processes used just before it (`others_busy`, from /proc/stat while this one sleeps) are recorded; with `--patience`,
each case first waits for that share to fall to `--quiet-below`.

With `--forms`, other forms are timed against dense on single linears at density 0.1, to show why CSR with 32-bit
indices was chosen: 'csr_int64' (PyTorch's default index type), 'csr_mm' (32-bit, but a matrix product even for one
row), 'bsr' (block CSR, on block masks), 'gather' (constant fan-in condensed: each output gathers its k inputs).

One JSON line per measurement appended to `--out`: kind 'cpu_infer', case 'dense_cpu' or 'condensed_cpu', n (batch
size), d_in/d_out (layer, or the stack's model width), density, block (null or the tile size), ms, device, and extras
(layers, d_ff, mask, format, speedup, threads, load, run).

    PYTHONPATH=. python tools/bench_sparse_cpu.py                  # the full run (a few minutes on 2 cores)
    PYTHONPATH=. python tools/bench_sparse_cpu.py --forms          # also the alternative forms
    PYTHONPATH=. python tools/bench_sparse_cpu.py --quick --out -  # smoke test, seconds, nothing written
"""
import argparse, json, os, platform, statistics, time, warnings
from pathlib import Path
import torch, torch.nn as nn, torch.nn.functional as F
from reformer_rigl.sparse.condensed import condense

OUT = Path(__file__).resolve().parents[1] / 'nbs/sparse/gpu_runs/sparse_speed/records.jsonl'
warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta')

def cpu_name():
    "The CPU's model name from /proc/cpuinfo (or platform's)."
    try: return next(l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name'))
    except Exception: return platform.processor() or 'unknown'

def make_mask(shape, density, kind, gen):
    "A bool mask of `shape` keeping `density` of the entries: 'unstructured', 'fan_in' or 'block<b>' tiles."
    n_out, n_in = shape
    if kind == 'unstructured':
        m = torch.zeros(n_out * n_in, dtype=torch.bool)
        m[torch.randperm(n_out * n_in, generator=gen)[:round(density * n_out * n_in)]] = True
        return m.view(shape)
    if kind == 'fan_in':
        k = max(1, round(density * n_in))
        idx = torch.rand(shape, generator=gen).argsort(1)[:, :k]
        return torch.zeros(shape, dtype=torch.bool).scatter_(1, idx, True)
    b = int(kind.removeprefix('block'))
    grid = make_mask((n_out // b, n_in // b), density, 'unstructured', gen)
    return grid.repeat_interleave(b, 0).repeat_interleave(b, 1)

def build(d, layers, density, kind, seed=0):
    "A dense model (one `nn.Linear(d, d)` when `layers` is 0, else a feed-forward stack) with masked weights, and its masks."
    torch.manual_seed(seed)
    model = nn.Linear(d, d) if layers == 0 else nn.Sequential(
        *[nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(), nn.Linear(4 * d, d)) for _ in range(layers)])
    gen, masks = torch.Generator().manual_seed(seed), {}
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2: masks[n] = make_mask(p.shape, density, kind, gen); p.mul_(masks[n])
    return model.eval(), masks

class TorchSparse(nn.Module):
    "An alternative form of one masked linear, for comparison: 'csr_int64', 'csr_mm', 'bsr' or 'gather'."
    def __init__(self, lin, mask, form, block=None):
        super().__init__()
        w, self.form, self.bias = lin.weight.detach() * mask, form, lin.bias.detach()
        if form == 'gather':  # constant fan-in: indices [out, k] of the kept inputs, values [out, k]
            k = int(mask[0].sum()); self.idx = mask.nonzero()[:, 1].view(-1, k); self.vals = w.gather(1, self.idx)
        elif form == 'bsr':
            s = w.to_sparse_bsr((block, block))
            self.w = torch.sparse_bsr_tensor(s.crow_indices().int(), s.col_indices().int(), s.values(), s.shape, check_invariants=False)
        else:
            s = w.to_sparse_csr()
            idx = torch.int64 if form == 'csr_int64' else torch.int32
            self.w = torch.sparse_csr_tensor(s.crow_indices().to(idx), s.col_indices().to(idx), s.values(), s.shape, check_invariants=False)
    def forward(self, x):
        if self.form == 'gather': return torch.einsum('nok,ok->no', x[:, self.idx], self.vals) + self.bias
        if self.form == 'csr_int64' and x.shape[0] == 1: return torch.addmv(self.bias, self.w, x[0])[None]
        return torch.addmm(self.bias[:, None], self.w, x.t()).t()

def others_busy(window=0.3):
    "Fraction of the machine's CPU time used by others during `window` seconds while this process sleeps."
    def snap():
        v = [int(t) for t in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
        return sum(v), v[3] + v[4]  # all, idle + iowait
    (t0, i0), _, (t1, i1) = snap(), time.sleep(window), snap()
    return round(1 - (i1 - i0) / max(t1 - t0, 1), 2)

def wait_quiet(limit, patience):
    "Wait up to `patience` seconds for others' CPU use to fall to `limit` or below; their use when the case starts."
    t_end, busy = time.time() + patience, others_busy()
    while busy > limit and time.time() < t_end: time.sleep(1.); busy = others_busy()
    return busy

def timed(fn, inner):
    "Mean milliseconds of `inner` calls of `fn`."
    t0 = time.perf_counter()
    for _ in range(inner): fn()
    return (time.perf_counter() - t0) / inner * 1e3

def compare(dense, cond, x, reps):
    "Interleaved timing of `dense(x)` and `cond(x)`: (dense ms, condensed ms, median speedup) after an output check."
    torch.testing.assert_close(cond(x), dense(x), rtol=1e-4, atol=1e-4)
    for _ in range(3): dense(x); cond(x)
    inner = {f: max(1, round(2. / max(timed(lambda: f(x), 1), 1e-3))) for f in (dense, cond)}
    ds, cs = [], []
    for r in range(reps):
        pair = [(dense, ds), (cond, cs)]
        for f, acc in (pair if r % 2 == 0 else pair[::-1]): acc.append(timed(lambda: f(x), inner[f]))
    return statistics.median(ds), statistics.median(cs), statistics.median(d / c for d, c in zip(ds, cs))

def cases(args):
    "(d, layers, density, mask kind, form) of the run."
    if args.quick: return [(256, 0, 0.1, 'unstructured', 'csr'), (128, 2, 0.1, 'fan_in', 'csr'), (256, 0, 0.1, 'block16', 'bsr')]
    out = []
    for d, layers in [] if args.only_forms else [(2048, 0), (4096, 0), (1024, args.ff_blocks), (2048, args.ff_blocks)]:
        if args.models != 'all' and (('ff' if layers else 'linear') + str(d)) not in args.models.split(','): continue
        for density in [float(v) for v in args.densities.split(',')]:
            for kind in ('unstructured', 'fan_in'): out.append((d, layers, density, kind, 'csr'))
            if density <= 0.1:
                for kind in ('block16', 'block32'): out.append((d, layers, density, kind, 'csr'))
    if args.forms or args.only_forms:
        for d in (2048, 4096):
            for kind, forms in [('unstructured', ('csr_int64', 'csr_mm')), ('fan_in', ('gather',)), ('block16', ('bsr',)), ('block32', ('bsr',))]:
                out += [(d, 0, 0.1, kind, f) for f in forms]
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=9, help='interleaved rounds per case')
    p.add_argument('--batches', default='1,8,32')
    p.add_argument('--threads', default=str(torch.get_num_threads()), help='comma-separated thread counts, e.g. 1,2')
    p.add_argument('--ff-blocks', type=int, default=4, help='blocks of the feed-forward stacks')
    p.add_argument('--forms', action='store_true', help='also time the alternative forms')
    p.add_argument('--only-forms', action='store_true', help='time only the alternative forms')
    p.add_argument('--densities', default='0.05,0.1,0.2,0.3')
    p.add_argument('--models', default='all', help="e.g. 'linear2048,ff1024' (all: linear2048, linear4096, ff1024, ff2048)")
    p.add_argument('--quick', action='store_true', help='tiny sizes and 3 rounds: a smoke test')
    p.add_argument('--quiet-below', type=float, default=1., help="before each case, wait for others' CPU use (fraction of all cores) to fall to this")
    p.add_argument('--patience', type=float, default=0., help='seconds to wait for that at most, per case')
    p.add_argument('--out', default=str(OUT), help="JSON lines file to append to ('-': none)")
    args = p.parse_args()
    reps, batches = (3 if args.quick else args.reps), [int(b) for b in args.batches.split(',')]
    run, cpu, recs = time.strftime('%Y-%m-%dT%H:%M:%S'), cpu_name(), []
    print(f"{cpu}, {os.cpu_count()} cores; load average at start: {os.getloadavg()}")
    for threads in [int(t) for t in args.threads.split(',')]:
        torch.set_num_threads(threads)
        device = f"cpu {cpu}, {threads} thread{'s' * (threads > 1)}"
        for d, layers, density, kind, form in cases(args):
            model, masks = build(d, layers, density, kind)
            block = int(kind.removeprefix('block')) if kind.startswith('block') else None
            cond = condense(model, masks, max_density=1.) if form == 'csr' else TorchSparse(model, masks['weight'], form, block)
            for n in batches:
                busy = wait_quiet(args.quiet_below, args.patience)
                x, load0 = torch.randn(n, d), os.getloadavg()[0]
                with torch.no_grad(): d_ms, c_ms, speedup = compare(model, cond, x, reps)
                common = dict(kind='cpu_infer', n=n, d_in=d, d_out=d, density=density, block=block, device=device,
                              layers=max(layers, 1), d_ff=4 * d if layers else None, mask=kind, threads=threads,
                              load=[round(load0, 2), round(os.getloadavg()[0], 2)], others_busy=busy, run=run)
                recs += [dict(common, case='dense_cpu', ms=round(d_ms, 4), format='dense', vs=form),
                         dict(common, case='condensed_cpu', ms=round(c_ms, 4), format=form, speedup=round(speedup, 3))]
                print(f"{threads}t {'ff' + str(layers) if layers else 'linear':7} d={d:5} density={density:<5} {kind:12} {form:9} "
                      f"batch {n:3}: dense {d_ms:8.3f} ms  condensed {c_ms:8.3f} ms  x{speedup:5.2f}  load {common['load']} others {busy}", flush=True)
            del model, cond
    print_table(recs)
    if args.out != '-':
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, 'a') as f: f.writelines(json.dumps(r) + '\n' for r in recs)
        print(f"appended {len(recs)} records to {args.out}")

def print_table(recs):
    "Speedups (dense ms / condensed ms) with one column per batch size, as a markdown table."
    rows, batches = {}, sorted({r['n'] for r in recs})
    for r in recs:
        if r['case'] != 'condensed_cpu': continue
        model = f"ff {r['layers']}x({r['d_in']}->{r['d_ff']}->{r['d_in']})" if r['d_ff'] else f"linear {r['d_in']}x{r['d_in']}"
        rows.setdefault((r['threads'], model, r['density'], r['mask'], r['format']), {})[r['n']] = r['speedup']
    print('\n| threads | model | density | mask | form | ' + ' | '.join(f'batch {n}' for n in batches) + ' |')
    print('|' + '---|' * (5 + len(batches)))
    for (t, m, dens, kind, form), s in rows.items():
        print(f"| {t} | {m} | {dens} | {kind} | {form} | " + ' | '.join(f"{s[n]:.2f}x" if n in s else '' for n in batches) + ' |')

if __name__ == '__main__': main()
