"""What the sparse-training callback adds to a training step, counted on the CPU: aten ops, host syncs and Python time per step.

Issue 24: RigL's and SNFS's normal steps (no mask update) cost 2-3% more than Static's on an H100 (kind 'overhead' in
nbs/sparse/gpu_runs/sparse_speed/records.jsonl), and the step there waits for its host work. This fits one WRN-22-2
(tools/bench_sparse_overhead.py's model, CIFAR-sized input) in a fastai `Learner` per case (dense, static, set, snfs,
rigl; SGD or Adam) for `--steps` steps with `delta_t = --delta-t`, and counts, per optimizer step, every aten op that
runs (a `TorchDispatchMode` around the whole batch, from `before_batch` to `after_batch`): all ops, the ops that are not
views (on a GPU each is about one kernel launch; a `_foreach_` op counts once, as it launches one grouped kernel per
chunk of tensors), host syncs (`aten._local_scalar_dense`: `.item()`, `int(t)`, `bool(t)`), and the same counts inside the
sparse callback's own events. It also times the callback's events on this thread's CPU clock (one torch thread).

Steps are classed by where they sit against the mask updates (steps counted from 1, an update at every multiple of
`delta_t`): 'update' (the update step itself), 'before' (the step whose backward feeds the update: RigL's dense
gradient), 'after' (the first step after an update) and 'normal' (all others). Per case, class and optimizer it prints
the median over the steps of that class; the batch size does not change the counts (default 2).

    PYTHONPATH=. python tools/bench_sparse_step_ops.py [--opt sgd,adam] [--cases dense,static,set,snfs,rigl] [--steps 24] [--delta-t 6]
"""
import argparse, collections, json, statistics, sys, os, time
import torch, torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.optimizer import SGD, Adam
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sparse_overhead import wide_resnet, make_batches, DeviceBatches, git_rev
from reformer_rigl.sparse import SparseTraining

SYNCS = {'_local_scalar_dense', 'item', 'is_nonzero', 'nonzero', 'equal'}   # ops that wait for a device's result

class OpCounter(TorchDispatchMode):
    "Count aten ops by kind while active: `counts[(where, kind)]`, `where` the current phase ('step' or a callback event)."
    def __init__(self):
        super().__init__()
        self.counts, self.where, self.names = collections.Counter(), 'model', collections.Counter()
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        for where in ('step', self.where):
            self.counts[where, 'ops'] += 1
            if not func.is_view: self.counts[where, 'launches'] += 1
            if name in SYNCS: self.counts[where, 'syncs'] += 1
        if self.where != 'model': self.names[self.where, name] += 1
        return func(*args, **(kwargs or {}))

class CountSteps(Callback):
    "Count each training batch's ops (first to start, last to stop) into `records`."
    order, run_valid = -1000, False
    def __init__(self): self.records, self.mode = [], None
    def before_batch(self):
        self.mode = OpCounter(); self.mode.__enter__(); self.t_cb = 0.
    def after_batch(self): pass

class StopCount(Callback):
    order, run_valid = 1000, False
    def __init__(self, counter): self.counter = counter
    def after_batch(self):
        c = self.counter; c.mode.__exit__(None, None, None)
        c.records.append(dict(c.mode.counts, cb_us=c.t_cb * 1e6, names=dict(c.mode.names))); c.mode = None

def wrap_events(cb, counter):
    "Attribute the ops of `cb`'s per-batch events to the callback and time them (thread CPU time)."
    for name in ('before_batch', 'after_pred', 'after_loss', 'before_backward', 'after_backward', 'before_step', 'after_step', 'after_batch'):
        hook = getattr(cb, name)
        def timed(hook=hook):
            mode = counter.mode
            if mode is not None: mode.where = 'cb'
            t = time.thread_time()
            try: return hook()
            finally:
                counter.t_cb += time.thread_time() - t
                if mode is not None: mode.where = 'model'
        setattr(cb, name, timed)

def fit_counts(case, base, batches, steps, delta_t, opt):
    "Per-step counts of one fit of `case`."
    counter = CountSteps()
    cbs = [counter, StopCount(counter)]
    if case != 'dense':
        sparse = SparseTraining(0.1, 'erk', method=case, delta_t=delta_t, t_end=1., seed=0)
        wrap_events(sparse, counter); cbs.append(sparse)
    opt_func = (lambda ps, lr: SGD(ps, lr, mom=0.9, wd=5e-4)) if opt == 'sgd' else (lambda ps, lr: Adam(ps, lr, wd=5e-4))
    dls = DataLoaders(DeviceBatches(*batches, steps), DeviceBatches(*batches, 1))
    learn = Learner(dls, base, loss_func=nn.CrossEntropyLoss(), opt_func=opt_func, lr=0.1 if opt == 'sgd' else 1e-3, cbs=cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    return counter.records

def step_class(n, delta_t):
    "Where optimizer step `n` (from 1) sits against the updates at multiples of `delta_t`."
    if n % delta_t == 0: return 'update'
    if (n + 1) % delta_t == 0: return 'before'
    if n > delta_t and (n - 1) % delta_t == 0: return 'after'
    return 'normal'

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--opt', default='sgd,adam')
    p.add_argument('--cases', default='dense,static,set,snfs,rigl')
    p.add_argument('--steps', type=int, default=24)
    p.add_argument('--delta-t', type=int, default=6)
    p.add_argument('--bs', type=int, default=2)
    p.add_argument('--names', action='store_true', help="also print the callback's ops by name on a normal step")
    p.add_argument('--label', default=None)
    p.add_argument('--out', default='-', help='JSON lines appended here ("-": none)')
    args = p.parse_args(argv)
    torch.set_num_threads(1); torch.manual_seed(0)
    base, batches = wide_resnet(22, 2), make_batches(args.bs, 2, torch.device('cpu'))
    med, rows = statistics.median, []
    for opt in args.opt.split(','):
        for case in args.cases.split(','):
            import copy
            recs = fit_counts(case, copy.deepcopy(base), batches, args.steps, args.delta_t, opt)
            by = collections.defaultdict(list)
            for n, r in enumerate(recs, 1):
                if n > 2: by['normal' if case == 'dense' else step_class(n, args.delta_t)].append(r)
            for cls, rs in by.items():
                row = dict(kind='step_ops', opt=opt, case=case, step=cls, n_steps=len(rs), label=args.label, git=git_rev(), torch=torch.__version__,
                           **{f'{w}_{k}': med(r.get((w, k), 0) for r in rs) for w in ('step', 'cb') for k in ('ops', 'launches', 'syncs')},
                           cb_us=med(r['cb_us'] for r in rs))
                rows.append(row)
                if args.names and cls == 'normal' and case != 'dense':
                    print(case, opt, {k[1]: v for k, v in sorted(rs[-1]['names'].items())})
    print("\n| opt | case | step | ops/step | launches/step | syncs/step | callback ops | callback launches | callback syncs | callback host us |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    order = dict(normal=0, before=1, update=2, after=3)
    for r in sorted(rows, key=lambda r: (r['opt'], args.cases.split(',').index(r['case']), order[r['step']])):
        print(f"| {r['opt']} | {r['case']} | {r['step']} | {r['step_ops']:.0f} | {r['step_launches']:.0f} | {r['step_syncs']:.0f} | "
              f"{r['cb_ops']:.0f} | {r['cb_launches']:.0f} | {r['cb_syncs']:.0f} | {r['cb_us']:.0f} |")
    if args.out != '-':
        with open(args.out, 'a') as f:
            for r in rows: f.write(json.dumps(r) + '\n')
    return rows

if __name__ == '__main__': main()
