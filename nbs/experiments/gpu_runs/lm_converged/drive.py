"""The GPU runs behind nbs/experiments/gpu_runs/lm_converged/records.jsonl (06_lm_ablations), as one call's driver.

    python drive.py abl --work /tmp/lmc --limit 540      # the recipe sweep, then the ablation grid with the best recipe
    python drive.py ctx --work /tmp/lmc --limit 540 --lr 2e-3 --batch-tokens 65536 --steps 800   # the context series
    python drive.py long --work /tmp/lmc --limit 540 --lr 4e-3 --batch-tokens 65536 --steps 1000 --seeds 0   # fewer, longer runs

Every run is a `rr-run lm_converged ...` process of its own, side by side on the one GPU, writing its results table
under WORK/<name>/. Phase `abl` first trains the Transformer baseline at each learning rate x batch of the sweep for
the same number of bytes, picks the lowest validation bits per byte, writes it to WORK/recipe.json, and then trains
all seven variants x three seeds with that recipe for as many steps as the measured throughput lets finish before the
limit (the same steps for every run). Phase `ctx` trains LSH-4 at longer windows at the same bytes a step, with the
bucket count growing with the length and fixed at 16, and full attention where it fits; its 64K models also score
the same validation bytes given 1K-63K bytes of context (`eval.context`). With --compile every run trains its model
compiled by torch.compile (`train.compile=true`; its records say `compile: default`); the first steps of each run
compile. A CPU smoke test of both phases:
    python drive.py abl --device cpu --smoke --work /tmp/lmc-smoke --limit 600

Runs longer than one call: every run saves a checkpoint every --checkpoint-s seconds (`train.checkpoint_s`; 60 by
default) in its folder, and when the limit's `timeout` stops it (SIGTERM) it saves the step it is at and exits. The
same command again with the same --work (a warm machine keeps /tmp) skips the runs that finished (their row is in
their results table) and continues each of the others from its checkpoint, on the same schedule, to the same end as a
run never stopped; phase abl reuses WORK/recipe.json. resume_smoke.py checks this on the CPU.
"""
import argparse, json, math, os, subprocess, sys, time
from pathlib import Path

SWEEP = [(lr, bt) for bt in (65536, 131072) for lr in (1e-3, 2e-3, 4e-3, 8e-3)]  # (peak lr, bytes per step)
SWEEP_BYTES = 24 * 2**20            # every sweep run sees the same bytes
COST = dict(transformer=1., shared_qk=1.1, reversible=1.5, lsh1=2., lsh2=2.5, lsh4=3.5, lsh8=5.5)  # step cost, Transformer = 1 (generous guesses)
SMOKE = ['d_model=32', 'd_ff=64', 'n_heads=2', 'n_layers=2', 'bucket_size=16', 'seq_len=128', 'batch_tokens=512', 'bytes=4096',
         'log_every=2']

def launch(name, overrides, a, deadline):
    """One `rr-run lm_converged` run writing WORK/name (one CPU thread: many share the machine), not started yet: returns
    (name, start), `start()` starting its process (its time limit counted from then) and returning the Popen."""
    def start():
        left = max(5, int(deadline - time.time()))
        given = {o.split('=')[0] for o in overrides}
        smoke = [o for o in SMOKE if o.split('=')[0] not in given] if a.smoke else []
        compiled = ['compile=true'] if a.compile else []                # train.compile: the model compiled by torch.compile
        saving = [f'checkpoint_s={a.checkpoint_s:g}'] if a.checkpoint_s else []   # train.checkpoint_s: not part of the run's config hash
        mine = {o.split('=')[0] for o in a.set}                            # --set replaces the run's own value of a key
        args = [o for o in [*overrides, *smoke, *compiled] if o.split('=')[0] not in mine] + a.set
        done = a.work/f'{name}.done'                                     # written when the run has finished: its arguments
        if rows(a.work/name) and done.exists() and json.loads(done.read_text()) == args:
            print(f"  {name}: finished in an earlier call", flush=True); return None
        cmd = ['timeout', str(left), *a.rr.split(), 'lm_converged', *args, *saving,
               '--results', str(a.work/name), '--device', a.device, '--resume']   # progress as lines in the run's log: a stopped run leaves its curve there
        log = open(a.work/f'{name}.log', 'a')                            # a continued run's log follows its earlier calls'
        log.write(' '.join(cmd) + '\n'); log.flush()
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS='1'))
        p.finished = lambda: rows(a.work/name) and done.write_text(json.dumps(args))
        return p
    return name, start

def wait_all(runs, parallel=None):
    """Start `runs` ((name, start) pairs, in order) with at most `parallel` running at once (None: all at once), wait for
    every one; print how each ended. Alone, a run keeps the GPU busier: on an H100 a 3 x 256 model trained at 13.5 ms a
    step alone, against about 21 ms a step each with five side by side."""
    waiting, running = list(runs), []
    while waiting or running:
        while waiting and (parallel is None or len(running) < parallel):
            name, start = waiting.pop(0); p = start()
            if p is not None: running.append((name, p))
        time.sleep(0.2)
        for name, p in [r for r in running if r[1].poll() is not None]:
            if p.returncode == 0: p.finished()
            said = {0: '', 124: ' (stopped by the limit: run the same command again to continue it)'}.get(p.returncode, '')
            print(f"  {name}: rc {p.returncode}{said}", flush=True); running.remove((name, p))

def rows(folder):
    "The results-table rows under `folder`."
    t = folder/'lm_converged.jsonl'
    return [json.loads(l) for l in t.read_text().splitlines() if l.strip()] if t.exists() else []

def sweep(a, deadline):
    "Train the Transformer at every (lr, batch) of SWEEP for SWEEP_BYTES; returns (best (lr, bt), work units per second)."
    procs = []
    for lr, bt in SWEEP:
        bt_run = 512 if a.smoke else bt
        steps = max(4, (64 * bt_run if a.smoke else SWEEP_BYTES) // bt_run)
        ov = ['variant=transformer', f'lr={lr}', f'steps={steps}', f'every={max(1, steps // 8)}', 'hashes=[]', 'seed=0']
        if not a.smoke: ov.append(f'batch_tokens={bt}')
        procs.append(launch(f'sweep_lr{lr:g}_bt{bt}', ov, a, deadline))
    t0 = time.time(); wait_all(procs, a.parallel); took = time.time() - t0
    found = {}
    for lr, bt in SWEEP:
        r = rows(a.work/f'sweep_lr{lr:g}_bt{bt}')
        if r: found[(lr, bt)] = r[-1]
    if not found: raise SystemExit("no sweep run finished: see the logs")
    for (lr, bt), r in sorted(found.items(), key=lambda kv: kv[1]['metrics']['valid_bpc']):
        print(f"  sweep lr {lr:g} batch {bt}: {r['metrics']['valid_bpc']:.4f} bpb, {r['metrics']['train_s']:.0f} s training", flush=True)
    best = min(found, key=lambda k: found[k]['metrics']['valid_bpc'])
    units = sum(r['metrics']['steps'] * k[1] / 65536 for k, r in found.items())   # Transformer steps of 64K bytes
    return best, units / took

VARIANTS = ('transformer', 'shared_qk', 'reversible', 'lsh1', 'lsh2', 'lsh4', 'lsh8')

def variant_runs(a, seeds, lr, bt, steps, deadline):
    "Start the variants (`--variants`, default all seven) for each of `seeds`, `steps` steps each; returns the processes."
    procs, every = [], max(1, steps // 10)
    for seed in seeds:
        for v in (VARIANTS if getattr(a, 'variants', None) is None else a.variants):
            ov = ['variant=lsh', f'n_hashes={v[3:]}'] if v.startswith('lsh') else [f'variant={v}', 'hashes=[]']
            procs.append(launch(f'abl_{v}_s{seed}', ov + [f'seed={seed}'] + common(a, lr, bt, steps, every), a, deadline))
    return procs

def ablations(a, lr, bt, steps, deadline):
    "The seven variants x three seeds, `steps` steps each."
    wait_all(variant_runs(a, (0, 1, 2), lr, bt, steps, deadline), a.parallel)

def common(a, lr, bt, steps, every):
    return [f'lr={lr}', f'steps={steps}', f'every={every}'] + ([] if a.smoke else [f'batch_tokens={bt}'])

def ctx_run(a, spec, seed, steps, deadline, evaluate):
    """Start one context-series run, `spec` KIND:N[:fix16] (KIND lsh<r>, full (the Transformer) or rev (the reversible shared-QK
    model with full attention: the LSH models without hashing); fix16: 16 buckets at any length), `steps` steps;
    `evaluate`: also the same-target context evaluation (1K-63K bytes of context; its smoke-sized version with --smoke)."""
    kind, n, *fix = spec.split(':'); n = int(n); fixed = fix == ['fix16']
    ctx = ([f'context=[{n // 16},{n // 4},{n - n // 16 - 64}]', 'context_target=64', 'context_windows=4'] if a.smoke else
           ['context=[1024,4096,16384,64512]', 'context_target=1024', 'context_windows=16']) if evaluate else []
    ov = (['variant=transformer', 'hashes=[]'] if kind == 'full' else ['variant=reversible', 'hashes=[]'] if kind == 'rev' else
          ['variant=lsh', f'n_hashes={kind[3:]}', f'hashes=[{kind[3:]}]', 'full_attention=false'] + (['n_buckets=16'] if fixed else []))
    name = f"ctx_{kind}_n{n}" + ('' if kind in ('full', 'rev') else '_fix16' if fixed else '_grow') + f"_s{seed}"
    return launch(name, ov + [f'seq_len={n}', f'seed={seed}'] + ctx + common(a, a.lr, a.batch_tokens, steps, max(1, steps // 10)), a, deadline)

def long_runs(a, deadline):
    """The variants for `--seeds` at `--steps`, beside the context runs of `--ctx` (default: LSH-4 at 4K and 64K windows, buckets
    growing, and fixed at 16 at 64K) at `--ctx-steps` (default `--steps`); 64K runs also score the same-target context evaluation."""
    procs = variant_runs(a, a.seeds, a.lr, a.batch_tokens, a.steps, deadline)
    specs = [] if a.no_ctx else a.ctx or (['lsh4:256', 'lsh4:512', 'lsh4:512:fix16'] if a.smoke else ['lsh4:4096', 'lsh4:65536', 'lsh4:65536:fix16'])
    longest = 512 if a.smoke else 65536
    procs += [ctx_run(a, spec, a.seeds[0], a.ctx_steps or a.steps, deadline, int(spec.split(':')[1]) == longest) for spec in specs]
    wait_all(procs, a.parallel)

def context(a, deadline):
    "LSH-4 at 4K/16K/64K windows, buckets growing and fixed at 16; full attention at 4K/16K; two seeds."
    lens = (256, 512) if a.smoke else (4096, 16384, 65536)
    specs = [(f'lsh4:{n}{fix}', n) for n in lens for fix in ('', ':fix16')] + [(f'full:{n}', n) for n in lens if n <= (256 if a.smoke else 16384)]
    wait_all([ctx_run(a, spec, seed, a.steps, deadline, not spec.startswith('full') and (a.smoke or n == 65536))
              for seed in (0, 1) for spec, n in specs], a.parallel)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('phase', choices=['abl', 'ctx', 'long'])
    p.add_argument('--work', type=Path, default=Path('/tmp/lmc')); p.add_argument('--limit', type=float, default=540)
    p.add_argument('--device', default='cuda'); p.add_argument('--smoke', action='store_true')
    p.add_argument('--rr', default=os.environ.get('RR', 'rr-run'), help="the runner command")
    p.add_argument('--lr', type=float); p.add_argument('--batch-tokens', type=int); p.add_argument('--steps', type=int)
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--no-ctx', action='store_true', help="long: only the ablation variants")
    p.add_argument('--parallel', type=int, help="runs on the GPU at once (default: all at once); later runs start as earlier ones end")
    p.add_argument('--variants', nargs='*', choices=VARIANTS, help="long: these variants only (default: all seven; given empty: none, only the context runs)")
    p.add_argument('--ctx', nargs='+', help="long: context runs as KIND:N[:fix16], KIND lsh<r>, full (the Transformer) or rev (the "
                   "reversible shared-QK model, full attention) (e.g. lsh4:4096 full:4096 rev:16384 lsh4:65536:fix16)")
    p.add_argument('--ctx-steps', type=int, help="long: steps of the context runs (default --steps)")
    p.add_argument('--compile', action='store_true', help="every run trains its model compiled by torch.compile (train.compile=true)")
    p.add_argument('--set', nargs='+', default=[], metavar='KEY=VALUE', help="more overrides for every run, each replacing the run's own value of its key (e.g. source=stdlib max_bytes=400000, or hashes=[4,8] full_attention=true)")
    p.add_argument('--checkpoint-s', type=float, default=60, help="seconds between a run's checkpoints (train.checkpoint_s; 0: none); "
                   "the same command again with the same --work continues the unfinished runs")
    a = p.parse_args()
    start = time.time(); deadline = start + a.limit
    a.work.mkdir(parents=True, exist_ok=True)
    if a.phase == 'abl' and (a.work/'recipe.json').exists():       # a later call: the recipe an earlier one chose
        recipe = json.loads((a.work/'recipe.json').read_text())
        print(f"recipe (from an earlier call): {recipe}", flush=True)
        ablations(a, recipe['lr'], recipe['batch_tokens'], recipe['steps'], deadline)
    elif a.phase == 'abl':
        (lr, bt), units_per_s = sweep(a, deadline)
        left = deadline - time.time() - 40                          # start-up, the final evaluations, packing
        per_step = 3 * sum(COST.values()) * bt / 65536              # the whole grid's work per step, in Transformer steps
        evals = 21 * 16 * (2 * 2**20 / 65536) / 3                   # 16 validations of 2 MiB (forward only) per run
        steps = a.steps or int(max(0, left * units_per_s - evals) / per_step) // 50 * 50
        steps = 8 if a.smoke else min(max(steps, 100), 4000)
        recipe = dict(lr=lr, batch_tokens=bt, steps=steps, sweep_units_per_s=units_per_s, left_s=left)
        (a.work/'recipe.json').write_text(json.dumps(recipe))
        print(f"recipe: {recipe}", flush=True)
        ablations(a, lr, bt, steps, deadline)
    else:
        if a.lr is None or a.batch_tokens is None or a.steps is None: p.error("ctx needs --lr, --batch-tokens and --steps (phase abl's recipe.json)")
        (long_runs if a.phase == 'long' else context)(a, deadline)
    print(f"phase {a.phase} done in {time.time() - start:.0f} s", flush=True)

if __name__ == '__main__': main()
