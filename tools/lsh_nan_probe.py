#!/usr/bin/env python3
"""Where the fused LSH path gives NaN on a GPU (chapter 08: bucket size 32, 4 rounds, bf16, not causal, at 4 warps).

Each case compares the fused path with the plain one on the same buckets (as chapter 08's `compare_paths`) and, after
the forward alone, counts NaN in the output and in the rows' maxima and denominators; it also checks the chunk numbers
`_sort_info` made (`chunk_of` read in sorted order must be `slot // s`). Cases vary one setting at a time from the
failing one: rounds, bucket size, dtype, causality, the duplicate rule, `FAST_LAUNCH` and the warps.
`--fresh` runs the failing case alone first, in its own process, before anything else compiled.

    python tools/lsh_nan_probe.py --out probe.jsonl [--fresh] [--device cuda]
"""
import argparse, json, os, subprocess, sys, time
import torch

def case(b=2, h=4, n=512, d=64, s=32, r=4, causal=False, dtype='bfloat16', rule='count', dedup=True, fast=True,
         warps=None, seed=0, device='cuda'):
    "One comparison; returns a dict of what was found."
    from reformer_rigl import core
    from reformer_rigl.reformer import lsh_kernel as K
    from reformer_rigl.reformer.attention import lsh_attention
    from reformer_rigl.reformer.hashing import random_rotations, lsh_buckets
    core.FAST_LAUNCH, K.DEDUP_RULE = fast, rule
    K.NUM_WARPS.clear()
    if warps: K.NUM_WARPS.update({('fwd', s): warps, ('bwd', s): warps})
    dt = getattr(torch, dtype)
    torch.manual_seed(seed)
    qk, v = torch.randn(b, h, n, d, device=device), torch.randn(b, h, n, d, device=device)
    rot = random_rotations(h, r, d, n // s, device=device, seed=seed)
    buckets = lsh_buckets(qk, rot, None)
    grad = torch.randn(b, h, n, d, device=device)
    res = dict(b=b, h=h, n=n, d=d, s=s, r=r, causal=causal, dtype=dtype, rule=rule, dedup=dedup, fast=fast,
               warps=warps or K._warps('fwd', s), seed=seed)
    order, chunk_of, key_ok, n_real = K._sort_info(buckets, s, None, dedup)
    if chunk_of is not None:
        want = (torch.arange(n, device=device) // s).to(chunk_of.dtype)
        res['chunks_ok'] = bool((chunk_of.gather(-1, order.long()) == want).all())
    q = K._rows_contiguous(qk.to(K._work_dtype(dt)))
    vv = K._rows_contiguous(v.to(K._work_dtype(dt)))
    out, mx, den = K._forward(q, vv, order, chunk_of, key_ok, n_real, s, causal, rule)
    if device == 'cuda': torch.cuda.synchronize()   # the counts below read finished kernels
    res.update(fwd_nan_out=int(out.isnan().sum()), fwd_nan_mx=int(mx.isnan().sum()), fwd_nan_den=int(den.isnan().sum()),
               fwd_inf_mx=int(mx.isinf().sum()), den_min=float(den.min()))
    outs = []
    for impl in ('plain', 'fused'):
        q1, v1 = qk.to(dt).clone().requires_grad_(), v.to(dt).clone().requires_grad_()
        o = lsh_attention(q1, v1, s, causal=causal, buckets=buckets, dedup=dedup, impl=impl)
        o.backward(grad.to(dt))
        outs.append((o.detach().float(), q1.grad.float(), v1.grad.float()))
    for name, a, c in zip(('out', 'dqk', 'dv'), *outs):
        res[f'err_{name}'] = float((a - c).abs().max())
        res[f'nan_{name}'] = int(c.isnan().sum())
        if res[f'nan_{name}']:   # where: which heads, rounds of positions
            idx = c.isnan().nonzero()
            res[f'nan_{name}_heads'] = sorted(set(idx[:, 1].tolist()))[:8]
            res[f'nan_{name}_pos'] = [int(idx[:, 2].min()), int(idx[:, 2].max())]
    return res

def cases():
    "The failing case, then one setting changed at a time."
    base = dict()
    yield base
    yield dict(fast=False)
    for w in (2, 4, 8): yield dict(warps=w)   # 4 gave NaN on an H100 (run h100-2026-12-07d); the default is now 8
    for r in (1, 2, 3, 8): yield dict(r=r)
    for s in (16, 64): yield dict(s=s)
    for dtype in ('float16', 'float32'): yield dict(dtype=dtype)
    yield dict(causal=True)
    yield dict(rule='first')
    yield dict(dedup=False)
    for seed in (1, 2): yield dict(seed=seed)
    yield dict(b=1, h=1)
    yield dict(n=256)
    yield dict(n=2048)
    yield dict(d=32)
    yield dict(fast=False, warps=4)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='lsh_nan_probe.jsonl')
    p.add_argument('--device', default='cuda')
    p.add_argument('--fresh', action='store_true', help='first the failing case alone in a new process')
    p.add_argument('--one', default=None, help='run one case given as JSON and print it (used by --fresh)')
    a = p.parse_args()
    if a.one is not None:
        print(json.dumps(case(device=a.device, **json.loads(a.one)))); return
    git = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip() or None
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'
    with open(a.out, 'a') as f:
        def write(kind, r):
            r = dict(kind=kind, device=card, git=git, triton=__import__('triton').__version__, torch=torch.__version__, **r)
            f.write(json.dumps(r) + '\n'); f.flush()
            bad = any(r.get(k) for k in ('nan_out', 'nan_dqk', 'nan_dv', 'fwd_nan_out', 'fwd_nan_mx', 'fwd_nan_den'))
            print(('NaN ' if bad else 'ok  ') + json.dumps(r), flush=True)
        if a.fresh:
            t = time.time()
            pr = subprocess.run([sys.executable, __file__, '--one', '{}', '--device', a.device], capture_output=True, text=True)
            line = pr.stdout.strip().splitlines()[-1] if pr.returncode == 0 and pr.stdout.strip() else None
            write('fresh', json.loads(line) if line else dict(error=pr.stderr[-2000:], seconds=time.time() - t))
        for c in cases():
            try: write('sweep', case(device=a.device, **c))
            except Exception as e: write('sweep', dict(c, error=f'{type(e).__name__}: {e}'[:500]))

if __name__ == '__main__': main()
