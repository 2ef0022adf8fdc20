"""CPU smoke test of drive.py's two-call pattern: a run that the first call's limit stops continues in the second.

    python nbs/experiments/gpu_runs/lm_converged/resume_smoke.py [--work /tmp/lmc-resume-smoke] [--steps 5000] [--first-limit 12] [--compare]
    RR="python3 /tmp/rr.py" python3 nbs/experiments/gpu_runs/lm_converged/resume_smoke.py --device cuda --steps 10000 --first-limit 30 --compare   # on a GPU (call.sh writes /tmp/rr.py)

Call 1 runs `drive.py long --smoke --device cpu` (the Transformer, seed 0, on the built-in corpus, a checkpoint every
2 s) with a limit too
short to finish: `timeout` stops its run with SIGTERM, and the run saves a checkpoint. Call 2, the same command with a
longer limit and the same --work, continues the run from its checkpoint to the end. Call 3 finds it finished and
skips it. Checked: after call 1 a checkpoint and no row; after call 2 one row whose `resumed_at` names the step it
continued at, the run's full number of steps, and no checkpoint left; call 3 starts no run. About a minute on 2 cores.
With --compare, the same run never stopped and never checkpointed (another WORK) must give the same row (its metrics
but the timings, its curve).
"""
import argparse, json, shutil, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent

def call(work, limit, steps, checkpoint_s=2, device='cpu', compile=False):
    "One drive.py call; returns its printed output."
    cmd = [sys.executable, str(HERE/'drive.py'), 'long', '--smoke', '--device', device, *(['--compile'] if compile else []), '--work', str(work), '--limit', str(limit),
           '--lr', '3e-3', '--batch-tokens', '512', '--steps', str(steps), '--seeds', '0', '--variants', 'transformer', '--no-ctx',
           '--checkpoint-s', str(checkpoint_s), '--set', 'source=stdlib', 'max_bytes=400000']   # the built-in corpus: no rr-corpus needed
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    print(f"$ drive.py ... --limit {limit}  ({time.time() - t0:.0f} s)\n" + ''.join('    ' + l + '\n' for l in out.splitlines()), flush=True)
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work', type=Path, default=Path('/tmp/lmc-resume-smoke'))
    p.add_argument('--compare', action='store_true', help="also train the run uninterrupted and compare")
    p.add_argument('--device', default='cpu', help="cuda: the same on a GPU (bf16; --compare then allows float differences)")
    p.add_argument('--compile', action='store_true', help="train compiled (train.compile=true)")
    p.add_argument('--steps', type=int, default=5000); p.add_argument('--first-limit', type=float, default=12)
    a = p.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    run = a.work/'abl_transformer_s0'
    table = run/'lm_converged.jsonl'
    checkpoints = lambda: list(run.glob('lm_converged/runs/*/checkpoint.pt'))
    out = call(a.work, a.first_limit, a.steps, device=a.device, compile=a.compile)
    if table.exists() and table.read_text().strip(): sys.exit(f"the run finished within {a.first_limit} s: give more --steps")
    if not checkpoints(): sys.exit(f"no checkpoint after the first call (did training start within {a.first_limit} s?): raise --first-limit\n"
                                   + (run.parent/'abl_transformer_s0.log').read_text()[-2000:])
    assert 'rc 124' in out, out
    import torch
    at = torch.load(checkpoints()[0], weights_only=True)['step']
    print(f"after call 1: checkpoint at step {at} of {a.steps}, no row", flush=True)
    out = call(a.work, 300, a.steps, device=a.device, compile=a.compile)
    rows = [json.loads(l) for l in table.read_text().splitlines() if l.strip()]
    assert len(rows) == 1, rows
    info, m = rows[0]['info'], rows[0]['metrics']
    assert info.get('resumed_at') == [at], info.get('resumed_at')
    assert m['steps'] == a.steps and info['curve'][-1]['step'] == a.steps, (m['steps'], info['curve'][-1])
    assert not checkpoints(), checkpoints()
    log = (a.work/'abl_transformer_s0.log').read_text()
    assert f'resumed at step {at} of {a.steps}' in log, log[-2000:]
    print(f"after call 2: one row, resumed_at {info['resumed_at']}, {m['steps']} steps, valid_bpc {m['valid_bpc']:.4f}, no checkpoint left", flush=True)
    out = call(a.work, 60, a.steps, device=a.device, compile=a.compile)
    assert 'finished in an earlier call' in out and len(table.read_text().splitlines()) == 1, out
    print("call 3: the finished run skipped", flush=True)
    if a.compare:
        other = a.work.with_name(a.work.name + '-whole'); shutil.rmtree(other, ignore_errors=True)
        call(other, 300, a.steps, checkpoint_s=0, device=a.device, compile=a.compile)
        [whole] = [json.loads(l) for l in (other/'abl_transformer_s0'/'lm_converged.jsonl').read_text().splitlines() if l.strip()]
        same = lambda r: {k: v for k, v in r['metrics'].items() if k not in ('tokens_per_s', 'train_s')}
        assert whole['config_hash'] == rows[0]['config_hash']
        if a.device == 'cpu':
            assert same(whole) == same(rows[0]) and whole['info']['curve'] == info['curve'], (same(whole), same(rows[0]))
            print(f"the run never stopped: the same metrics and curve (valid_bpc {whole['metrics']['valid_bpc']:.4f})", flush=True)
        else:   # GPU kernels need not be bitwise reproducible (atomic adds): say how far apart the two are
            d = abs(whole['metrics']['valid_bpc'] - m['valid_bpc'])
            print(f"the run never stopped: valid_bpc {whole['metrics']['valid_bpc']:.4f} against {m['valid_bpc']:.4f} (|diff| {d:.4f})", flush=True)
            assert d < 0.05, d
    print("OK", flush=True)

if __name__ == '__main__': main()
