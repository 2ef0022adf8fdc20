"""Time a generated token with and without the decoding cache (issue 27), for a TransformerLM and a ReformerLM (LSH-4).

6 x 512 models (8 heads, d_ff 2048, byte vocabulary), batch 1, bf16 weights, greedy. For each context n (a random
prompt of n tokens): *cached* = one prefill (timed apart), then per-token times of `DecodeCache.forward` on one
token, eagerly (`graph: false`) and as the static step replayed as a CUDA graph (`graph: true`, recaptured when an
LSH index is re-sorted, every 1024 tokens); *uncached* = per-token times of the model's forward over the whole context, as `generate(use_cache=False)`
runs it. Median over `--tokens` (64) after `--warmup` (8); at long contexts the uncached case times only a few tokens
(`--uncached-tokens`, e.g. 64K:8, 1M:3, 0 to skip). Peak memory from the CUDA allocator over each case. One JSON line
per measurement goes to the output file: kind "gen", case, n, ms, peak_gib, device, git, plus tokens (timed),
prefill_ms and cache_gib (cached cases).

    python tools/bench_generation.py --out nbs/reformer/gpu_runs/generation/records.jsonl [--git REV]
    python tools/bench_generation.py --cpu-smoke --out /tmp/gen_smoke.jsonl      # tiny sizes on the CPU, seconds
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reformer_rigl.reformer.models import TransformerLM, ReformerLM
from reformer_rigl.reformer.generation import DecodeCache

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

@torch.no_grad()
def cached(model, prompt, n_tokens, warmup, device, static=False):
    "Per-token times with the cache after one prefill (`static`: fixed-shape steps, CUDA graphs on a GPU); returns (times, prefill ms, cache GiB)."
    cache = DecodeCache(model, prompt.shape[1] + warmup + n_tokens, static=static)
    sync(device); start = time.perf_counter()
    nxt = cache.forward(prompt)[:, -1].argmax(-1, keepdim=True)
    sync(device); prefill = (time.perf_counter() - start) * 1e3
    state = dict(nxt=nxt)
    def step(): state['nxt'] = cache.forward(state['nxt'])[:, -1].argmax(-1, keepdim=True)
    times = timed_tokens(step, n_tokens, warmup, device)
    return times, prefill, cache.nbytes / 2**30

@torch.no_grad()
def uncached(model, prompt, n_tokens, warmup, device):
    "Per-token times of the forward over the whole (growing) context, as `generate(use_cache=False)` runs it."
    state = dict(toks=prompt)
    def step():
        toks = state['toks']
        nxt = model(toks[:, -model.max_seq_len:])[:, -1].argmax(-1, keepdim=True)
        state['toks'] = torch.cat([toks, nxt], 1)
    return timed_tokens(step, n_tokens, warmup, device)

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
    p.add_argument('--cpu-smoke', action='store_true', help='tiny models and contexts on the CPU, to check the script')
    a = p.parse_args(argv)
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
    jobs = [(kind, n) for n in contexts for kind in ('transformer', 'reformer_lsh')] + [('reformer_lsh', n) for n in reformer_only]
    t0 = time.time()
    for kind, n in jobs:
        extra = a.warmup + a.tokens + 8
        model = build(kind.split('_')[0], n, extra, size, dtype, device)
        prompt = torch.randint(0, 256, (1, n), device=device, generator=torch.Generator(device).manual_seed(n))
        for variant in ('eager', 'graph', 'uncached'):
            use_cache = variant != 'uncached'
            case = f"{kind}_{'cached' if use_cache else 'uncached'}"
            n_tokens = a.tokens if use_cache else limits.get(n, a.tokens)
            if n_tokens == 0: continue
            reset_peak(device)
            rec = dict(info, case=case, n=n)
            if use_cache: rec.update(graph=variant == 'graph' and device.type == 'cuda', static=variant == 'graph')
            try:
                if use_cache:
                    times, prefill, cache_gib = cached(model, prompt, n_tokens, a.warmup if n_tokens >= a.tokens else 1, device,
                                                       static=variant == 'graph')
                    rec.update(prefill_ms=round(prefill, 2), cache_gib=round(cache_gib, 3))
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
