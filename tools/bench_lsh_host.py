"""Host time of the fused LSH layer on the CPU: what a call costs before any GPU work, its launches replaced by no-ops.

The case is `lsh4_fused_bf16` of tools/bench_attention.py (`LSHSelfAttention(512, 8, bucket_size=64, n_hashes=4,
causal=True, impl='fused')`, bf16 input under bf16 autocast, batch 1, forward + backward), here on the CPU at a small
length (`--n`, default 128 = 2·bucket_size: the host work does not depend on it, the CPU's own products do) with every Triton kernel of reformer_rigl.reformer.
lsh_kernel replaced by a stand-in that records the launch and does nothing, and the fused path allowed on the CPU
(its `unsupported` check answers None); `lsh_kernel.INTERPRET` stays False, so the path is the one a GPU call takes
(bf16 kernels' dtypes, no float32 copies). The layer's three projections are identities unless `--linear` (this CPU
takes about 0.4 ms for each bf16 product at n = 128, which would swamp the rest; on a GPU they are 9 aten ops, the same
before and after any change to the LSH path). One JSON record per measurement to `--out` (default: printed only):

- `case: 'lsh4_fused_bf16'`, `pass` 'fwd+bwd' and 'fwd' (no grad): `host_us`, the microseconds of host work per call
  without the launchers (median of `--runs` runs of `--calls` calls; `host_us_min` the fastest run, `host_us_runs` all), the launches of one
  call (`launches`, by kernel), the aten ops of one call (`aten_ops`, by name, from a TorchDispatchMode) and
  `aten_us`, the CPU time torch.profiler gives those ops (self time of every `aten::` event, so the ops' own
  dispatch and, at this small n, their tiny CPU work).
- `case: 'lsh4_launchers'`: the launches of one fwd+bwd call, each timed (their arguments as the call passed them) in
  Triton's own launcher (`kernel[grid](...)`: binding and specialising the arguments, its cache lookup) and in
  `_launch` (core) (the compiled kernel launched again from its compiled form), on a fake CUDA driver whose
  compiled kernels launch nothing: `triton_us` and `fast_us` summed over the call's launches (`per_kernel` each), and
  `same_args` (whether `_launch` handed every compiled launcher exactly the arguments Triton's did).

The host time of a call on a GPU is about `host_us + launches x (launcher's us per launch + the driver's launch)`
(the driver's cuLaunchKernel, a few us, is not here); `bench_attention.py --profile` measures it on a GPU (`host_ms`).

    python tools/bench_lsh_host.py [--n 128] [--linear] [--calls 200] [--runs 7] [--out FILE]
"""
import argparse, dataclasses, json, os, statistics, subprocess, sys, time
from collections import Counter
import torch, triton
from torch.utils._python_dispatch import TorchDispatchMode
from reformer_rigl.reformer import lsh_kernel as lk
from reformer_rigl.reformer.attention import LSHSelfAttention
from reformer_rigl.reformer.contract import ATTENTION_PATHS
from reformer_rigl import core as launcher   # _launch, FAST_LAUNCH, _COMPILED (older commits: sparse.block_kernels)
if not hasattr(launcher, '_launch'): from reformer_rigl.sparse import block_kernels as launcher
from host_timing import host_us

KERNELS = ('_slots', '_hash', '_fwd', '_bwd_dq', '_bwd_dkdv')   # every kernel the layer's fused path launches

class Launches(list):
    "The launches the stand-ins record while `on` (off while timing: a record keeps its tensors alive)."
    on = False

class NoLaunch:
    "Stands in for a `@triton.jit` kernel: `kernel[grid](*args, **consts)` launches nothing (and records the launch in `launches` while it is on)."
    def __init__(self, kernel, launches): self.kernel, self.launches = kernel, launches
    def __getattr__(self, name): return getattr(self.kernel, name)   # `arg_names` and the like, for `_launch`
    def __getitem__(self, grid):
        if not self.launches.on: return self.nothing
        return lambda *args, **consts: self.launches.append((self.kernel, grid, args, consts))
    def nothing(self, *args, **consts): pass

class AtenOps(TorchDispatchMode):
    "The aten ops issued under it, by name."
    def __init__(self): super().__init__(); self.ops = Counter()
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))

def layer_step(n, backward=True, linear=False):
    """One call of the `lsh4_fused_bf16` case on the CPU (bf16 autocast), as a function; with `backward`, forward + backward.
    Without `linear`, the layer's three projections (512 -> 512) are identities: the CPU's products would take
    milliseconds of the measurement, and their host work (3 linear layers, 9 aten ops) is not the LSH path's."""
    torch.manual_seed(0)
    layer = LSHSelfAttention(512, 8, bucket_size=64, n_hashes=4, causal=True, impl='fused')
    if not linear: layer.to_qk = layer.to_v = layer.to_out = torch.nn.Identity()
    x = torch.randn(1, n, 512, dtype=torch.bfloat16, requires_grad=backward)
    grad = torch.randn(1, n, 512, dtype=torch.bfloat16)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16): y = layer(x)
        if backward:
            y.backward(grad)
            x.grad = None; layer.zero_grad(set_to_none=True)
    return step if backward else torch.no_grad()(step)

def aten_us(step):
    "CPU microseconds torch.profiler gives the aten ops of one call (their self time, summed)."
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(20): step()
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key.startswith('aten::')) / 20

def time_launchers(launches, calls=200):
    """Microseconds per launch in Triton's launcher and in `_launch` (core), for each recorded launch, on a fake
    CUDA driver and compiled kernels that launch nothing; and whether both handed the compiled kernel the same arguments."""
    from host_timing import fake_jit, use_fake_driver, restore_driver, same_args
    saved, ok = use_fake_driver(), launcher._FAST_OK
    launcher._FAST_OK, launcher.FAST_LAUNCH = launcher._triton_launches_as_expected() and torch.version.hip is None, True
    triton_us, fast_us, same, names = [], [], True, []
    try:
        for kernel, grid, args, consts in launches:
            fake = fake_jit(kernel.fn, do_not_specialize=kernel.do_not_specialize)
            triton_us.append(host_us(lambda: fake[grid](*args, **consts), calls, runs=3, warmup=5)[0])
            launcher._COMPILED.clear()
            fast_us.append(host_us(lambda: launcher._launch(fake, grid, args, consts), calls, runs=3, warmup=5)[0])
            same = same and same_args(fake, grid, args, consts, launcher._launch)
            names.append(kernel.fn.__name__)
    finally: restore_driver(saved); launcher._FAST_OK = ok; launcher._COMPILED.clear()
    per_kernel = {k: dict(launches=names.count(k), triton_us=sum(t for t, m in zip(triton_us, names) if m == k),
                          fast_us=sum(f for f, m in zip(fast_us, names) if m == k)) for k in dict.fromkeys(names)}
    return sum(triton_us), sum(fast_us), same, per_kernel

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=128)
    p.add_argument('--calls', type=int, default=200)
    p.add_argument('--runs', type=int, default=7)
    p.add_argument('--linear', action='store_true', help="keep the layer's projections (by default identities: see `layer_step`)")
    p.add_argument('--label', default=None, help="a word for the records (e.g. 'before' with PYTHONPATH at an older checkout)")
    p.add_argument('--out', default='')
    p.add_argument('--no-launchers', action='store_true', help='skip timing the launchers')
    args = p.parse_args()
    torch.set_num_threads(1)   # on a busy machine, OpenMP threads waiting for each other turn a fill into milliseconds
    try: git = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    except OSError: git = None
    def write(rec):
        rec = dict(kind='host', status='ok', **rec, label=args.label, package=os.path.dirname(lk.__file__), n=args.n, device='cpu (launches as no-ops)', projections='linear' if args.linear else 'identity', torch=torch.__version__,
                   triton=triton.__version__, git=git, time=time.strftime('%Y-%m-%d %H:%M:%S'))
        print(json.dumps(rec), flush=True)
        if args.out:
            os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
            with open(args.out, 'a') as f: f.write(json.dumps(rec) + '\n')
    launches = Launches()
    originals = {k: getattr(lk, k) for k in KERNELS}
    for k in KERNELS: setattr(lk, k, NoLaunch(originals[k], launches))
    ATTENTION_PATHS[('lsh', 'fused')] = dataclasses.replace(ATTENTION_PATHS[('lsh', 'fused')], unsupported=None)   # runs on the CPU
    fast = launcher.FAST_LAUNCH
    launcher.FAST_LAUNCH = False   # each launch straight to its no-op stand-in: the launchers are timed apart
    recorded = None
    for pas in ('fwd+bwd', 'fwd'):
        step = layer_step(args.n, pas == 'fwd+bwd', args.linear)
        us, runs = host_us(step, args.calls, args.runs, warmup=20)
        launches.clear(); launches.on = True
        with AtenOps() as ops: step()
        launches.on = False
        one = list(launches)
        if pas == 'fwd+bwd': recorded = one
        write(dict(case='lsh4_fused_bf16', **{'pass': pas}, host_us=us, host_us_min=min(runs), host_us_runs=runs, aten_us=aten_us(step),
                   n_launches=len(one), launches=dict(Counter(k.fn.__name__ for k, *_ in one)),
                   n_aten_ops=sum(ops.ops.values()), aten_ops=dict(sorted(ops.ops.items()))))
    launcher.FAST_LAUNCH = fast
    if not args.no_launchers:
        triton_us, fast_us, same, per_kernel = time_launchers(recorded)
        write(dict(case='lsh4_launchers', **{'pass': 'fwd+bwd'}, n_launches=len(recorded), triton_us=triton_us, fast_us=fast_us,
                   same_args=same, per_kernel=per_kernel))

if __name__ == '__main__': main()
