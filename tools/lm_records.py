"""Turn the results tables of `nbs/experiments/gpu_runs/lm_ablations/run.sh` into records, one JSON object per finished run.

    python tools/lm_records.py OUT [--records nbs/experiments/gpu_runs/lm_ablations/records.jsonl]

OUT is the run script's output folder: `abl_*/lm_ablation.jsonl` (the ablations), `ctx*/lm_ablation.jsonl` (the
context-length series) and `copy_s*/copy_task_paper.jsonl` (the copy task's LSH-1 row). Each record has `case`
(`transformer`, `shared_qk`, `reversible`, `lsh1` ... `lsh8`, `ctx1024` ..., `copy_lsh1`), `seed`, `seq_len`, `steps`,
`val_bpb` (bits per byte; none for the copy task), `wall_s` and `device`, then what the case adds: the LSH models'
bits per byte evaluated with other numbers of hash rounds and with full attention, throughput, the learning curve,
and for the copy task its accuracies, `final_loss` against `chance_loss` (ln of the vocabulary), `left_plateau` (the
final loss below half of chance), whether the time limit `stopped_early` the run, and `plateau_end`, the first logged
step whose training loss is below half the loss of the plateau (None when it never left it or, in runs before the
task kept its curve, when there is no curve). Records already in the file (same case, seed, seq_len, steps) are not written twice.
"""
import argparse, json, math, statistics
from pathlib import Path

def lm_case(cfg:dict, folder:str) -> str:
    "The record's case of a byte-LM run: its variant (lsh with its rounds), or its context length in the ctx series."
    m = cfg['model']
    if folder.startswith('ctx'): return f"ctx{cfg['data']['seq_len']}"
    return f"lsh{m['n_hashes']}" if m['variant'] == 'lsh' else m['variant']

def plateau_end(curve:list, frac:float=0.5):
    "First step whose training loss is below `frac` × the median loss of the curve's first tenth (None: never left)."
    losses = [(p['step'], p['train_loss']) for p in curve if 'train_loss' in p]
    if len(losses) < 10: return None
    plateau = statistics.median(l for _, l in losses[:max(len(losses) // 10, 1)])
    return next((s for s, l in losses if l < frac * plateau), None)

def record(row:dict, folder:str) -> dict:
    "One record from one results-table row."
    cfg, m = row['config'], row['metrics']
    base = dict(seed=row['seed'], seq_len=cfg['data']['seq_len'], steps=int(m['steps']), wall_s=row['wall_s'], device=row['device'])
    if row['task'] == 'copy_task':
        curve, chance = row['info'].get('curve', []), math.log(cfg['data']['vocab_sz'])
        return dict(case='copy_lsh1' if cfg['model'].get('use_lsh') and cfg['model']['n_hashes'] == 1 else 'copy', **base, val_bpb=None,
                    acc=m['acc'], **{k: v for k, v in m.items() if k.startswith('acc_')}, final_loss=m.get('final_loss'),
                    chance_loss=chance, left_plateau=m['final_loss'] < 0.5 * chance, plateau_end=plateau_end(curve),
                    stopped_early=row['info'].get('record', {}).get('stopped_early'), curve=curve)
    evals = {k.replace('valid_bpc', 'val_bpb'): v for k, v in m.items() if k.startswith('valid_bpc_')}
    return dict(case=lm_case(cfg, folder), **base, val_bpb=m['valid_bpc'], **evals, train_bpb=m.get('train_bpc'),
                tokens_per_s=m.get('tokens_per_s'), n_params=m.get('n_params'), bs=cfg['data']['bs'],
                d_model=cfg['model']['d_model'], n_layers=cfg['model']['n_layers'], precision=row['info'].get('precision'),
                curve=row['info'].get('curve', []))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out'); p.add_argument('--records', default='nbs/experiments/gpu_runs/lm_ablations/records.jsonl')
    a = p.parse_args()
    path = Path(a.records)
    old = [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []
    key = lambda r: (r['case'], r['seed'], r['seq_len'], r['steps'])
    seen, new = {key(r) for r in old}, []
    for table in sorted(Path(a.out).glob('*/*.jsonl')):
        for line in table.read_text().splitlines():
            if not line.strip(): continue
            r = record(json.loads(line), table.parent.name)
            if key(r) not in seen: seen.add(key(r)); new.append(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('a') as f:
        for r in new: f.write(json.dumps(r) + '\n')
    print(f"{len(new)} records added to {path} ({len(old) + len(new)} in all)")

if __name__ == '__main__': main()
