"""What the host-sync changes of issue 28 buy on the GPU: `lm_converged` steps per second with this tree's training
('lean': no host-device synchronisation between log steps) against fastai's plain behaviour ('plain': the smoothed loss
copied to the host after every batch, batches made int64 on the CPU and moved with blocking copies, fastai's Adam
one weight at a time; 'nosync': only the synchronisations removed), for one run alone
and for `--procs` runs side by side, as drive.py runs them; then a short run of each mode under
`torch.cuda.set_sync_debug_mode('warn')` counts the synchronisations the GPU really sees, per step.

    python host_bench.py --work /tmp/hb --out $OUT --steps 300 --procs 7
    python host_bench.py --device cpu --smoke --skip syncs --steps 20 --procs 2 --source stdlib --out /tmp/hb-out   # a CPU check

'plain' is this tree with the changes undone by a patch in the wrapper that starts each process (`RR_HOST_MODE` in the
wrapper below), so one call measures both on the same machine. Results: OUT/host_bench.jsonl, one line a
measurement (`case` alone/side_by_side/syncs, `mode`, `procs`, `steps`, per-process `train_s` and steps per second,
`total_steps_per_s`, or `syncs_per_step` {step: count}), and OUT/host_bench.log.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

WRAPPER = r'''
import os, sys, json, warnings
import torch
mode, sync_log = os.environ.get('RR_HOST_MODE', 'lean'), os.environ.get('RR_SYNC_LOG')
from reformer_rigl.experiments import training, lm
from reformer_rigl.data import byte_lm
if mode in ('plain', 'nosync'):   # fastai's Adam, one weight at a time
    import functools
    lm.make_opt_func = functools.partial(training.make_opt_func, foreach=False)
if mode == 'plain':   # fastai's own behaviour, as before the change
    training.KeepLossOnDevice.before_fit = training.KeepLossOnDevice.after_fit = lambda self: None
    def create_batch(self, b):
        idx = self.starts[torch.as_tensor(b)][:, None] + torch.arange(self.seq_len + 1)
        windows = self.dataset[idx].long()
        return windows[:, :-1], windows[:, 1:]
    byte_lm.ByteLMDataLoader.create_batch = create_batch
    lm.to_device_async = lambda t, device=None: t if device is None else t.to(device)
if sync_log:
    from fastai.callback.core import Callback
    from reformer_rigl.experiments.run_context import RunContext, RunContextCallback
    class SyncCount(Callback):
        "Count the synchronising CUDA calls of each training step (step k includes loading its batch)."
        order = 1000
        def before_fit(self):
            self.counts, self.step, self.show = {}, 1, warnings.showwarning
            def show(message, category, *a, **k):
                if 'synchroniz' in str(message): self.counts[self.step] = self.counts.get(self.step, 0) + 1
                else: self.show(message, category, *a, **k)
            warnings.simplefilter('always'); warnings.showwarning = show
            torch.cuda.set_sync_debug_mode('warn')
        def after_batch(self): self.step = self.train_iter + 1
        def after_fit(self):
            torch.cuda.set_sync_debug_mode(0); warnings.showwarning = self.show
            with open(sync_log, 'w') as f: json.dump(self.counts, f)
    RunContext.cbs = property(lambda self: [RunContextCallback(self), SyncCount()])
from reformer_rigl.experiments.runner import main
main()
'''

SMOKE = ['d_model=32', 'd_ff=64', 'n_heads=2', 'n_layers=2', 'bucket_size=16', 'seq_len=128', 'batch_tokens=512', 'bytes=4096']  # drive.py's

def launch(a, name, mode, seed, steps, extra_env=None):
    "Start one `lm_converged` process (one CPU thread, as drive.py) writing WORK/name; returns the Popen."
    ov = [f'variant={a.variant}', 'hashes=[]', 'full_attention=false', 'on_test=false', f'steps={steps}', 'every=0', f'seed={seed}']
    if a.variant == 'lsh': ov.append(f'n_hashes={a.n_hashes}')
    if a.source: ov += [f'source={a.source}', 'max_bytes=20000000']
    if a.smoke: ov += SMOKE
    cmd = [sys.executable, str(a.work/'rr_mode.py'), 'lm_converged', *ov, '--results', str(a.work/name), '--device', a.device, '--no-progress']
    log = open(a.work/f'{name}.log', 'w'); log.write(' '.join(cmd) + '\n'); log.flush()
    env = dict(os.environ, OMP_NUM_THREADS='1', RR_HOST_MODE=mode, **(extra_env or {}))
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

def measure(a, case, mode, procs, steps, out):
    "Run `procs` processes of `mode` side by side; append their steps per second to `out`."
    t0 = time.time()
    ps = [(f'{case}_{mode}_p{i}', launch(a, f'{case}_{mode}_p{i}', mode, i, steps)) for i in range(procs)]
    rcs = [p.wait() for _, p in ps]
    rows = []
    for name, _ in ps:
        t = a.work/name/'lm_converged.jsonl'
        if t.exists(): rows += [json.loads(l) for l in t.read_text().splitlines() if l.strip()][-1:]
    train_s = [r['metrics']['train_s'] for r in rows]
    rec = dict(case=case, mode=mode, procs=procs, finished=len(rows), rcs=rcs, steps=steps, variant=a.variant,
               train_s=train_s, steps_per_s=[steps / s for s in train_s], wall_s=time.time() - t0,
               total_steps_per_s=len(rows) * steps / max(train_s) if rows else None,
               device=rows[0]['device'] if rows else None)
    out.write(json.dumps(rec) + '\n'); out.flush()
    print(f"{case:12s} {mode:5s} x{procs}: {rec['total_steps_per_s'] or 0:.1f} steps/s in all, per process "
          + ' '.join(f'{v:.1f}' for v in rec['steps_per_s']) + f" (rc {rcs})", flush=True)

def count_syncs(a, mode, out):
    "One short run of `mode` under the sync debug mode; append its synchronisations per step to `out`."
    log = a.work/f'syncs_{mode}.json'
    rc = launch(a, f'syncs_{mode}', mode, 0, a.sync_steps, {'RR_SYNC_LOG': str(log)}).wait()
    counts = json.loads(log.read_text()) if log.exists() else None
    out.write(json.dumps(dict(case='syncs', mode=mode, steps=a.sync_steps, rc=rc, variant=a.variant, syncs_per_step=counts)) + '\n'); out.flush()
    print(f"syncs        {mode:5s}: {counts}", flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work', type=Path, default=Path('/tmp/hb')); p.add_argument('--out', type=Path, default=Path(os.environ.get('OUT', 'out')))
    p.add_argument('--steps', type=int, default=300, help="steps of every timed run")
    p.add_argument('--procs', type=int, default=7, help="runs side by side (drive.py: 7 and more)")
    p.add_argument('--sync-steps', type=int, default=60, help="steps of the runs that count synchronisations (logging every 50)")
    p.add_argument('--variant', default='transformer', choices=['transformer', 'shared_qk', 'reversible', 'lsh'])
    p.add_argument('--n-hashes', type=int, default=4)
    p.add_argument('--source', help="e.g. stdlib, without the carried corpus (default: the config's PyPI corpus)")
    p.add_argument('--device', default='cuda'); p.add_argument('--smoke', action='store_true', help="tiny models (a CPU check of this script: --device cpu --skip syncs)")
    p.add_argument('--modes', nargs='+', default=['plain', 'lean'], choices=['plain', 'nosync', 'lean'],
                   help="plain: as before issue 28's host work; nosync: syncs removed, fastai's Adam; lean: this tree (ForeachAdam too)")
    p.add_argument('--skip', nargs='*', default=[], choices=['alone', 'side_by_side', 'syncs'])
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True); a.out.mkdir(parents=True, exist_ok=True)
    (a.work/'rr_mode.py').write_text(WRAPPER)
    with open(a.out/'host_bench.jsonl', 'a') as out:
        if 'syncs' not in a.skip:
            for mode in a.modes: count_syncs(a, mode, out)
        if 'alone' not in a.skip:
            for mode in a.modes: measure(a, 'alone', mode, 1, a.steps, out)
        if 'side_by_side' not in a.skip:
            for mode in a.modes: measure(a, 'side_by_side', mode, a.procs, a.steps, out)

if __name__ == '__main__': main()
