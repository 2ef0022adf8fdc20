"""Memory of the fused LSH-4 layer and of the ReformerLM training step, measured on the CPU, per token.

A CPU proxy for `tools/bench_attention.py`'s GPU memory records: the same cases (attention: one `LSHSelfAttention`, batch 1,
d_model 512, 8 heads x 64, bucket 64, 4 rounds, causal, bf16 input and output gradient under bf16 autocast, forward +
backward; model: ReformerLM 6 x 512, d_ff 2048, vocabulary 256, reversible, LSH-4, one AdamW step under bf16 autocast)
at small lengths, with the Triton kernels run by Triton's interpreter (`TRITON_INTERPRET=1`, set here before torch and
Triton are imported). It measures, over one step (the model's optimizer state made before it):

- `saved_bytes`: the bytes of distinct tensors autograd saves for backward in the forward pass (parameters excluded;
  `SavedTensorBytes`);
- `peak_bytes`: the peak of the live bytes of the tensors the step itself allocates (the CPU allocator's running total
  during the step, from `torch.profiler` with `profile_memory`: what the GPU snapshots' `peak_breakdown` reports), and the
  allocations alive at that moment grouped by the operator that made them (`--top`).

Two lengths give bytes per token (the slope) and a constant; the fit is extrapolated to the GPU lengths (`--target`).
Length-dependent settings follow the target, not the CPU length: the backward's float32 sums get the head group they
would have at the target (`lsh_kernel.SUMS_BYTES` scaled by n / target) and the model's feed-forward the pieces the
benchmark gives it at the target (`max(1, target // 65536)`). On the CPU the kernels would compute bfloat16 in float32
(`_work_dtype`: the interpreter's bfloat16 dot is wrong) and copy q and v to float32; that copy exists only here, so by
default it is switched off (the values are then wrong, the allocations those of the GPU); `--exact-dtype` keeps it.

    python tools/mem_cpu.py --case attn --n 1024,2048 --target 65536,1048576
    python tools/mem_cpu.py --case model --n 1024,2048 --target 1048576 --out FILE.jsonl
"""
import os
os.environ.setdefault('TRITON_INTERPRET', '1')     # before triton is imported (by reformer_rigl's attention)
import argparse, contextlib, json
import torch, torch.nn.functional as F

GiB = 2**30

def live_peak(step, top=12):
    "Run `step()` under the profiler's memory recorder: `(peak bytes of its own allocations, [(allocating op, bytes alive at the peak)])`."
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: step()
    allocs = []                                      # (time, bytes (+ alloc, - free), address, op)
    def walk(e, op):
        fields = e.extra_fields
        if type(fields).__name__ == '_ExtraFields_Allocation': allocs.append((e.start_time_ns, fields.alloc_size, fields.ptr, op))
        for c in e.children: walk(c, op if op != '?' or not e.name.startswith('aten::') else e.name)
    for e in prof.profiler.kineto_results.experimental_event_tree(): walk(e, '?')
    allocs.sort(key=lambda a: a[0])
    live, cur, peak, at_peak = {}, 0, 0, {}          # the step's own blocks (frees of older ones ignored), as `peak_breakdown`
    for _, size, ptr, op in allocs:
        if size > 0: live[ptr] = (size, op); cur += size
        elif ptr in live: cur -= live.pop(ptr)[0]
        if cur > peak: peak, at_peak = cur, dict(live)
    groups = {}
    for size, op in at_peak.values(): groups[op] = groups.get(op, 0) + size
    return peak, sorted(groups.items(), key=lambda kv: -kv[1])[:top]

def scale_sums(n, target):
    "Give the fused backward's float32 sums at length `n` the head group they have at length `target`; returns the old bound."
    from reformer_rigl.reformer import lsh_kernel
    old = lsh_kernel.SUMS_BYTES
    lsh_kernel.SUMS_BYTES = max(1, old * n // target)
    return old

def attention_step(n):
    "The benchmark's `lsh4_fused_bf16` case on the CPU: one forward + backward, bf16 input and output gradient, bf16 autocast."
    from reformer_rigl.reformer.attention import LSHSelfAttention
    layer = LSHSelfAttention(512, 8, bucket_size=64, n_hashes=4, causal=True, impl='fused')
    x = torch.randn(1, n, 512, dtype=torch.bfloat16, requires_grad=True)
    grad = torch.randn(1, n, 512, dtype=torch.bfloat16)
    def step(saved=contextlib.nullcontext()):
        with saved, torch.autocast('cpu', dtype=torch.bfloat16): y = layer(x)
        y.backward(grad.to(y.dtype))
        x.grad = None; layer.zero_grad(set_to_none=True)
    return step, list(layer.parameters())

def model_step(n, ff_chunks=1, n_layers=6):
    "The benchmark's `reformerlm_fused_bf16` case on the CPU: one AdamW step on `n` random tokens under bf16 autocast."
    from reformer_rigl.reformer.models import ReformerLM
    model = ReformerLM(256, 512, n_layers, 8, 2048, n, bucket_size=64, n_hashes=4, reversible=True, ff_chunks=ff_chunks, impl='fused')
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(0, 256, (1, n + 1))
    def step(saved=contextlib.nullcontext()):
        with saved, torch.autocast('cpu', dtype=torch.bfloat16): logits = model(tokens[:, :-1])
        F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten()).backward()
        opt.step(); opt.zero_grad(set_to_none=True)
    for p in model.parameters(): p.grad = torch.zeros_like(p)
    opt.step(); opt.zero_grad(set_to_none=True)                 # the optimizer's state exists before the measured step
    return step, list(model.parameters())

def measure(case, n, target, exact_dtype=False, top=12, n_layers=6):
    "One record: the saved and peak bytes of `case` at length `n`, with the length-dependent settings of length `target`."
    from reformer_rigl.reformer import lsh_kernel
    from reformer_rigl.reformer.reversible import SavedTensorBytes
    torch.manual_seed(0)
    old_sums, old_work = scale_sums(n, target), lsh_kernel._work_dtype
    if not exact_dtype: lsh_kernel._work_dtype = lambda dtype: dtype
    try:
        ff_chunks = max(1, target // 65536)
        step, params = attention_step(n) if case == 'attn' else model_step(n, ff_chunks, n_layers)
        saved = SavedTensorBytes(exclude=params)                 # counts what the forward pass saves
        peak, at_peak = live_peak(lambda: step(saved), top)
    finally: lsh_kernel.SUMS_BYTES, lsh_kernel._work_dtype = old_sums, old_work
    rec = dict(kind='cpu_memory', case=case, n=n, target=target, saved_bytes=saved.nbytes, peak_bytes=peak,
               at_peak=[[op, b] for op, b in at_peak], exact_dtype=exact_dtype, device='cpu', torch=torch.__version__)
    if case == 'model': rec.update(ff_chunks=ff_chunks, n_layers=n_layers)
    return rec

def extrapolate(a, b, target):
    "Bytes per token and the constant from records `a`, `b` (two lengths), and the saved and peak GiB they predict at `target`."
    out = {}
    for key in ('saved_bytes', 'peak_bytes'):
        per_token = (b[key] - a[key]) / (b['n'] - a['n'])
        const = a[key] - per_token * a['n']
        out[key.replace('_bytes', '_per_token')] = round(per_token, 1)
        out[key.replace('_bytes', '_gib')] = round((const + per_token * target) / GiB, 3)
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--case', default='attn', choices=('attn', 'model'))
    p.add_argument('--n', default='1024,2048', help='two CPU lengths (multiples of 128)')
    p.add_argument('--target', default='65536,1048576', help='GPU lengths the fit is extrapolated to')
    p.add_argument('--layers', type=int, default=6, help='layers of the model case')
    p.add_argument('--exact-dtype', action='store_true', help='keep the interpreter-only float32 copies of q and v')
    p.add_argument('--top', type=int, default=12, help='allocating operators listed at the peak')
    p.add_argument('--label', default='', help='a word stored in each record (e.g. before / after)')
    p.add_argument('--out', default='', help='JSON lines file to append the records to')
    a = p.parse_args()
    lengths = [int(v) for v in a.n.split(',')]
    if len(lengths) != 2: p.error('--n takes two lengths')
    for target in (int(v) for v in a.target.split(',')):
        recs = [measure(a.case, n, target, a.exact_dtype, a.top, a.layers) for n in lengths]
        fit = dict(kind='cpu_memory_fit', case=a.case, n=lengths, target=target, **extrapolate(*recs, target))
        for rec in (*recs, fit):
            if a.label: rec['label'] = a.label
            print(json.dumps(rec), flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(rec) + '\n')

if __name__ == '__main__': main()
