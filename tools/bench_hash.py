"""Time `hash_fused` (the LSH hashing kernel, issue 23) against the first hashing kernel, `_hash_reference`, on one GPU.

The case is the fused LSH-4 layer's hashing at n positions: batch 1, 8 heads x 64, 4 rounds, n/64 buckets (n/128
rotation columns), bf16 vectors, float32 rotations. For each n of `--n` (8192, 65536, 1048576) it times the first
kernel as the layer called it (block_n 128, block_k 64, Triton's default warps and stages) and `hash_fused` with its
defaults; at the lengths of `--sweep-n` (8192, 65536; a call of the first kernel at 1M is some 0.4 s, judging by the
H200 records of the layer with and without factorised buckets) also each other configuration of `--configs` (block_n x block_k x split x num_warps x num_stages) and the defaults
replayed as a CUDA graph. Median of `--reps` (20) CUDA-event timings after `--warmup` (3) calls. Every
case's buckets are compared with the first kernel's (`identical`: all equal), and the defaults' also with a second
call of themselves. One JSON line per case, printed and appended to `--out`: kind 'hash', case, n, ms, speedup (the
first kernel's ms / ms), identical, device, block_n, block_k, split, num_warps, num_stages, tflops (rate of the TF32
products), torch, triton, git. A last line per n, case 'best', names the fastest configuration with identical buckets.

`--resources` needs no GPU: it compiles the first kernel and each configuration for `--arch` (90: H100) with
Triton's own ptxas and prints registers and stack per thread, shared memory, and the programs and warps that fit on
one SM (by registers and shared memory alone). It times nothing.

    python tools/bench_hash.py                                   # the GPU run (meant to take under a minute on an H100)
    python tools/bench_hash.py --device cpu --small              # smoke check: tiny sizes in Triton's interpreter, seconds
    python tools/bench_hash.py --resources                       # compile for sm_90 on any machine: registers, shared memory
"""
import argparse, inspect, json, os, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = '128x64x1x4x3,128x64x1x8x3,256x64x1x8x3,256x64x2x8x2,256x32x2x8x3,128x128x1x8x3,512x64x2x16x3,64x64x1x4x2'
SETTINGS = ('block_n', 'block_k', 'split', 'num_warps', 'num_stages')

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', default='', help='positions, comma-separated (default 8192,65536,1048576; --small: 256,512)')
    p.add_argument('--sweep-n', default=None, help='lengths at which --configs and the CUDA graph are timed too (default 8192,65536; --small: all)')
    p.add_argument('--configs', default=None, help=f'{" x ".join(SETTINGS)} to time besides the defaults (default {CONFIGS})')
    p.add_argument('--reps', type=int, default=20, help='timed calls per case (the median is kept)')
    p.add_argument('--warmup', type=int, default=3, help='calls before timing')
    p.add_argument('--device', default='cuda', help="'cuda', or 'cpu' for Triton's interpreter (sets TRITON_INTERPRET=1)")
    p.add_argument('--small', action='store_true', help='tiny sizes (2 heads x 16, 2 rounds, n/32 buckets, 2 reps): a smoke check')
    p.add_argument('--resources', action='store_true', help='compile for --arch and print registers and shared memory; no GPU, no timing')
    p.add_argument('--arch', type=int, default=90, help='CUDA compute capability for --resources (90: H100)')
    p.add_argument('--out', default=None, help='JSON lines file (default nbs/reformer/gpu_runs/hash_bench/records.jsonl; none with --small)')
    a = p.parse_args(argv)
    if a.small:
        a.n = a.n or '256,512'
        a.configs = '64x16x2x4x3' if a.configs is None else a.configs
        a.reps, a.warmup = min(a.reps, 2), min(a.warmup, 1)
    a.n = [int(v) for v in (a.n or '8192,65536,1048576').split(',')]
    a.sweep_n = a.n if a.small and a.sweep_n is None else [int(v) for v in (a.sweep_n or '8192,65536').split(',') if v]
    a.configs = [tuple(int(v) for v in c.split('x')) for c in (CONFIGS if a.configs is None else a.configs).split(',') if c]
    if a.out is None and not (a.small or a.resources): a.out = str(ROOT / 'nbs/reformer/gpu_runs/hash_bench/records.jsonl')
    return a

ARGS = parse_args()
if ARGS.device == 'cpu' and not ARGS.resources: os.environ['TRITON_INTERPRET'] = '1'   # before triton is imported
sys.path.insert(0, str(ROOT))
import torch, triton
from reformer_rigl.reformer.hashing import random_rotations
from reformer_rigl.reformer.lsh_kernel import _hash, _hash_launch, _hash_reference, hash_fused
from reformer_rigl.reformer.lsh_kernel import INTERPRET

DEFAULTS = {k: inspect.signature(hash_fused).parameters[k].default for k in SETTINGS}   # `hash_fused`'s own
REFERENCE = dict(block_n=128, block_k=64, split=None, num_warps=None, num_stages=None)   # as the layer called it

def time_ms(fn, reps, warmup, device):
    "Median milliseconds of `fn()`: CUDA events on a GPU, the wall clock on the CPU."
    for _ in range(warmup): fn()
    if device == 'cuda':
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for start, end in events: start.record(); fn(); end.record()
        torch.cuda.synchronize()
        return statistics.median(start.elapsed_time(end) for start, end in events)
    times = []
    for _ in range(reps):
        start = time.perf_counter(); fn(); times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)

def graphed(fn):
    "`fn` captured as a CUDA graph: its replay, and the output tensor the replays write."
    stream = torch.cuda.Stream(); stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream): fn()                                # warm-up off the capture stream
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph): out = fn()
    return graph.replay, out

def git_rev():
    try: return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError): return None

def configurations(configs):
    "Settings of the timed configurations of `hash_fused`: its defaults first, then the others of `configs`."
    yield 'fused', DEFAULTS
    for values in configs:
        if values != tuple(DEFAULTS.values()): yield 'fused_config', dict(zip(SETTINGS, values))

def cases(x, rot, configs):
    "Name, settings and function of each timed case: the first kernel, the defaults, the other configurations."
    yield 'reference', REFERENCE, lambda: _hash_launch(_hash_reference, x, rot, 128, 64)
    for case, settings in configurations(configs): yield case, settings, lambda settings=settings: hash_fused(x, rot, **settings)

def run_length(n, a, meta):
    "Records of every case at `n` positions."
    h, r, d, bucket = (2, 2, 16, 16) if a.small else (8, 4, 64, 64)
    g = torch.Generator(device=a.device).manual_seed(n)
    x = torch.randn(1, h, n, d, device=a.device, generator=g).to(torch.bfloat16)
    rot = random_rotations(h, r, d, n // bucket, device=a.device, seed=0)
    flops = 2 * h * r * n * (n // bucket // 2) * d
    base = dict(kind='hash', n=n, heads=h, rounds=r, d=d, n_buckets=n // bucket, **meta)
    reference, records = None, []
    sweep = n in a.sweep_n
    for case, settings, fn in cases(x, rot, a.configs if sweep else []):
        try:
            out = fn()
            if reference is None: reference = out
            identical = bool(torch.equal(out, reference))
            if case == 'fused': identical = identical and bool(torch.equal(fn(), out))   # and the same on a second call
            del out
            ms = time_ms(fn, a.reps, a.warmup, a.device)
            rec = dict(base, case=case, **settings, ms=round(ms, 4), identical=identical, status='ok')
        except Exception as e:                                           # a configuration that does not compile or fit
            rec = dict(base, case=case, **settings, ms=None, identical=None, status=f'{type(e).__name__}: {str(e)[:200]}')
        records.append(rec)
    if a.device == 'cuda' and sweep:
        replay, out = graphed(lambda: hash_fused(x, rot))
        replay(); torch.cuda.synchronize()
        records.append(dict(base, case='fused_graphed', **DEFAULTS, ms=round(time_ms(replay, a.reps, a.warmup, a.device), 4),
                            identical=bool(torch.equal(out, reference)), status='ok'))
    ref_ms = records[0]['ms']
    for rec in records:
        rec['speedup'] = round(ref_ms / rec['ms'], 3) if rec['ms'] and ref_ms else None
        rec['tflops'] = round(flops / rec['ms'] / 1e9, 3) if rec['ms'] else None
    ok = [rec for rec in records if rec['identical'] and rec['case'] in ('fused', 'fused_config')]
    if ok: records.append(dict(min(ok, key=lambda rec: rec['ms']), case='best'))
    return records

def resources(kernel, settings, arch):
    "Registers, stack and shared memory of `kernel` compiled for `arch` with `settings` (the 64K case's types), and what fits on one SM."
    from triton.compiler import ASTSource
    from triton.backends.compiler import GPUTarget
    consts = dict(D=64, BN=settings['block_n'], BK=settings['block_k'], PREC='tf32')
    if kernel is _hash: consts.update(SPLIT=settings['split'], EVEN_K=True)
    types = dict(x_ptr='*bf16', rot_ptr='*fp32', out_ptr='*i16', sxb='i32', sxh='i32', sxn='i32', H='i32', R='i32', n='i32', K2='i32')
    src = ASTSource(kernel, {**types, **{k: 'constexpr' for k in consts}}, constexprs={(kernel.arg_names.index(k),): v for k, v in consts.items()},
                    attrs={(kernel.arg_names.index(k),): [['tt.divisibility', 16]] for k in ('x_ptr', 'rot_ptr', 'out_ptr', 'sxh', 'sxn', 'n', 'K2')})
    warps = settings['num_warps'] or 4
    compiled = triton.compile(src, target=GPUTarget('cuda', arch, 32), options=dict(num_warps=warps, num_stages=settings['num_stages'] or 3))
    with tempfile.NamedTemporaryFile(suffix='.cubin') as f:
        f.write(compiled.asm['cubin']); f.flush()
        tool = Path(triton.__file__).parent / 'backends/nvidia/bin/cuobjdump'
        usage = subprocess.run([str(tool), '-res-usage', f.name], capture_output=True, text=True, check=True).stdout
    regs, stack = (int(re.search(rf'{k}:(\d+)', usage).group(1)) for k in ('REG', 'STACK'))
    shared = compiled.metadata.shared
    programs = min(65536 // (-(-regs // 8) * 8 * 32 * warps), 228 * 1024 // (shared + 1024), 32)   # H100: 64K registers, 228 KiB
    return dict(regs=regs, stack=stack, shared_kib=round(shared / 1024, 1), programs_per_sm=programs, warps_per_sm=programs * warps)

def main(a=ARGS):
    if a.resources:
        for case, settings in [('reference', REFERENCE), *configurations(a.configs)]:
            print(json.dumps(dict(kind='hash_resources', case=case, arch=a.arch, **settings,
                                  **resources(_hash_reference if case == 'reference' else _hash, settings, a.arch))), flush=True)
        return True
    if a.device == 'cuda' and not torch.cuda.is_available(): raise SystemExit("no CUDA device: run with --device cpu --small")
    device = f'cpu (Triton interpreter: {INTERPRET})' if a.device == 'cpu' else torch.cuda.get_device_name()
    meta = dict(device=device, torch=torch.__version__, triton=triton.__version__, git=git_rev())
    started, all_identical = time.perf_counter(), True
    for n in a.n:
        for rec in run_length(n, a, meta):
            print(json.dumps(rec), flush=True)
            if rec['case'] != 'best': all_identical = all_identical and rec['identical'] is not False
            if a.out:
                Path(a.out).parent.mkdir(parents=True, exist_ok=True)
                with open(a.out, 'a') as f: f.write(json.dumps(rec) + '\n')
    print(f"{time.perf_counter() - started:.1f} s; every case gave the first kernel's buckets: {all_identical}", flush=True)
    return all_identical

if __name__ == '__main__': sys.exit(0 if main() else 1)
