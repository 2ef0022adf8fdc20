"""Memory of the fused LSH-4 layer and of the ReformerLM training step, measured on the CPU, in bytes per token.

A CPU proxy for `tools/bench_attention.py`'s GPU memory records: the same cases (attention: one `LSHSelfAttention`, batch 1,
d_model 512, 8 heads x 64, bucket 64, 4 rounds, causal, bf16 input and output gradient under bf16 autocast, forward +
backward; model: ReformerLM 6 x 512, d_ff 2048, vocabulary 256, reversible, LSH-4, one AdamW step under bf16 autocast,
its optimizer state made before) at small lengths, the Triton kernels run by Triton's interpreter (`TRITON_INTERPRET=1`,
set here before Triton is imported). Over one step it measures

- `saved`: the bytes of the distinct tensors autograd saves for backward in the forward pass (parameters excluded;
  `SavedTensorBytes`);
- `peak`: the peak of the live bytes of the tensors the step itself allocates (the CPU allocator's allocations and
  frees during the step, from `torch.profiler` with `profile_memory`: what `peak_breakdown` replays from a GPU
  snapshot), and the allocations alive then, grouped by the operator that made them.

Both are counted twice: all tensors, and only the tensors whose size grows with the length (`*_per_token`: a length
`n` that is not a power of two, e.g. 1152 = 9 x 128, and a tensor is per-token when its bytes are a multiple of `n`;
parameters, their gradients, their autocast copies and the optimizer's state never are). At the GPU's lengths the
per-token part is nearly all of it, so `per_token x target` is the prediction for the step's own peak (`pred_gib`;
the GPU's `max_allocated_gib` adds what existed before the step: the input and its gradient, the weights). Settings
that depend on the length follow the target, not the CPU length: the backward's head groups (`lsh_kernel.SUMS_BYTES`
and `GROUP_PROGRAMS` scaled by n / target) and the model's feed-forward pieces (`max(1, target // 65536)`). Under the
interpreter the kernels would compute bfloat16 in float32 (`_work_dtype`) with float32 copies of q and v that exist
only on the CPU; they are switched off by default (the values are then wrong, the allocations those of a GPU);
`--exact-dtype` keeps them. The interpreter leaves each launch's arguments in reference cycles, which kept the forward
pass's float32 partial sums alive through the backward pass here; each launch collects them (`collect_after_launches`).
The model case takes `--layers` blocks (the peak of a reversible stack grows with depth
only by each block's recorded buckets, 64 bytes per token and block at 8 heads and 4 rounds).

    python tools/mem_cpu.py --case attn --n 1152 --target 65536,1048576
    python tools/mem_cpu.py --case model --layers 2 --n 1152 --target 1048576 --out FILE.jsonl
"""
import os
os.environ.setdefault('TRITON_INTERPRET', '1')     # before triton is imported (by reformer_rigl's attention)
import argparse, contextlib, json
import torch, torch.nn.functional as F

GiB = 2**30

def live_peak(step, n, top=12):
    """Run `step()` under the profiler's memory recorder: the peak of the live bytes of its own allocations, and of those
    whose size is a multiple of `n` (per token), each with the allocating operators alive then (bytes per operator)."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: step()
    allocs = []                                      # (time, bytes (+ alloc, - free), address, op)
    def walk(e, op):
        fields = e.extra_fields
        if type(fields).__name__ == '_ExtraFields_Allocation': allocs.append((e.start_time_ns, fields.alloc_size, fields.ptr, op))
        for c in e.children: walk(c, op if op != '?' or not e.name.startswith('aten::') else e.name)
    for e in prof.profiler.kineto_results.experimental_event_tree(): walk(e, '?')
    allocs.sort(key=lambda a: a[0])
    out = {}
    for kind, keep in (('all', lambda size: True), ('per_token', lambda size: size % n == 0)):
        live, cur, peak, at_peak = {}, 0, 0, {}      # the step's own blocks (frees of older ones ignored), as `peak_breakdown`
        for _, size, ptr, op in allocs:
            if size > 0:
                if not keep(size): continue
                live[ptr] = (size, op); cur += size
            elif ptr in live: cur -= live.pop(ptr)[0]
            if cur > peak: peak, at_peak = cur, dict(live)
        groups = {}
        for size, op in at_peak.values(): groups[op] = groups.get(op, 0) + size
        out[kind] = peak, sorted(groups.items(), key=lambda kv: -kv[1])[:top]
    return out

class PerTokenSaved:
    "`SavedTensorBytes` that also adds up the saved storages whose bytes are a multiple of `n`."
    def __init__(self, params, n):
        from reformer_rigl.reformer.reversible import SavedTensorBytes
        self.inner, self.n = SavedTensorBytes(exclude=params), n
    def __enter__(self): self.inner.__enter__(); return self
    def __exit__(self, *exc): self.inner.__exit__(*exc)
    @property
    def nbytes(self): return self.inner.nbytes
    @property
    def per_token_bytes(self): return sum(b for b in self.inner.storages.values() if b % self.n == 0)

def collect_after_launches():
    "Make each interpreted kernel launch collect garbage when it returns: the interpreter leaves its arguments in reference cycles, which kept a kernel's temporary buffers alive past their use (a GPU frees them at once)."
    import gc
    from triton.runtime import interpreter
    launch = interpreter.GridExecutor.__call__
    if getattr(launch, 'collects', False): return
    def call(self, *args, **kwargs):
        try: return launch(self, *args, **kwargs)
        finally: gc.collect()
    call.collects = True
    interpreter.GridExecutor.__call__ = call

@contextlib.contextmanager
def target_settings(n, target, exact_dtype=False):
    "The fused backward's head groups at length `n` as they are at length `target`; bfloat16 kept as such unless `exact_dtype`."
    from reformer_rigl.reformer import lsh_kernel
    names = [k for k in ('SUMS_BYTES', 'GROUP_PROGRAMS') if hasattr(lsh_kernel, k)]   # GROUP_PROGRAMS: newer code only
    old = {k: getattr(lsh_kernel, k) for k in names}, lsh_kernel._work_dtype
    for k, v in old[0].items(): setattr(lsh_kernel, k, max(1, v * n // target))
    if not exact_dtype: lsh_kernel._work_dtype = lambda dtype: dtype
    try: yield
    finally:
        for k, v in old[0].items(): setattr(lsh_kernel, k, v)
        lsh_kernel._work_dtype = old[1]

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
    "One record: the saved and peak bytes of `case` at length `n` (all, and per token), with the settings of length `target`."
    torch.manual_seed(0)
    collect_after_launches()
    ff_chunks = max(1, target // 65536)
    with target_settings(n, target, exact_dtype):
        step, params = attention_step(n) if case == 'attn' else model_step(n, ff_chunks, n_layers)
        saved = PerTokenSaved(params, n)                         # counts what the forward pass saves
        peaks = live_peak(lambda: step(saved), n, top)
    (peak, at_peak), (peak_tok, at_peak_tok) = peaks['all'], peaks['per_token']
    rec = dict(kind='cpu_memory', case=case, n=n, target=target, saved_bytes=saved.nbytes, peak_bytes=peak,
               saved_per_token=round(saved.per_token_bytes / n, 1), peak_per_token=round(peak_tok / n, 1),
               pred_saved_gib=round(saved.per_token_bytes / n * target / GiB, 3), pred_gib=round(peak_tok / n * target / GiB, 3),
               at_peak_per_token=[[op, round(b / n, 1)] for op, b in at_peak_tok], at_peak=[[op, b] for op, b in at_peak],
               exact_dtype=exact_dtype, device='cpu', torch=torch.__version__)
    if case == 'model': rec.update(ff_chunks=ff_chunks, n_layers=n_layers)
    return rec

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--case', default='attn', choices=('attn', 'model'))
    p.add_argument('--n', default='1152', help='CPU lengths (comma-separated): multiples of 128, not powers of two')
    p.add_argument('--target', default='65536,1048576', help='GPU lengths the per-token bytes are extrapolated to')
    p.add_argument('--layers', type=int, default=6, help='layers of the model case')
    p.add_argument('--exact-dtype', action='store_true', help='keep the interpreter-only float32 copies of q and v')
    p.add_argument('--top', type=int, default=12, help='allocating operators listed at the peak')
    p.add_argument('--label', default='', help='a word stored in each record (e.g. before / after)')
    p.add_argument('--out', default='', help='JSON lines file to append the records to')
    a = p.parse_args()
    for target in (int(v) for v in a.target.split(',')):
        for n in (int(v) for v in a.n.split(',')):
            rec = measure(a.case, n, target, a.exact_dtype, a.top, a.layers)
            if a.label: rec['label'] = a.label
            print(json.dumps(rec), flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(rec) + '\n')

if __name__ == '__main__': main()
