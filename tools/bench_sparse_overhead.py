"""The sparse-training callback's own cost: dense and sparse fits of one WRN-22-2, interleaved, step times compared.

Issue 15, item 4. For each round, each optimizer of `--opt` and each case (dense, dense_repeat, static, set, snfs, rigl; the orders
rotate from round to round) a fresh copy of one WRN-22-2 (CIFAR-sized input, 32x32) trains `--steps` optimizer steps
in a fastai `Learner` on synthetic batches that already lie on the device, so the data pipeline is not what is timed.
`--opt sgd`: SGD with momentum 0.9 and weight decay 5e-4 (the RigL paper's CIFAR setting); `--opt adam`: Adam with
weight decay 5e-4; `--opt sgd,adam` runs both, interleaved in every round. `dense_repeat` is the dense case again (an
independent copy of the same model): its ratio to dense is the dense-vs-dense spread of the run, against which every
sparse ratio is read (stored in every record as `dense_repeat_ratio`, `_min`, `_max`). Sparse cases:
`SparseTraining(0.1, 'erk', method)` with `delta_t = steps // 4` and `t_end = 1`, so a few mask updates happen inside
every fit.

What is timed, per training batch: from `before_batch` to `after_batch` (forward, backward, optimizer step and every
callback), `torch.cuda.synchronize()`d at both ends on a GPU. The first `--warmup` steps of every fit are dropped; mask
update steps (which skip the optimizer step and run `SparseTraining.update_masks`) are taken out and reported apart: the
time of `update_masks` itself (synchronized before and after) is the case `<method>_update`. For a dynamic method the
record also gives its normal steps without the first one after each update (`ms_settled`, `ratio_settled`, the same
median over rounds) and the median of those first steps (`after_update_ms`), which re-mask the optimizer state. Also recorded: `cb_ms`, the
host time spent inside the callback's own per-step hooks (`after_backward`, `before_step`, `after_step`) on normal steps.

Per optimizer and case: `ms` is the median step time over all rounds; `ratio` the median over rounds of (case median /
dense median of the same round and optimizer), so slow drift of a shared machine cancels. One JSON line per case and optimizer appended to `--out`:
kind 'overhead', case, n (batch size), d_in/d_out/block null, density, ms, device, plus extras.

With `--lockstep` each round fits every (optimizer, case) at once, each `Learner` in its own thread, the threads taking
turns a training step at a time (`Lockstep`, the order shuffled afresh each cycle, so no case always runs right after the
same other one); each case's step k is paired with
dense's step k of the same cycle (same optimizer), and the records add the median of the paired ratios with a 95%
interval (`ratio_step`, `ratio_step_lo`, `ratio_step_hi`, `n_pairs`, and `ratio_step_settled*` for dynamic methods):
what drifts between fits, which makes one fit-by-fit round scatter by 10-15% on a GPU, cancels in each pair.

    PYTHONPATH=. python tools/bench_sparse_overhead.py --device cuda --bs 128 --rounds 5 --steps 200 --opt sgd,adam   # the GPU run
    PYTHONPATH=. python tools/bench_sparse_overhead.py --device cuda --bs 128 --rounds 3 --steps 200 --opt sgd,adam --lockstep
    PYTHONPATH=. python tools/bench_sparse_overhead.py --quick                                         # CPU smoke, < 1 min
"""
import argparse, copy, json, math, os, platform, random, statistics, subprocess, threading, time
from pathlib import Path
import torch, torch.nn as nn

from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.optimizer import SGD, Adam
from reformer_rigl.sparse import SparseTraining

CASES = ('dense', 'dense_repeat', 'static', 'set', 'snfs', 'rigl')   # dense_repeat: dense again, the spread of the ratios
OPTS = ('sgd', 'adam')
OUT = Path(__file__).resolve().parents[1] / 'nbs/sparse/gpu_runs/sparse_speed/records.jsonl'

class WideBlock(nn.Module):
    "Pre-activation basic block of a wide ResNet (as in nbs/sparse/02_flops.ipynb)."
    def __init__(self, ni, nf, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(ni), nn.Conv2d(ni, nf, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(nf), nn.Conv2d(nf, nf, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(ni, nf, 1, stride, bias=False) if ni != nf or stride != 1 else None
    def forward(self, x):
        o = torch.relu(self.bn1(x))
        y = self.conv2(torch.relu(self.bn2(self.conv1(o))))
        return y + (x if self.shortcut is None else self.shortcut(o))

def wide_resnet(depth=22, width=2, n_classes=10):
    "WRN-depth-width for 32x32 inputs: a 3x3 stem, three groups of (depth-4)/6 blocks, BN-ReLU, pool, linear."
    n, chans = (depth - 4) // 6, [16, 16 * width, 32 * width, 64 * width]
    blocks = [WideBlock(chans[g] if i == 0 else chans[g + 1], chans[g + 1], 2 if g > 0 and i == 0 else 1)
              for g in range(3) for i in range(n)]
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), *blocks, nn.BatchNorm2d(chans[3]), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[3], n_classes))

class DeviceBatches:
    "A few fixed batches already on the device, served `n_batches` times in turn: a data pipeline that costs nothing."
    def __init__(self, xs, ys, n_batches): self.xs, self.ys, self.n_batches = xs, ys, n_batches
    def __len__(self): return self.n_batches
    def __iter__(self):
        for i in range(self.n_batches): yield self.xs[i % len(self.xs)], self.ys[i % len(self.ys)]
    def to(self, device): self.xs, self.ys = [x.to(device) for x in self.xs], [y.to(device) for y in self.ys]; return self
    @property
    def device(self): return self.xs[0].device

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

class StepStart(Callback):
    "Start the clock of a training batch (runs first)."
    order, run_valid = -1000, False
    def __init__(self, timer): self.timer = timer
    def before_batch(self): sync(self.timer.device); self.timer.t0 = self.timer.clock()

class StepStop(Callback):
    "Stop the clock (runs last) and note whether this step was a mask update."
    order, run_valid = 1000, False
    def __init__(self, timer): self.timer = timer
    def after_batch(self):
        sync(self.timer.device); t = self.timer.clock()
        self.timer.steps.append(((t - self.timer.t0) * 1e3, self.timer.updated, self.timer.cb_s * 1e3))
        self.timer.updated, self.timer.cb_s = False, 0.

class Timer:
    "Per-step records of one fit: (ms, whether the masks were updated, host ms inside the sparse callback's hooks)."
    def __init__(self, device, clock):
        self.device, self.clock, self.steps, self.updates, self.updated, self.cb_s, self.t0 = device, clock, [], [], False, 0., 0.
    def cbs(self): return [StepStart(self), StepStop(self)]

    def wrap_hooks(self, cb):
        "Accumulate the host time of the callback's per-step hooks, and time `update_masks` alone (synchronized)."
        for name in ('after_backward', 'before_step', 'after_step'):
            hook = getattr(cb, name)
            def timed(hook=hook):
                t = self.clock()
                try: return hook()
                finally: self.cb_s += self.clock() - t
            setattr(cb, name, timed)
        update = cb.update_masks
        def timed_update(fraction):
            sync(self.device); t = self.clock()
            update(fraction); sync(self.device)
            self.updates.append((self.clock() - t) * 1e3); self.updated = True
        cb.update_masks = timed_update

def make_batches(bs, n_batches, device, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(bs, 3, size, size, generator=g).to(device) for _ in range(n_batches)]
    ys = [torch.randint(0, 10, (bs,), generator=g).to(device) for _ in range(n_batches)]
    return xs, ys

def case_learner(case, base_model, batches, args, device, opt='sgd', cbs=()):
    "A `Learner` that fits `args.steps` steps of a fresh copy of `base_model` with optimizer `opt`, its `Timer` and its sparse callback (None if dense)."
    timer = Timer(device, time.thread_time if args.clock == 'thread' else time.perf_counter)
    dls = DataLoaders(DeviceBatches(*batches, args.steps), DeviceBatches(*batches, 1))
    cbs = timer.cbs() + list(cbs)
    sparse = None
    if not case.startswith('dense'):
        sparse = SparseTraining(args.density, 'erk', method=case, delta_t=max(args.steps // 4, 1), t_end=1., seed=0)
        timer.wrap_hooks(sparse); cbs.append(sparse)
    opt_func = (lambda ps, lr: SGD(ps, lr, mom=0.9, wd=5e-4)) if opt == 'sgd' else (lambda ps, lr: Adam(ps, lr, wd=5e-4))
    learn = Learner(dls, copy.deepcopy(base_model).to(device), loss_func=nn.CrossEntropyLoss(), opt_func=opt_func,
                    lr=0.1 if opt == 'sgd' else 1e-3, cbs=cbs)
    return learn, timer, sparse

def fit_learner(learn, timer, sparse):
    "Fit one epoch (`args.steps` steps) quietly; returns the `Timer` with its records."
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    if sparse is not None: assert len(sparse.updates) == len(timer.updates), (len(sparse.updates), len(timer.updates))
    return timer

def fit_case(case, base_model, batches, args, device, opt='sgd'):
    "One fit of `args.steps` steps of a fresh copy of `base_model` with optimizer `opt`; returns the `Timer` with its records."
    return fit_learner(*case_learner(case, base_model, batches, args, device, opt))

class Lockstep:
    """Turn-taking for fits that run in threads: one training step at a time, every fit's step k in cycle k. So the steps
    compared are timed back to back on the same machine state, and the ratio of two cases is read step by step (a pair a
    cycle) instead of fit by fit. Each cycle's order is a fresh shuffle drawn from `seed`, so no fit always follows the same
    other one (with the order rotated by one each cycle, dense's copy ran right after dense in three cycles of four, and in
    run h100-2026-12-07c it read 2.5% slower than dense, a bias of unknown cause); `seed=None` keeps that rotation."""
    def __init__(self, n, timeout=600., seed=None):
        self.n, self.timeout, self.cv, self.pos, self.holder, self.done, self.failed = n, timeout, threading.Condition(), 0, None, set(), False
        self.started, self.trained = threading.Barrier(n, timeout=timeout), threading.Barrier(n, timeout=timeout)
        self.rng, self.orders = (None if seed is None else random.Random(seed)), []
    def _turn(self):
        c, i = divmod(self.pos, self.n)
        if self.rng is None: return (i + c) % self.n
        while len(self.orders) <= c: self.orders.append(self.rng.sample(range(self.n), self.n))
        return self.orders[c][i]
    def _pass(self, me): # with `cv` held: if `me` holds the turn, hand it to the next fit still training
        if self.holder != me: return
        self.holder = None; self.pos += 1
        while len(self.done) < self.n and self._turn() in self.done: self.pos += 1
        self.cv.notify_all()
    def take(self, me):
        "Wait for `me`'s next step (handing on the turn `me` held for its last one)."
        with self.cv:
            self._pass(me)
            if not self.cv.wait_for(lambda: self.failed or self._turn() == me, self.timeout): raise TimeoutError(f'lockstep: fit {me} waited {self.timeout:.0f} s')
            if self.failed: raise RuntimeError('lockstep: another fit failed')
            self.holder = me
    def finish(self, me):
        "`me` trained its last step."
        with self.cv: self.done.add(me); self._pass(me)
    def fail(self):
        with self.cv: self.failed = True; self.cv.notify_all()
        self.started.abort(); self.trained.abort()

class LockstepCb(Callback):
    "A fit's part in a `Lockstep`: all fits start training together, take turns a step at a time, and validate after all have trained."
    order, run_valid = -1001, False   # before `StepStart` starts the clock
    def __init__(self, lockstep, me): self.lockstep, self.me = lockstep, me
    def before_train(self): self.lockstep.started.wait()
    def before_batch(self): self.lockstep.take(self.me)
    def after_train(self): self.lockstep.finish(self.me); self.lockstep.trained.wait()

def lockstep_fits(keys, base_model, batches, args, device, seed=0):
    "One fit of every (optimizer, case) in `keys`, in threads, a step at a time (`Lockstep`, each cycle's order shuffled from `seed`); returns their `Timer`s by key."
    ls = Lockstep(len(keys), seed=seed)
    fits = {k: case_learner(k[1], base_model, batches, args, device, k[0], cbs=[LockstepCb(ls, i)]) for i, k in enumerate(keys)}
    timers, errors = {}, []
    def run(k):
        try: timers[k] = fit_learner(*fits[k])
        except BaseException as e: errors.append((k, e)); ls.fail()
    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in keys]
    for t in threads: t.start()
    for t in threads: t.join()
    if errors: raise RuntimeError(f'lockstep fit {errors[0][0]} failed: {errors[0][1]!r}') from errors[0][1]
    return timers

def median_ci(xs, z=1.96):
    "The median of `xs` and a 95% interval for it from order statistics (normal approximation to the binomial)."
    xs, n = sorted(xs), len(xs)
    lo, hi = max(0, math.floor(n / 2 - z * math.sqrt(n) / 2)), min(n - 1, math.ceil(n / 2 + z * math.sqrt(n) / 2))
    return statistics.median(xs), xs[lo], xs[hi]

def device_name(device):
    if device.type == 'cuda': return f"cuda {torch.cuda.get_device_name(device)}"
    load = ', load %.1f' % os.getloadavg()[0] if hasattr(os, 'getloadavg') else ''
    return f"cpu {platform.machine()} {os.cpu_count()} cores, {torch.get_num_threads()} threads{load}"

def git_rev():
    try: return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip() or None
    except Exception: return None

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--rounds', type=int, default=None, help='rounds; each fits every case once, in a rotated order (default 5)')
    p.add_argument('--steps', type=int, default=None, help='optimizer steps per fit (default 200)')
    p.add_argument('--warmup', type=int, default=None, help='steps dropped at the start of every fit (default steps // 10)')
    p.add_argument('--bs', type=int, default=None, help='batch size (default 128)')
    p.add_argument('--depth', type=int, default=22); p.add_argument('--width', type=int, default=2)
    p.add_argument('--density', type=float, default=0.1)
    p.add_argument('--opt', default='sgd', help="comma-separated optimizers, interleaved in every round: sgd, adam (e.g. sgd,adam)")
    p.add_argument('--cases', default=','.join(CASES))
    p.add_argument('--budget-s', type=float, default=None, help="seconds for the timed rounds: no round is started that the last one's length says would end later (at least one runs)")
    p.add_argument('--label', default=None, help='a note stored with the records (e.g. "before", "after")')
    p.add_argument('--out', default=str(OUT), help='records file (JSON lines, appended); "-" to write none')
    p.add_argument('--clock', choices=('wall', 'thread'), default=None,
                   help="'wall': time.perf_counter (CUDA-synchronized per step; the default on a GPU); 'thread': "
                        "time.thread_time with one torch thread, the CPU time of the Python thread, which other "
                        "processes on a shared CPU do not inflate (the default on a CPU)")
    p.add_argument('--quick', action='store_true', help='CPU smoke run: WRN-10-1, batch 8, 2 rounds of 24 steps (unless given)')
    p.add_argument('--lockstep', action='store_true', help="each round fits every case at once, in threads that take turns a step at a time "
                   "(`Lockstep`): besides the per-round ratios, each case's step k is paired with dense's step k of the same cycle, and the "
                   "records add the median of those paired ratios with a 95%% interval (`ratio_step`, `_lo`, `_hi`, `n_pairs`)")
    args = p.parse_args(argv)
    if args.quick: args.depth, args.width = 10, 1
    for k, full, quick in (('bs', 128, 8), ('rounds', 5, 2), ('steps', 200, 24)):
        if getattr(args, k) is None: setattr(args, k, quick if args.quick else full)
    if args.clock is None: args.clock = 'wall' if args.device.startswith('cuda') else 'thread'
    if args.clock == 'thread':
        if args.device != 'cpu': raise SystemExit("--clock thread measures CPU time: use it with --device cpu")
        torch.set_num_threads(1)  # every kernel runs in the timed thread
    if args.warmup is None: args.warmup = max(args.steps // 10, 2)
    cases, opts = args.cases.split(','), args.opt.split(',')
    if cases[0] != 'dense': raise SystemExit('the first case must be dense: ratios are taken to it')
    if not opts or set(opts) - set(OPTS): raise SystemExit(f"--opt takes {', '.join(OPTS)} separated by commas, got {args.opt!r}")
    device = torch.device(args.device)
    if device.type == 'cuda': torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    base = wide_resnet(args.depth, args.width)
    batches = make_batches(args.bs, 4, device)
    model_name = f"wrn-{args.depth}-{args.width}"
    print(f"{model_name}, bs {args.bs}, {'+'.join(opts)}, {args.rounds} rounds x {args.steps} steps, warm-up {args.warmup}, "
          f"{device_name(device)}", flush=True)

    short = argparse.Namespace(**{**vars(args), 'steps': max(args.steps // 4, 8)})
    for opt in opts:
        for case in cases: fit_case(case, base, batches, short, device, opt)  # warm-up fits
    keys = [(o, c) for o in opts for c in cases]
    per_round = {k: [] for k in keys}   # per (optimizer, case): per round, the normal step times (ms) after warm-up
    cb_ms, updates, update_steps = {k: [] for k in keys}, {k: [] for k in keys}, {k: [] for k in keys}
    settled, after_ms = {k: [] for k in keys}, {k: [] for k in keys}   # per round: the normal steps not right after an update; all those right after one
    rotate = lambda seq, r: seq[r % len(seq):] + seq[:r % len(seq)]
    pairs, pairs_settled = {k: [] for k in keys}, {k: [] for k in keys}   # --lockstep: per (optimizer, case), step-k ratios to dense's step k
    start, done = time.time(), 0
    for r in range(args.rounds):
        if done and args.budget_s is not None and (time.time() - start) * (done + 1) / done > args.budget_s:
            print(f"stopping after {done} rounds: another would pass --budget-s {args.budget_s:.0f}", flush=True); break
        order = [(opt, case) for opt in rotate(opts, r) for case in rotate(cases, r)]
        if args.lockstep: timers = lockstep_fits(order, base, batches, args, device, seed=r)
        else: timers = {k: fit_case(k[1], base, batches, args, device, k[0]) for k in order}   # one after another, in this order
        for k in order:
            timer = timers[k]
            kept = timer.steps[args.warmup:]
            after = [i > 0 and timer.steps[i - 1][1] for i in range(len(timer.steps))][args.warmup:]   # the first step after an update
            per_round[k].append([ms for ms, upd, _ in kept if not upd])
            settled[k].append([ms for (ms, upd, _), a in zip(kept, after) if not (upd or a)])
            after_ms[k] += [ms for (ms, upd, _), a in zip(kept, after) if a and not upd]
            cb_ms[k] += [c for _, upd, c in kept if not upd]
            updates[k] += timer.updates
            update_steps[k] += [ms for ms, upd, _ in kept if upd]
            if args.lockstep:   # step k against dense's step k, timed in the same cycle
                dense = timers[k[0], 'dense'].steps[args.warmup:]
                for (ms, upd, _), a, (d, _, _) in zip(kept, after, dense):
                    if upd: continue
                    pairs[k].append(ms / d)
                    if not a: pairs_settled[k].append(ms / d)
        done += 1
        print(f"round {r + 1}/{args.rounds} done ({time.time() - start:.0f} s)", flush=True)

    med = statistics.median
    common = dict(kind='overhead', n=args.bs, d_in=None, d_out=None, block=None, device=device_name(device),
                  model=model_name, rounds=done, steps=args.steps, warmup=args.warmup, opts=opts,
                  delta_t=max(args.steps // 4, 1), distribution='erk', interleave='step' if args.lockstep else 'fit', **({'lockstep_order': 'shuffled'} if args.lockstep else {}), torch=torch.__version__, git=git_rev(), label=args.label, date=time.strftime('%Y-%m-%d %H:%M'),
                  timer=('thread_time, 1 torch thread' if args.clock == 'thread' else
                         'perf_counter, cuda-synchronized per step' if device.type == 'cuda' else 'perf_counter'))
    records = []
    for opt in opts:
        dense_round = [med(t) for t in per_round[opt, 'dense']]
        ratios = {c: [med(t) / d for t, d in zip(per_round[opt, c], dense_round)] for c in cases}
        spread = ratios.get('dense_repeat')
        ref = dict(dense_repeat_ratio=med(spread), dense_repeat_min=min(spread), dense_repeat_max=max(spread)) if spread else {}
        print(f"\n{opt}" + (f": dense_repeat / dense {ref['dense_repeat_ratio']:.4f} ({ref['dense_repeat_min']:.3f}-{ref['dense_repeat_max']:.3f}), "
                             "the spread every ratio is read against" if spread else ''))
        print(f"| case | ms/step | ratio to dense | callback host ms/step | update ms | update step ms |")
        print(f"|---|---|---|---|---|---|")
        for case in cases:
            k = opt, case
            all_ms = [ms for t in per_round[k] for ms in t]
            rec = dict(common, opt=opt, case=case, density=1. if case.startswith('dense') else args.density, ms=med(all_ms), ratio=med(ratios[case]),
                       ratio_min=min(ratios[case]), ratio_max=max(ratios[case]), ratios=ratios[case], n_timed=len(all_ms),
                       cb_ms=med(cb_ms[k]) if not case.startswith('dense') else 0., **ref)
            if args.lockstep:
                rec.update(zip(('ratio_step', 'ratio_step_lo', 'ratio_step_hi'), median_ci(pairs[k])), n_pairs=len(pairs[k]))
                if after_ms[k]: rec.update(zip(('ratio_step_settled', 'ratio_step_settled_lo', 'ratio_step_settled_hi'), median_ci(pairs_settled[k])))
            if after_ms[k]:   # a dynamic method: its steps apart from the first after each update, and those
                rs = [med(t) / d for t, d in zip(settled[k], dense_round)]
                rec.update(ms_settled=med([ms for t in settled[k] for ms in t]), ratio_settled=med(rs), ratios_settled=rs,
                           after_update_ms=med(after_ms[k]), n_after_update=len(after_ms[k]))
            records.append(rec)
            if updates[k]:
                records.append(dict(common, opt=opt, case=f'{case}_update', density=args.density, ms=med(updates[k]), n_updates=len(updates[k]),
                                    update_step_ms=med(update_steps[k]), update_step_minus_step_ms=med(update_steps[k]) - rec['ms']))
            upd = f"{med(updates[k]):.2f} | {med(update_steps[k]):.2f}" if updates[k] else "- | -"
            settle = f"; settled {rec['ratio_settled']:.4f}, after an update {rec['after_update_ms']:.3f} ms" if 'ratio_settled' in rec else ''
            step = (f"; step pairs {rec['ratio_step']:.4f} ({rec['ratio_step_lo']:.4f}-{rec['ratio_step_hi']:.4f}, {rec['n_pairs']} pairs)"
                    + (f", settled {rec['ratio_step_settled']:.4f}" if 'ratio_step_settled' in rec else '')) if args.lockstep else ''
            print(f"| {case} | {rec['ms']:.3f} | {rec['ratio']:.4f} ({rec['ratio_min']:.3f}-{rec['ratio_max']:.3f}) | {rec['cb_ms']:.3f} | {upd}{settle}{step} |")
    if args.out != '-':
        out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
        with out.open('a') as f:
            for rec in records: f.write(json.dumps(rec) + '\n')
        print(f"\n{len(records)} records appended to {out}")
    return records

if __name__ == '__main__': main()
