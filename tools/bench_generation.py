"""Time a generated token with and without the decoding cache (issue 27), for a TransformerLM and a ReformerLM (LSH-4).

6 x 512 models (8 heads, d_ff 2048, byte vocabulary), batch 1, bf16 weights, greedy. For each context n (a random
prompt of n tokens): *cached* = one prefill (timed apart), then per-token times of `DecodeCache.forward` on one
token, eagerly (`graph: false`) and as the static step replayed as a CUDA graph (`graph: true`, recaptured when an
LSH index is re-sorted, every 1024 tokens); *uncached* = per-token times of the model's forward over the whole context, as `generate(use_cache=False)`
runs it. Median over `--tokens` (64) after `--warmup` (8); at long contexts the uncached case times only a few tokens
(`--uncached-tokens`, e.g. 64K:8, 1M:3, 0 to skip). Peak memory from the CUDA allocator over each case. One JSON line
per measurement goes to the output file: kind "gen", case, n, ms, peak_gib, device, git, plus tokens (timed),
prefill_ms and cache_gib (cached cases), and for the ReformerLM's cached cases lsh_attend: how its LSH layers attend over
their candidates, 'fused' (the Triton kernel `attend_candidates_fused`, what `impl='auto'` takes on a GPU) or 'plain'
(`attend_candidates`, about 35 small kernels per layer). `--lsh-attend auto,plain` times both in one run.

`--attend-only` times just that attention for one LSH layer of the 6 x 512 model (8 heads, LSH-4, bucket size 64, bf16)
at each context of `--contexts`: a cache prefilled with n random rows and `--attend-recent-filled` (512) more decoded
since its last sort, one query at the last of them; per call, plain and fused (several block sizes), eagerly and
replayed as a CUDA graph (median of `--tokens` x 4 calls). Records: kind "gen_attend", path, block, warps, graph, n,
ms (one layer; a 6-layer token calls it 6 times).

    python tools/bench_generation.py --out nbs/reformer/gpu_runs/generation/records.jsonl [--git REV]
    python tools/bench_generation.py --out nbs/reformer/gpu_runs/generation/records.jsonl --contexts 65536 --reformer-only '' --lsh-attend auto,plain
    python tools/bench_generation.py --attend-only --contexts 65536 --out nbs/reformer/gpu_runs/generation/attend.jsonl
    python tools/bench_generation.py --cpu-smoke --out /tmp/gen_smoke.jsonl      # tiny sizes on the CPU, seconds
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reformer_rigl.reformer.models import TransformerLM, ReformerLM
from reformer_rigl.reformer.attention import LSHSelfAttention, unit
from reformer_rigl.reformer.generation import DecodeCache, LSHCache

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def peak_gib(device): return round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == 'cuda' else None

def reset_peak(device):
    if device.type == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(device)

def timed_tokens(step, n_tokens, warmup, device):
    "Per-call milliseconds of `step()` for `warmup + n_tokens` calls; returns the timed ones (after the warm-up)."
    times = []
    for _ in range(warmup + n_tokens):
        sync(device); start = time.perf_counter()
        step()
        sync(device); times.append((time.perf_counter() - start) * 1e3)
    return times[warmup:]

def build(kind, n, extra, size, dtype, device):
    "The model for context `n` (+ `extra` generated tokens), in `dtype` on `device`, in eval mode."
    torch.manual_seed(0)
    d_model, n_layers, n_heads, d_ff, bucket_size = size
    if kind == 'transformer': model = TransformerLM(256, d_model, n_layers, n_heads, d_ff, n + extra)
    else: model = ReformerLM(256, d_model, n_layers, n_heads, d_ff, n + extra, bucket_size=bucket_size, n_hashes=4, seed=0)
    return model.to(device=device, dtype=dtype).eval()

def lsh_attend(cache):
    "How the cache's LSH layers attend over their candidates: 'fused', 'plain', or None (no LSH layer)."
    lsh = [c for c in cache.layers.values() if isinstance(c, LSHCache)]
    return ('fused' if all(c.attend_fn is not None for c in lsh) else 'plain') if lsh else None

@torch.no_grad()
def cached(model, prompt, n_tokens, warmup, device, static=False, attend='auto'):
    "Per-token times with the cache after one prefill (`static`: fixed-shape steps, CUDA graphs on a GPU; `attend`: 'plain' forces `attend_candidates`); returns (times, prefill ms, cache GiB, LSH attend path)."
    cache = DecodeCache(model, prompt.shape[1] + warmup + n_tokens, static=static)
    sync(device); start = time.perf_counter()
    nxt = cache.forward(prompt)[:, -1].argmax(-1, keepdim=True)
    sync(device); prefill = (time.perf_counter() - start) * 1e3
    if attend == 'plain':
        for c in cache.layers.values():
            if isinstance(c, LSHCache): c.attend_fn = None
    state = dict(nxt=nxt)
    def step(): state['nxt'] = cache.forward(state['nxt'])[:, -1].argmax(-1, keepdim=True)
    times = timed_tokens(step, n_tokens, warmup, device)
    return times, prefill, cache.nbytes / 2**30, lsh_attend(cache)

@torch.no_grad()
def uncached(model, prompt, n_tokens, warmup, device):
    "Per-token times of the forward over the whole (growing) context, as `generate(use_cache=False)` runs it."
    state = dict(toks=prompt)
    def step():
        toks = state['toks']
        nxt = model(toks[:, -model.max_seq_len:])[:, -1].argmax(-1, keepdim=True)
        state['toks'] = torch.cat([toks, nxt], 1)
    return timed_tokens(step, n_tokens, warmup, device)

def replay_of(fn):
    "`fn` captured as a CUDA graph, after a warm-up run on a side stream (compiling any kernel); returns the graph's replay."
    side, main = torch.cuda.Stream(), torch.cuda.current_stream()
    side.wait_stream(main)
    with torch.cuda.stream(side): fn()
    main.wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph): fn()
    return graph.replay

def median_ms(fn, calls):
    "Median milliseconds of one call of `fn`, timed by CUDA events around each of `calls` calls (after 3 untimed)."
    times = []
    for i in range(calls + 3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(); fn(); end.record(); end.synchronize()
        if i >= 3: times.append(start.elapsed_time(end))
    return statistics.median(times)

@torch.no_grad()
def attend_bench(n, filled, calls, info, device, dtype=torch.bfloat16, blocks=((64, 4), (128, 4), (128, 8), (256, 8))):
    "Records of one LSH layer's attention over its candidates at context `n` (+ `filled` decoded since the sort): plain and fused, eager and as a CUDA graph."
    from functools import partial
    from reformer_rigl.reformer.lsh_kernel import attend_candidates_fused
    torch.manual_seed(0)
    layer = LSHSelfAttention(512, 8, bucket_size=64, n_hashes=4, causal=True, seed=0).to(device, dtype).eval()
    cache = LSHCache(layer, n + 1032)
    cache.prefill(torch.randn(1, n, 512, device=device, dtype=dtype))              # sorts the n positions
    qk = torch.randn(1, 8, filled, 64, device=device, dtype=dtype)
    bq = cache.hash(qk)
    cache.store(n, unit(qk), torch.randn_like(qk)); cache.store_buckets(n, bq)      # decoded since the sort, not sorted
    q, bq, pos = qk[:, :, -1:], bq[..., -1:].contiguous(), torch.tensor([n + filled - 1], device=device)
    stop = cache.n_sorted + cache.recent                                            # the static step's window
    paths = [('plain', None, None, None)] + [('fused', bl, w, partial(attend_candidates_fused, block=bl, num_warps=w)) for bl, w in blocks]
    ref = None
    for path, block, warps, fn in paths:
        cache.attend_fn = fn
        call = lambda: cache.attend(q, bq, stop, pos)
        out = call()
        ref = out if ref is None else ref
        err = ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
        for graph in (False, True):
            ms = median_ms(replay_of(call) if graph else call, calls)
            yield dict(info, kind='gen_attend', path=path, block=block, warps=warps, graph=graph, n=n, filled=filled,
                       width=cache.width, ms=round(ms, 4), rel_diff_vs_plain=float(f'{err:.3g}'), calls=calls)

@torch.no_grad()
def profile_forward(n, size, dtype, device, info, calls=3):
    """torch.profiler over `calls` inference forwards of the TransformerLM over `n` tokens (after two untimed): wall ms per
    call and the operations with the most self time on the host and on the device (a 'profile' record, also printed)."""
    from torch.profiler import profile, ProfilerActivity
    model = build('transformer', n, 0, size, dtype, device)
    x = torch.randint(0, 256, (1, n), device=device)
    for _ in range(2): model(x)
    sync(device); start = time.perf_counter()
    for _ in range(calls): model(x)
    sync(device); wall = (time.perf_counter() - start) * 1e3 / calls
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    with profile(activities=acts) as prof:
        for _ in range(calls): model(x)
        sync(device)
    ev = prof.key_averages()
    dev_time = lambda e: getattr(e, 'self_device_time_total', None) or getattr(e, 'self_cuda_time_total', 0)
    top = lambda key: [[e.key[:120], round(key(e) / 1e3 / calls, 3), round(e.count / calls, 1)] for e in sorted(ev, key=key, reverse=True)[:15]]
    rec = dict(info, kind='profile', case='transformer_forward', n=n, wall_ms=round(wall, 3),
               host_top=top(lambda e: e.self_cpu_time_total), device_top=top(dev_time))
    print(json.dumps(rec, indent=1), flush=True)
    return rec

def git_rev():
    try: return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                               cwd=Path(__file__).parent).stdout.strip() or None
    except Exception: return None

def parse_counts(text): # "65536:8,1048576:3" -> {65536: 8, 1048576: 3}
    return {int(k): int(v) for k, v in (item.split(':') for item in text.split(',') if item)}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='JSON-lines file the records are appended to')
    p.add_argument('--contexts', default='4096,65536', help='contexts for both models')
    p.add_argument('--reformer-only', default='1048576', help='contexts for the ReformerLM only')
    p.add_argument('--tokens', type=int, default=64, help='timed tokens per cached case (and uncached, unless limited)')
    p.add_argument('--warmup', type=int, default=8, help='untimed tokens first')
    p.add_argument('--uncached-tokens', default='65536:8,1048576:3', help='n:tokens, fewer timed uncached tokens at long contexts (0: skip)')
    p.add_argument('--git', default=None, help='the commit to record (default: git rev-parse here)')
    p.add_argument('--lsh-attend', default='auto', help="comma list of 'auto' (the layer's path: fused on a GPU) and 'plain' (attend_candidates): ReformerLM cached cases run once for each")
    p.add_argument('--attend-only', action='store_true', help="time only one LSH layer's attention over its candidates (plain vs fused) at each of --contexts")
    p.add_argument('--attend-recent-filled', type=int, default=512, help='--attend-only: positions decoded since the last sort')
    p.add_argument('--profile-forward', type=int, default=0, help="profile the TransformerLM's inference forward over this many tokens and print the top operations (a 'profile' record)")
    p.add_argument('--cpu-smoke', action='store_true', help='tiny models and contexts on the CPU, to check the script')
    a = p.parse_args(argv)
    attends = [x for x in a.lsh_attend.split(',') if x]
    if not attends or set(attends) - {'auto', 'plain'}: sys.exit(f"--lsh-attend takes 'auto' and/or 'plain', got {a.lsh_attend!r}")
    if a.cpu_smoke:
        device, dtype, size = torch.device('cpu'), torch.float32, (32, 2, 2, 64, 8)
        contexts, reformer_only, a.tokens, a.warmup, limits = [64, 256], [1024], 4, 1, {1024: 1}
    else:
        if not torch.cuda.is_available(): sys.exit("no GPU: run with --cpu-smoke for a check on the CPU")
        device, dtype, size = torch.device('cuda'), torch.bfloat16, (512, 6, 8, 2048, 64)
        contexts = [int(n) for n in a.contexts.split(',') if n]
        reformer_only = [int(n) for n in a.reformer_only.split(',') if n]
        limits = parse_counts(a.uncached_tokens)
    info = dict(kind='gen', device=torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
                git=a.git or git_rev(), torch=torch.__version__, dtype=str(dtype).removeprefix('torch.'), batch=1,
                model='6x512' if not a.cpu_smoke else 'cpu-smoke')
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    if a.profile_forward:
        rec = profile_forward(a.profile_forward, size, dtype, device, info)
        with out.open('a') as f: f.write(json.dumps(rec) + '\n')
        return
    if a.attend_only:
        if device.type != 'cuda': sys.exit("--attend-only times CUDA graphs: it needs a GPU")
        for n in contexts:
            for rec in attend_bench(n, a.attend_recent_filled, a.tokens * 4, info, device):
                with out.open('a') as f: f.write(json.dumps(rec) + '\n')
                print(json.dumps(rec), flush=True)
        return
    jobs = [(kind, n) for n in contexts for kind in ('transformer', 'reformer_lsh')] + [('reformer_lsh', n) for n in reformer_only]
    t0 = time.time()
    for kind, n in jobs:
        extra = a.warmup + a.tokens + 8
        model = build(kind.split('_')[0], n, extra, size, dtype, device)
        prompt = torch.randint(0, 256, (1, n), device=device, generator=torch.Generator(device).manual_seed(n))
        variants = [(v, att) for att in (attends if kind == 'reformer_lsh' else ['auto']) for v in ('eager', 'graph')] + [('uncached', None)]
        for variant, attend in variants:
            use_cache = variant != 'uncached'
            case = f"{kind}_{'cached' if use_cache else 'uncached'}"
            n_tokens = a.tokens if use_cache else limits.get(n, a.tokens)
            if n_tokens == 0: continue
            reset_peak(device)
            rec = dict(info, case=case, n=n)
            if use_cache: rec.update(graph=variant == 'graph' and device.type == 'cuda', static=variant == 'graph')
            try:
                if use_cache:
                    times, prefill, cache_gib, path = cached(model, prompt, n_tokens, a.warmup if n_tokens >= a.tokens else 1, device,
                                                             static=variant == 'graph', attend=attend)
                    rec.update(prefill_ms=round(prefill, 2), cache_gib=round(cache_gib, 3))
                    if path: rec.update(lsh_attend=path)
                else: times = uncached(model, prompt, n_tokens, a.warmup if n_tokens >= a.tokens else 1, device)
                rec.update(ms=round(statistics.median(times), 3), tokens=len(times), peak_gib=peak_gib(device))
            except torch.OutOfMemoryError as e:
                rec.update(status='oom', why=str(e).split('\n')[0][:200])
            except Exception as e:             # a failing variant (say, graph capture) must not lose the others
                rec.update(status='error', why=f"{type(e).__name__}: {e}"[:300])
            with out.open('a') as f: f.write(json.dumps(rec) + '\n')
            print(json.dumps(rec), flush=True)
        del model; reset_peak(device)
    print(f"done in {time.time() - t0:.0f} s", flush=True)

if __name__ == '__main__': main()
