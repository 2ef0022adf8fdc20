"""Where a training step of the lm_converged models goes on the GPU, and how much faster the same step runs without
fastai's loop: per variant, the median milliseconds of a bare PyTorch step (bf16 autocast, forward, cross-entropy,
backward, gradient clipping, fused AdamW) eager and under `torch.compile`, beside the lm_converged config's sizes,
then a profiler table of the eager step's largest CUDA kernels and its host time.

    python step_profile.py --out $OUT --variants transformer reversible lsh4
    python step_profile.py --device cpu --steps 3 --warmup 1 --variants transformer --d-model 32 --d-ff 64 --seq-len 64 --batch-tokens 256 --no-compile   # a CPU check

Results: OUT/step_profile.jsonl (one line per variant and mode: `variant`, `mode`, `ms` median, `ms_all`, `tokens_per_s`,
`device`) and OUT/step_profile_<variant>.txt (the profiler tables).
"""
import argparse, json, statistics, time
from pathlib import Path
import torch, torch.nn.functional as F
from reformer_rigl.reformer.builders import build_lm

def make_step(model, opt, clip, device):
    "One training step on `(x, y)`, bf16 autocast on a GPU."
    amp = torch.autocast('cuda', dtype=torch.bfloat16) if device == 'cuda' else torch.autocast('cpu', enabled=False)
    def step(x, y):
        with amp: loss = F.cross_entropy(model(x).float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip, foreach=True)
        opt.step(); opt.zero_grad(set_to_none=True)
        return loss.detach()
    return step

def timed(step, x, y, steps, warmup, device):
    "Median and all per-step milliseconds of `steps` steps after `warmup`, each timed with CUDA events (wall clock on the CPU)."
    for _ in range(warmup): step(x, y)
    ms = []
    for _ in range(steps):
        if device == 'cuda':
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); step(x, y); b.record(); b.synchronize(); ms.append(a.elapsed_time(b))
        else:
            t = time.perf_counter(); step(x, y); ms.append(1e3 * (time.perf_counter() - t))
    return statistics.median(ms), ms

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, default=Path('out')); p.add_argument('--device', default='cuda')
    p.add_argument('--variants', nargs='+', default=['transformer', 'reversible', 'lsh4'])
    p.add_argument('--d-model', type=int, default=256); p.add_argument('--d-ff', type=int, default=1024)
    p.add_argument('--n-heads', type=int, default=4); p.add_argument('--n-layers', type=int, default=3)
    p.add_argument('--seq-len', type=int, default=1024); p.add_argument('--batch-tokens', type=int, default=65536)
    p.add_argument('--steps', type=int, default=30); p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--no-compile', action='store_true')
    a = p.parse_args(); a.out.mkdir(parents=True, exist_ok=True)
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else 'cpu'
    bs = a.batch_tokens // a.seq_len
    data = torch.randint(0, 256, (bs, a.seq_len + 1), device=a.device)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    with open(a.out/'step_profile.jsonl', 'a') as out:
        for v in a.variants:
            kw = dict(variant='lsh', n_hashes=int(v[3:])) if v.startswith('lsh') else dict(variant=v)
            for mode in ['eager'] + ([] if a.no_compile else ['compiled']):
                torch.manual_seed(0)
                model = build_lm(**kw, vocab_sz=256, max_seq_len=a.seq_len, d_model=a.d_model, d_ff=a.d_ff, n_heads=a.n_heads,
                                 n_layers=a.n_layers).to(a.device)
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=a.device == 'cuda')
                run = model if mode == 'eager' else torch.compile(model)
                step = make_step(run, opt, 1.0, a.device)
                try:
                    t0 = time.time(); med, ms = timed(step, x, y, a.steps, a.warmup, a.device); took = time.time() - t0
                    rec = dict(variant=v, mode=mode, ms=med, ms_all=ms, tokens_per_s=a.batch_tokens / med * 1e3, wall_s=took, device=dev,
                               d_model=a.d_model, n_layers=a.n_layers, seq_len=a.seq_len, batch_tokens=a.batch_tokens)
                except Exception as e:  # a variant torch.compile cannot take: say so, go on
                    rec = dict(variant=v, mode=mode, error=f'{type(e).__name__}: {str(e)[:300]}', device=dev)
                out.write(json.dumps(rec) + '\n'); out.flush()
                print(v, mode, rec.get('ms', rec.get('error')), flush=True)
                if mode == 'eager':
                    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if a.device == 'cuda' else [])
                    with torch.profiler.profile(activities=acts) as prof:
                        for _ in range(3): step(x, y)
                        if a.device == 'cuda': torch.cuda.synchronize()
                    key = 'self_cuda_time_total' if a.device == 'cuda' else 'self_cpu_time_total'
                    (a.out/f'step_profile_{v}.txt').write_text(prof.key_averages().table(sort_by=key, row_limit=30) + '\n\n' +
                                                               prof.key_averages().table(sort_by='cpu_time_total', row_limit=20))
                del model, opt, run, step
                if a.device == 'cuda': torch.cuda.empty_cache()

if __name__ == '__main__': main()
