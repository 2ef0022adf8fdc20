"""Host time of the sparse-training callback's per-step hooks on the CPU: what it adds to every training step, apart from its kernels.

On a GPU the callback's hooks (`after_backward`, `before_step`, `after_step`) cost the Python work of each step and the
kernels they launch, which run asynchronously; at WRN-22-2's size (an 8-11 ms step on an H100) the host part is what a
step waits for. This measures the host part on the CPU, on a model with WRN-22-2's count of parameter tensors (a
dense first layer, 20 masked 8x8 linear weights each with a batch norm, a masked head: 21 masked weights, 64
parameters in all, as WRN-22-2 has) and tensors so small that the masking kernels cost next to nothing: the time is
the hooks' Python, dispatch and bookkeeping. It fits `--steps` steps per method and optimizer with
tools/bench_sparse_overhead.py's `fit_case` (a fastai `Learner`, SGD with momentum and weight decay, or Adam), and reports
the median microseconds inside the hooks per normal step (mask-update steps left out) and per whole step, on
`time.thread_time` (CPU time of this thread, one torch thread: other processes on a shared machine do not count).

    PYTHONPATH=. python tools/bench_sparse_callback_host.py [--steps 200] [--cases static,set,snfs,rigl] [--opt sgd,adam] [--label before]
"""
import argparse, json, os, statistics, sys, time
import torch, torch.nn as nn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sparse_overhead import fit_case, make_batches, git_rev

def host_model(n_masked=20, width=8, size=8, n_classes=10):
    "WRN-22-2's count of parameter tensors, tiny: a dense first linear, `n_masked` width x width linears each with a batch norm, a head."
    layers = [nn.Flatten(), nn.Linear(3 * size * size, width)]
    for _ in range(n_masked): layers += [nn.Linear(width, width, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, n_classes))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=200)
    p.add_argument('--warmup', type=int, default=20)
    p.add_argument('--bs', type=int, default=8)
    p.add_argument('--cases', default='static,set,snfs,rigl')
    p.add_argument('--opt', default='sgd,adam')
    p.add_argument('--label', default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    base, batches = host_model(), make_batches(args.bs, 4, torch.device('cpu'), size=8)
    fit_args = argparse.Namespace(steps=args.steps, density=0.1, clock='thread')
    rows = []
    for opt in args.opt.split(','):
        dense = fit_case('dense', base, batches, fit_args, torch.device('cpu'), opt)
        dense_us = statistics.median(ms for ms, _, _ in dense.steps[args.warmup:]) * 1e3
        for case in args.cases.split(','):
            timer = fit_case(case, base, batches, fit_args, torch.device('cpu'), opt)
            kept = [(ms, cb) for ms, upd, cb in timer.steps[args.warmup:] if not upd]
            rec = dict(kind='callback_host', opt=opt, case=case, steps=args.steps, n_timed=len(kept), cb_us=statistics.median(cb for _, cb in kept) * 1e3,
                       step_us=statistics.median(ms for ms, _ in kept) * 1e3, dense_step_us=dense_us, git=git_rev(), label=args.label,
                       torch=torch.__version__, date=time.strftime('%Y-%m-%d %H:%M'))
            rows.append(rec); print(json.dumps(rec), flush=True)
    print(f"\n| opt | case | hooks us/step | step us | dense step us |\n|---|---|---|---|---|")
    for r in rows: print(f"| {r['opt']} | {r['case']} | {r['cb_us']:.1f} | {r['step_us']:.0f} | {r['dense_step_us']:.0f} |")
    return rows

if __name__ == '__main__': main()
