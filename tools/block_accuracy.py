#!/usr/bin/env python
"""Accuracy cost of block structure at equal density: RigL with single-weight masks against RigL with tile masks
(with and without constant fan-in), on the digits CNN of `rr-run sparse_images` and on a small byte-level
Transformer LM (the stdlib corpus), several seeds; JSON lines out.

    python tools/block_accuracy.py --task digits [--seeds 5] [--density 0.1] [--out nbs/sparse/gpu_runs/block_accuracy/records.jsonl]
    python tools/block_accuracy.py --task lm --seeds 3 --steps 600"""
import argparse, json, os, platform, time, warnings
from pathlib import Path
import torch

CASES = dict(digits={'unstructured': {}, 'block4': dict(block=4), 'block4_fan_in': dict(block=4, constant_fan_in=True), 'block8': dict(block=8)},
             lm={'unstructured': {}, 'block16': dict(block=16), 'block16_fan_in': dict(block=16, constant_fan_in=True)})

def run_lm(seed, density, method, steps, **kw):
    "A 2-layer, d 128 byte-level Transformer LM on 128-byte rows of the stdlib corpus, all its linear weights but the head sparse; valid bits per byte."
    from fastai.basics import Learner, CrossEntropyLossFlat
    from reformer_rigl.core import seed_everything
    from reformer_rigl.experiments.lm import lm_dls, lm_bpc
    from reformer_rigl.reformer.models import TransformerLM
    from reformer_rigl.sparse import SparseTraining
    seed_everything(seed)
    bs, seq_len = 16, 128
    dls = lm_dls('stdlib', seq_len=seq_len, bs=bs, max_bytes=int(steps * bs * seq_len / 0.9) + 1, seed=seed, device='cpu')
    model = TransformerLM(256, 128, 2, 4, 512, seq_len)
    st = SparseTraining(density, 'erk', method, delta_t=25, seed=seed, exclude=['head.weight'], **kw)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), cbs=st)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 3e-3)
    return dict(val_bpb=lm_bpc(model, dls.valid), steps=st.n_steps, density=st.report()['density'], n_updates=len(st.updates))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--task', default='digits', choices=list(CASES)); p.add_argument('--steps', type=int, default=600)
    p.add_argument('--seeds', type=int, default=5); p.add_argument('--density', type=float, default=0.1)
    p.add_argument('--epochs', type=int, default=10); p.add_argument('--method', default='rigl')
    p.add_argument('--out', default='nbs/sparse/gpu_runs/block_accuracy/records.jsonl')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    from reformer_rigl.experiments.sparse_images import run_sparse_digits
    device = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    for seed in range(a.seeds):
        for case, kw in CASES[a.task].items():
            t0 = time.time()
            if a.task == 'lm': r = run_lm(seed, a.density, a.method, a.steps, **kw)
            else:  # the first conv (8×9) and the classifier (10×32) stay dense in every case, so densities match
                r = run_sparse_digits(a.method, density=a.density, seed=seed, epochs=a.epochs, device='cpu', dense_layers=['0.weight', '11.weight'], **kw)
            rec = dict(task=a.task, case=case, method=a.method, seed=seed, target_density=a.density, epochs=a.epochs if a.task == 'digits' else 1,
                       block=kw.get('block'), constant_fan_in=kw.get('constant_fan_in', False),
                       **{k: v for k, v in r.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)},
                       wall_s=round(time.time() - t0, 1), device=device)
            with open(a.out, 'a') as f: f.write(json.dumps(rec) + '\n')
            print(f"seed {seed} {case:14s} " + ' '.join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items() if isinstance(v, (int, float))), flush=True)

if __name__ == '__main__': main()
