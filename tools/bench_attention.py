"""LSH attention against flash attention and HF transformers' Reformer on one GPU, and ReformerLM against a GPT.

Times forward + backward (attention layers, bf16 input and output under bf16 autocast, batch 1, d_model 512,
8 heads x 64, causal) and one training step (models: 6 x 512, d_ff 2048, AdamW, bf16 autocast, batch 1) side by
side in one run: median of `--reps` after one warm-up, peak memory from the CUDA allocator. `*_fact_*` cases
use factorised buckets (two near-equal factors of n/64), a different hash family. `*_graphed` cases (e.g.
`sdpa_bf16_graphed`, `lsh4_fused_bf16_graphed`) run the layer in bf16 captured as CUDA graphs (no host work). Writes one JSON line per measurement to
`--out` (default nbs/experiments/gpu_runs/attention_bench/records.jsonl) with kind, case, n, ms, peak_gib,
device, torch (plus status and, for a case that could not run, why; on a GPU `held_gib`, what earlier cases left
allocated when the case started, which `peak_gib` includes). The graphed cases run after every other case: the
private memory pools of captured graphs may stay allocated and would enter the later cases' peaks.

`--profile 8192,65536` also runs torch.profiler (CUDA kernels) over a few forward + backward calls of the fused LSH-4
layer (or of each of `--profile-cases`, e.g. `sdpa_bf16,lsh4_fused_bf16` to see flash attention's host side beside it)
at each length and writes one `kind: 'profile'` record per case and length: GPU milliseconds per call in each category
(hashing, sort, gather/scatter, attention forward, attention backward, merge of rounds, projections, other; classified
by kernel name, see `KERNEL_CATEGORIES`), the launches per call, the host milliseconds per call (the time the Python
call takes to return, kernels queued but not waited for) and the wall milliseconds per call; the 20 kernels with the
most GPU time are printed and kept in the record, so the classification can be checked; so are the 20 host ops
with the most self CPU time (`host_top20`: CUDA runtime calls, aten ops, autograd) and `syncs`, what in one call makes
the host wait for the GPU (torch's sync debug mode; a wait puts GPU time into host_ms). `--check 4096,16384` first
compares the compiled fused path with the plain one on identical buckets (bf16, causal, 4 rounds, 8 heads of 64;
also with one head per backward group) and writes a `kind: 'check'` record per length. `--dry-run` prints the plan
and exits without a GPU.

The ReformerLM cases cut the feed-forward layer into `ff_chunks` pieces, as the paper does for long sequences:
`--ff-chunks auto` (the default) takes max(1, n // 65536) (1 up to 64K tokens, 4 at 256K, 16 at 1M), and their
reversible backward pass then recomputes and differentiates the feed-forward branch a piece at a time, so its hidden
layer (4 x d_model wide) exists for one piece at a time; an integer fixes it for every length. The GPT case keeps 1
(ordinary autograd saves every piece's hidden layer anyway). Model and memory records carry the value (`ff_chunks`).

`--compile on` runs the model cases compiled by `torch.compile` (Inductor, default mode, random numbers drawn as eager
PyTorch draws them: `compile_settings`): the GPT whole (`compile: 'model'`), the ReformerLMs by `compile_blocks`, every
block's attention and feed-forward branches (layer norms, projections, feed-forward; `compile: 'blocks'`), which the
reversible backward pass then recomputes compiled too; the fused LSH kernels run as they are between the compiled pieces.
`--compile both` runs the model cases eager, then compiled; `off` (the default) eager (`compile: 'off'`). A compiled
record also carries `compile_s` (the first step: compiling and running), the graphs compiled (`graphs`) and the graph
breaks (`graph_breaks`); a case that would pass Dynamo's recompile limit fails with an error record instead of running
partly eager. `--device cpu` runs the model cases on the CPU (small lengths: a check of the code path, `peak_gib` null).

    python tools/bench_attention.py [--attn 4096,8192,16384,...] [--model 16384,...] [--ff-chunks auto] [--compile off|on|both]
                                    [--reps 5] [--profile 65536] [--out FILE]
"""
import argparse, gc, json, math, os, re, statistics, time, traceback, warnings
import torch, torch.nn as nn, torch.nn.functional as F

DEVICE = 'cuda'   # where the model cases run (`--device`); the attention cases need CUDA

def sync():
    if DEVICE == 'cuda': torch.cuda.synchronize()

def measure(step, reps, warmup=1):
    "Median milliseconds of `step()` after `warmup` calls, and the allocator's peak in GiB over the timed calls (None on the CPU)."
    for _ in range(warmup): step()
    sync()
    if DEVICE == 'cuda': torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        start = time.perf_counter(); step(); sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), torch.cuda.max_memory_allocated() / 2**30 if DEVICE == 'cuda' else None

class SDPAAttention(nn.Module):
    "Causal multi-head attention with flash attention (`F.scaled_dot_product_attention`)."
    def __init__(self, d_model=512, n_heads=8):
        super().__init__(); self.h = n_heads
        self.qkv, self.out = nn.Linear(d_model, 3 * d_model, bias=False), nn.Linear(d_model, d_model, bias=False)
    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.h, -1).permute(2, 0, 3, 1, 4)
        return self.out(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, n, -1))

def hf_lsh(n, n_hashes=4, bucket_size=64):
    "HF transformers' Reformer LSH attention layer (causal) with the same sizes."
    from transformers import ReformerConfig
    from transformers.models.reformer.modeling_reformer import ReformerAttention
    cfg = ReformerConfig(hidden_size=512, num_attention_heads=8, attention_head_size=64, attn_layers=['lsh'],
                         lsh_attn_chunk_length=bucket_size, num_hashes=n_hashes, num_buckets=n // bucket_size,
                         is_decoder=True, lsh_attention_probs_dropout_prob=0., hidden_dropout_prob=0.,
                         max_position_embeddings=n, axial_pos_embds=False)
    layer = ReformerAttention(cfg, layer_id=0)
    def run(x):
        out = layer(x)
        return out[0] if isinstance(out, tuple) else getattr(out, 'hidden_states', out)
    return layer, run

def factorised(n, bucket_size=64):
    "Two near-equal even factors of the n/bucket_size buckets (e.g. 64 x 64 at 2^18)."
    total = n // bucket_size
    first = 2 ** math.ceil(math.log2(total) / 2)
    return first, total // first

BUCKET = 64   # the LSH cases' bucket size

def attention_case(case, n):
    "A layer and its forward function for one attention case."
    from reformer_rigl.reformer.attention import LSHSelfAttention
    if case == 'sdpa_bf16': layer = SDPAAttention(); return layer, layer
    if case == 'hf_lsh4': return hf_lsh(n)
    r, impl, rule, fact, _ = lsh_case(case)
    layer = LSHSelfAttention(512, 8, bucket_size=BUCKET, n_hashes=r, causal=True, impl=impl, dedup=rule != 'nodedup',
                             n_buckets=factorised(n) if fact else None)
    return layer, layer

def lsh_case(case):
    """Rounds, path, duplicate rule, hash family and backward warps of an LSH attention case
    `lsh<r>_<plain|fused>[_nodedup|_first|_recount][_fact][_bw<warps>]_bf16` (e.g. `lsh8_fused_bf16`): the rule 'count'
    (`lsh_kernel.DEDUP_RULE`'s default), 'first' (`_first`: the fused kernels mask a key in the rounds after the first that
    finds it), 'nodedup' (`_nodedup`: `dedup=False`, a key counted in every round that finds it, to time what counting it
    once costs) or 'recount' (`_recount`: the count, with the backward counting again instead of reading the counts the
    forward kept: `lsh_kernel.COUNTS_BYTES` 0); `_bw8`: the fused backward kernels with 8 warps a program instead of `lsh_kernel._warps`' choice
    (`lsh_kernel.NUM_WARPS`), to see whether the count's cost in the backward is register pressure (None: the default)."""
    m = re.fullmatch(r'lsh(\d+)_(plain|fused)(_nodedup|_first|_recount)?(_fact)?(?:_bw(\d+))?_bf16', case)
    if m is None: raise ValueError(f"unknown attention case {case!r}: sdpa_bf16, hf_lsh4 or lsh<r>_<plain|fused>[_nodedup|_first|_recount][_fact][_bw<warps>]_bf16")
    return int(m[1]), m[2], (m[3] or '_count')[1:], bool(m[4]), None if m[5] is None else int(m[5])

def kernel_settings(kind, case):
    """The `lsh_kernel.DEDUP_RULE`, backward warps and whether the forward keeps its counts for the backward, that a planned
    measurement runs with: 'first' for an LSH attention or profile case with `_first`, else 'count'; `_bw<warps>`'s warps,
    else None (the default); False for `_recount`, else True (`lsh_kernel.COUNTS_BYTES` as it is)."""
    base = case.removesuffix('_graphed')
    if kind not in ('attn', 'profile') or base in ('sdpa_bf16', 'hf_lsh4'): return 'count', None, True
    _, _, rule, _, warps = lsh_case(base)
    return 'first' if rule == 'first' else 'count', warps, rule != 'recount'

def attention_step(case, n):
    "One forward + backward of the attention case at length `n` (bf16 activations in and out, bf16 autocast), as a function."
    layer, run = attention_case(case, n)
    layer = layer.cuda()
    x = torch.randn(1, n, 512, device='cuda', dtype=torch.bfloat16, requires_grad=True)
    grad = torch.randn(1, n, 512, device='cuda', dtype=torch.bfloat16)
    def step():
        with torch.autocast('cuda', dtype=torch.bfloat16): y = run(x)
        y.backward(grad.to(y.dtype))
        x.grad = None; layer.zero_grad(set_to_none=True)
    return step

def bench_attention(case, n, reps): return measure(attention_step(case, n), reps)

def bench_graphed(case, n, reps):
    """`case` without `_graphed`, its weights and activations in bf16 (no autocast), forward and backward captured as CUDA
    graphs by `torch.cuda.make_graphed_callables`: each call replays them, so no host work (launches, Python) remains."""
    layer, _ = attention_case(case.replace('_graphed', ''), n)
    layer = layer.cuda().to(torch.bfloat16)
    x = torch.randn(1, n, 512, device='cuda', dtype=torch.bfloat16, requires_grad=True)
    grad = torch.randn_like(x)
    graphed = torch.cuda.make_graphed_callables(layer, (x,), num_warmup_iters=3)
    def step(): graphed(x).backward(grad)     # gradients accumulate in place: no allocation between replays
    return measure(step, reps)

def ff_chunks_for(case, n, setting='auto'):
    "Feed-forward pieces of a model case at length `n`: `setting` ('auto': max(1, n // 65536)) for ReformerLM, 1 for the GPT."
    if not case.startswith('reformerlm'): return 1
    return max(1, n // 65536) if setting == 'auto' else int(setting)

def model_case(case, n, ff_chunks=1):
    from reformer_rigl.reformer.models import ReformerLM, TransformerLM
    if case == 'gpt_sdpa_bf16': return TransformerLM(256, 512, 6, 8, 2048, n)
    layers = 24 if case.startswith('reformerlm24') else 6
    model = ReformerLM(256, 512, layers, 8, 2048, n, bucket_size=64, n_hashes=4, reversible=True, ff_chunks=ff_chunks)
    if 'fact' in case:
        for m in model.modules():
            if hasattr(m, 'n_buckets'): m.n_buckets = factorised(n)
    return model

def compiled(case, model, compile='off'):
    """The model of `case` as the step runs it: itself (`compile` 'off'), or compiled with `compile_settings` (Inductor, random
    numbers drawn as eager PyTorch draws them): the GPT whole, a ReformerLM's blocks by `compile_blocks` (in place)."""
    if compile == 'off': return model
    from reformer_rigl.reformer.reversible import compile_blocks, compile_settings
    return torch.compile(model, **compile_settings()) if case == 'gpt_sdpa_bf16' else compile_blocks(model)

def compile_kind(case, compile='off'): return 'off' if compile == 'off' else 'model' if case == 'gpt_sdpa_bf16' else 'blocks'

def model_step(case, n, ff_chunks=1, compile='off'):
    "One training step of the model case on `n` random tokens (bf16 autocast, AdamW), compiled as `compile` says, as a function."
    model = model_case(case, n, ff_chunks).to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    run = compiled(case, model, compile)
    tokens = torch.randint(0, 256, (1, n + 1), device=DEVICE)
    def step():
        with torch.autocast(DEVICE, dtype=torch.bfloat16): logits = run(tokens[:, :-1])
        F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten()).backward()
        opt.step(); opt.zero_grad(set_to_none=True)
    return step

def bench_model(case, n, reps, ff_chunks=1, compile='off'):
    """`measure` of the model case's step, and what the record says about compiling: for a compiled step the seconds of the
    first step (compiling and running it), the graphs Dynamo compiled and the graph breaks."""
    if compile == 'off': return (*measure(model_step(case, n, ff_chunks), reps), {})
    import torch._dynamo
    from torch._dynamo.utils import counters
    torch._dynamo.reset(); counters.clear()                     # this case's graphs only
    config = torch._dynamo.config
    limit = 'recompile_limit' if hasattr(config, 'recompile_limit') else 'cache_size_limit'
    patch = {limit: 32}                                         # a graph per grad mode and stride of each branch's input
    if hasattr(config, 'fail_on_recompile_limit_hit'): patch['fail_on_recompile_limit_hit'] = True   # never partly eager
    with config.patch(patch):
        step = model_step(case, n, ff_chunks, compile)
        start = time.perf_counter(); step(); sync(); compile_s = time.perf_counter() - start
        ms, peak = measure(step, reps)
    return ms, peak, dict(compile_s=round(compile_s, 1), graphs=counters['stats']['unique_graphs'],
                          graph_breaks=sum(counters['graph_break'].values()))

KERNEL_CATEGORIES = [   # (category, substrings of a kernel's name, lower case): the first match wins
    ('attention backward', ('_bwd_dq', '_bwd_dkdv', 'bprop', 'fmha_cutlassb', 'dot_do_o', 'convert_dq')),   # this library's; flash's, cuDNN's, efficient's
    ('attention forward', ('_fwd', 'fprop', 'fmha_cutlassf')),
    ('hashing', ('_hash', 'normal', 'distribution')),          # the kernel and the rotations' randn
    ('sort', ('sort', '_slots')),                               # torch.sort (cub radix / segmented / bitonic) and the int32 orders
    ('gather/scatter', ('gather', 'scatter', 'index')),
    ('merge of rounds', ('merge', 'logsumexp', 'softmax')),     # the fused path merges inside `_fwd`: expected empty
    ('projections', ('gemm', 'nvjet', 'cutlass', 'xmma', 'sm90', 'sm80', 'cublas', 'splitk')),
]

def kernel_category(name:str):
    "The category of one CUDA kernel, from its name (see `KERNEL_CATEGORIES`); 'other' when nothing matches."
    low = name.lower()
    return next((cat for cat, keys in KERNEL_CATEGORIES if any(k in low for k in keys)), 'other')

def profile_case(n, calls=5, case='lsh4_fused_bf16'):
    "torch.profiler over `calls` forward + backward calls of attention case `case` (the fused LSH-4 layer) at length `n`: one 'profile' record."
    from torch.profiler import profile, ProfilerActivity
    step = attention_step(case, n)
    for _ in range(2): step()                                   # compiled and warm
    host, wall = [], []
    for _ in range(calls):                                      # without the profiler: host (queueing) and wall time
        torch.cuda.synchronize(); start = time.perf_counter(); step(); mid = time.perf_counter(); torch.cuda.synchronize()
        host.append((mid - start) * 1e3); wall.append((time.perf_counter() - start) * 1e3)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls): step()
        torch.cuda.synchronize()
    kernels = []                                                # (name, GPU ms per call, launches per call)
    for e in prof.key_averages():
        if e.device_type != torch.autograd.DeviceType.CUDA: continue
        us = getattr(e, 'self_device_time_total', None) or getattr(e, 'self_cuda_time_total', 0)
        kernels.append((e.key, us / 1e3 / calls, e.count / calls))
    kernels.sort(key=lambda k: -k[1])
    host_ops = sorted(((e.key, e.self_cpu_time_total / 1e3 / calls, e.count / calls) for e in prof.key_averages()
                       if e.device_type == torch.autograd.DeviceType.CPU), key=lambda k: -k[1])   # where the host's time goes
    gpu = {cat: 0. for cat, _ in KERNEL_CATEGORIES}; gpu['other'] = 0.
    for name, ms, _ in kernels: gpu[kernel_category(name)] += ms
    print(f'profile {case} n={n}: top 20 kernels (GPU ms per call, launches per call, category)')
    for name, ms, cnt in kernels[:20]: print(f'  {ms:9.3f} {cnt:5.1f}  {kernel_category(name):20s} {name[:150]}')
    print(f'profile {case} n={n}: top 20 host ops by self CPU ms per call (under the profiler)')
    for name, ms, cnt in host_ops[:20]: print(f'  {ms:9.3f} {cnt:5.1f}  {name[:150]}')
    return dict(gpu_ms={k: round(v, 4) for k, v in gpu.items()}, gpu_ms_total=round(sum(gpu.values()), 4),
                launches=round(sum(k[2] for k in kernels), 1), host_ms=round(statistics.median(host), 3),
                wall_ms=round(statistics.median(wall), 3), calls=calls,
                top20=[[name[:200], round(ms, 4), round(cnt, 1), kernel_category(name)] for name, ms, cnt in kernels[:20]],
                host_top20=[[name[:200], round(ms, 4), round(cnt, 1)] for name, ms, cnt in host_ops[:20]], syncs=host_syncs(step))

def host_syncs(step):
    "What in one call of `step` (warm: after the profile) makes the host wait for the GPU (torch's sync debug mode's warnings): a wait makes host_ms include GPU time."
    try:
        torch.cuda.set_sync_debug_mode('warn')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always'); step()
    except Exception as e: return [f'not checked: {type(e).__name__}: {str(e)[:150]}']
    finally: torch.cuda.set_sync_debug_mode('default'); torch.cuda.synchronize()
    return [str(w.message).splitlines()[0][:200] for w in caught]

def peak_breakdown(trace, top=25):
    """Replay a CUDA allocator trace (`torch.cuda.memory._snapshot()['device_traces'][0]`): the peak of live bytes and the
    blocks alive at that moment, grouped by the innermost project frame that allocated them (`file:line function`)."""
    live, cur, peak, at_peak = {}, 0, 0, {}
    for e in trace:
        if e['action'] == 'alloc': live[e['addr']] = e; cur += e['size']
        elif e['action'] == 'free_completed' and e['addr'] in live: cur -= live.pop(e['addr'])['size']
        else: continue
        if cur > peak: peak, at_peak = cur, dict(live)
    def where(e):
        frames = e.get('frames') or []
        mine = [f for f in frames if 'reformer_rigl' in f['filename'] or 'bench_attention' in f['filename']]
        f = (mine or frames or [dict(filename='?', line=0, name='?')])[0]
        return f"{f['filename'].split('/')[-1]}:{f['line']} {f['name']}"
    groups = {}
    for e in at_peak.values():
        k = where(e); n, b = groups.get(k, (0, 0)); groups[k] = (n + 1, b + e['size'])
    rows = sorted(groups.items(), key=lambda kv: -kv[1][1])[:top]
    return dict(peak_gib=round(peak / 2**30, 3), live_blocks=len(at_peak),
                at_peak=[[k, n, round(b / 2**30, 4)] for k, (n, b) in rows])

def snapshot(case, n, folder, ff_chunks=1, compile='off'):
    """One warm-up and one recorded forward + backward (or training step) of `case` at `n` under the allocator's history
    recorder: the pickle goes to `folder` (for torch.cuda.memory's viewer), the peak's breakdown into the record."""
    step = model_step(case, n, ff_chunks, compile) if case in MODEL_CASES else attention_step(case, n)
    step(); torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    torch.cuda.memory._record_memory_history(context='alloc', stacks='python', max_entries=200000)
    step(); torch.cuda.synchronize()
    snap = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    os.makedirs(folder, exist_ok=True)
    import pickle
    with open(os.path.join(folder, f'mem_{case}_{n}.pickle'), 'wb') as f: pickle.dump(snap, f)
    trace = snap['device_traces'][0] if snap.get('device_traces') else []
    return dict(max_allocated_gib=round(torch.cuda.max_memory_allocated() / 2**30, 3), **peak_breakdown(trace))

MODEL_CASES = ('gpt_sdpa_bf16', 'reformerlm_fused_bf16', 'reformerlm24_fused_bf16', 'reformerlm_fused_fact_bf16')

def check_fused(n):
    "Fused against plain LSH-4 attention on identical buckets: largest differences (output, qk and v gradients) relative to the plain path's largest value; also called as `LSHSelfAttention` calls it (`fused_owned`: gradients over the output and its gradient)."
    from reformer_rigl.reformer.attention import lsh_attention
    from reformer_rigl.reformer import lsh_kernel
    from reformer_rigl.reformer.contract import ATTENTION_PATHS
    torch.manual_seed(0)
    qk = torch.randn(1, 8, n, 64, device='cuda', dtype=torch.bfloat16)
    v = torch.randn_like(qk)
    grad = torch.randn(1, n, 8, 64, device='cuda', dtype=torch.bfloat16).transpose(1, 2)   # the layer's layout: [b, n, h, e] storage
    buckets = torch.randint(0, n // 64, (1, 8, 4, n), device='cuda', dtype=torch.int16)
    def run(impl, owned=False):
        q1, v1 = qk.clone().requires_grad_(), v.clone().requires_grad_()
        if owned: out = ATTENTION_PATHS[('lsh', 'fused')].layer_fn(q1, v1, buckets, 64, True)   # as LSHSelfAttention calls it
        else: out = lsh_attention(q1, v1, 64, causal=True, buckets=buckets, impl=impl)
        value = out.detach().float().clone()         # before the backward pass, which an owned call lets write over the output
        out.backward(grad.clone())                   # (and over its gradient)
        return value, q1.grad.float(), v1.grad.float()
    ref, errors = run('plain'), {}
    for name, sums, owned in (('fused', lsh_kernel.SUMS_BYTES, False), ('fused_one_head_per_group', 1, False),
                              ('fused_owned', lsh_kernel.SUMS_BYTES, True), ('fused_owned_one_head_per_group', 1, True)):
        saved, lsh_kernel.SUMS_BYTES = lsh_kernel.SUMS_BYTES, sums
        try: got = run('fused', owned)
        finally: lsh_kernel.SUMS_BYTES = saved
        errors[name] = [round(((a - b).abs().max() / b.abs().max()).item(), 5) for a, b in zip(got, ref)]
    return dict(rel_err=errors, passed=all(max(e) < 0.05 for e in errors.values()))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--attn', default='4096,8192,16384,65536,262144,1048576')
    p.add_argument('--attn-cases', default='sdpa_bf16,hf_lsh4,lsh4_plain_bf16,lsh4_fused_bf16,lsh4_fused_fact_bf16')
    p.add_argument('--model', default='16384,65536,262144,1048576')
    p.add_argument('--model-cases', default=','.join(MODEL_CASES))
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--skip', default='gpt_sdpa_bf16@1048576,reformerlm24_fused_bf16@16384,reformerlm24_fused_bf16@262144,'
                   'reformerlm24_fused_bf16@1048576,lsh4_fused_fact_bf16@4096,lsh4_fused_fact_bf16@16384,'
                   'reformerlm_fused_fact_bf16@16384,reformerlm_fused_fact_bf16@65536,lsh4_fused_fact_bf16@8192,'
                   'sdpa_bf16@1048576,hf_lsh4@1048576,lsh4_plain_bf16@1048576',
                   help="case@n pairs not run ('' runs all): the GPT at 2^20 needs about a minute a step, flash attention "
                        "at 2^20 about 10 s a call (9.7 s in the records), HF's layer and the plain path at 2^20 more "
                        "than an 80 GB card")
    p.add_argument('--profile', nargs='?', const='65536', default='',
                   help='lengths (comma-separated; 65536 when given alone) at which to profile the fused LSH-4 layer')
    p.add_argument('--profile-calls', type=int, default=5, help='forward + backward calls under the profiler')
    p.add_argument('--profile-cases', default='lsh4_fused_bf16', help='attention cases (comma-separated) that --profile profiles')
    p.add_argument('--blas', default='default', choices=('default', 'cublas', 'cublaslt'),
                   help="torch.backends.cuda.preferred_blas_library for the whole run (recorded as `blas`): whether the "
                        "projections' host time depends on the library behind aten::mm")
    p.add_argument('--check', nargs='?', const='4096,16384', default='',
                   help='lengths at which to compare the fused path with the plain one first (4096,16384 when given alone)')
    p.add_argument('--snapshot', default='', help="case@n pairs (comma-separated) whose memory is recorded over one step: "
                   "a 'memory' record with the peak's breakdown by allocating line, and the pickle beside --out")
    p.add_argument('--ff-chunks', default='auto', help="feed-forward pieces of the ReformerLM cases: 'auto' "
                   "(max(1, n // 65536)) or an integer for every length")
    p.add_argument('--compile', default='off', choices=('off', 'on', 'both'), help="the model cases compiled: 'on' (the GPT "
                   "whole, a ReformerLM's blocks by compile_blocks), 'off' (eager) or 'both' (the cases eager, then compiled)")
    p.add_argument('--device', default='cuda', choices=('cuda', 'cpu'), help='where the model cases run (cpu: a check of the code path)')
    p.add_argument('--sums-bytes', type=int, default=None, help="lsh_kernel.SUMS_BYTES for this run (the fused path's float32 "
                   "sums per buffer, which bound its head groups); recorded as `sums_bytes` in attn and memory records")
    p.add_argument('--dry-run', action='store_true', help='print the plan (cases, lengths, skips) and exit; needs no GPU')
    p.add_argument('--out', default='nbs/experiments/gpu_runs/attention_bench/records.jsonl')
    a = p.parse_args()
    skip = set(a.skip.split(',')) if a.skip else set()
    lengths = lambda v: [int(n) for n in v.strip('\'"').split(',') if n]   # '' (quoted through a shell variable too): none
    plan = [('check', 'lsh4_fused_vs_plain_bf16', n) for n in lengths(a.check)]
    attn = [('attn', c, n) for n in lengths(a.attn) for c in a.attn_cases.split(',')]
    plan += [e for e in attn if not e[1].endswith('_graphed')]
    compiles = {'off': ['off'], 'on': ['on'], 'both': ['off', 'on']}[a.compile]
    plan += [('model', c, n, k) for k in compiles for n in lengths(a.model) for c in a.model_cases.split(',')]   # eager cases first
    plan += [('profile', c, n) for n in lengths(a.profile) for c in a.profile_cases.split(',')]
    plan += [('memory', c.split('@')[0], int(c.split('@')[1]), k) for c in a.snapshot.strip('\'"').split(',') if c for k in compiles]
    plan += [e for e in attn if e[1].endswith('_graphed')]   # last: a graph's private memory pool may outlive its case
    plan = [e if len(e) == 4 else (*e, 'off') for e in plan]   # (kind, case, n, compile)
    try: settings = [kernel_settings(kind, case) for kind, case, *_ in plan]   # a misspelt attention case fails here, before any GPU work
    except ValueError as e: p.error(str(e))
    if a.dry_run:
        for kind, case, n, comp in plan:
            fc = f'ff_chunks={ff_chunks_for(case, n, a.ff_chunks)} compile={compile_kind(case, comp)}' if kind in ('model', 'memory') else ''
            print(kind, case, n, fc, 'skipped' if f'{case}@{n}' in skip else '')
        return
    global DEVICE
    DEVICE = a.device
    from reformer_rigl.reformer import lsh_kernel
    if a.sums_bytes is not None: lsh_kernel.SUMS_BYTES = a.sums_bytes
    if DEVICE == 'cpu' and any(kind not in ('model',) for kind, *_ in plan):
        p.error('--device cpu runs model cases only: pass --attn= (and no --check, --profile or --snapshot)')
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    base = dict(device=torch.cuda.get_device_name() if DEVICE == 'cuda' else 'cpu', torch=torch.__version__)
    if a.blas != 'default':
        torch.backends.cuda.preferred_blas_library(a.blas); base['blas'] = a.blas
    counts_bytes = lsh_kernel.COUNTS_BYTES
    for (kind, case, n, comp), (rule, warps, keep) in zip(plan, settings):
        rec = dict(kind=kind, case=case, n=n, **base)
        if kind in ('model', 'memory'): rec.update(ff_chunks=ff_chunks_for(case, n, a.ff_chunks), compile=compile_kind(case, comp))
        if a.sums_bytes is not None and kind in ('attn', 'memory', 'model'): rec['sums_bytes'] = a.sums_bytes
        lsh_kernel.DEDUP_RULE = rule   # for all of the case's calls (a graph captures it)
        lsh_kernel.COUNTS_BYTES = counts_bytes if keep else 0
        lsh_kernel.NUM_WARPS.pop(('bwd', BUCKET), None)
        if warps: lsh_kernel.NUM_WARPS['bwd', BUCKET] = rec['bwd_warps'] = warps
        if f'{case}@{n}' in skip: rec.update(status='skipped', why='not run in this sweep (--skip)'); ms = peak = None
        else:
            reps = a.reps if n <= 262144 else max(2, a.reps // 2)
            if DEVICE == 'cuda': rec['held_gib'] = round(torch.cuda.memory_allocated() / 2**30, 3)   # left by earlier cases, inside peak_gib
            try:
                if kind == 'profile': rec.update(status='ok', **profile_case(n, a.profile_calls, case))
                elif kind == 'check': rec.update(status='ok', **check_fused(n))
                elif kind == 'memory': rec.update(status='ok', **snapshot(case, n, os.path.dirname(a.out) or '.', rec['ff_chunks'], comp))
                else:
                    bench = bench_graphed if case.endswith('_graphed') else bench_attention
                    ms, peak, extra = bench_model(case, n, reps, rec['ff_chunks'], comp) if kind == 'model' else (*bench(case, n, reps), {})
                    rec.update(status='ok', ms=round(ms, 3), peak_gib=None if peak is None else round(peak, 3), reps=reps, **extra)
            except torch.OutOfMemoryError as e:
                rec.update(status='oom', why=str(e).split('\n')[0][:200])
            except Exception as e:
                rec.update(status='error', why=f'{type(e).__name__}: {str(e)[:300]}')
                traceback.print_exc()
        gc.collect()
        if DEVICE == 'cuda': torch.cuda.empty_cache()
        print(json.dumps(rec), flush=True)
        with open(a.out, 'a') as f: f.write(json.dumps(rec) + '\n')

if __name__ == '__main__': main()
