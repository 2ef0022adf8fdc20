"""Turn the results tables of the GPU language-model runs into records, one JSON object per finished run.

    python tools/lm_records.py OUT [--records nbs/experiments/gpu_runs/lm_ablations/records.jsonl]
    python tools/lm_records.py OUT --converged [--git REV] [--records nbs/experiments/gpu_runs/lm_converged/records.jsonl]

With --converged, OUT is an unpacked results archive of `nbs/experiments/gpu_runs/lm_converged/drive.py`: folders
`sweep_lr<lr>_bt<bytes>` (the recipe sweep), `abl_<case>_s<seed>` (the ablations) and `ctx_<model>_n<len>_<buckets>_s<seed>`
(the context series). Each record has `case`, `seed`, `seq_len`, `steps`, `tokens_seen`, `val_bpb`, `curve` (a list
of `{"step", "val_bpb"}`), `corpus_bytes`, `corpus_sha`, `n_params`, `wall_s`, `device`, `git`, and `compile` ('off' or the
`torch.compile` mode of `train.compile`), for a run continued from checkpoints `resumed_at` (the steps it continued at; its
`wall_s` adds the earlier parts' fit times, `earlier_s`, to the last part's wall time), for a run
with `data.window_warmup` that value (and `_warm<start>` after its case), for a run with other positions than the
axial table `pos_enc` (and `_pos<kind>` after its case) and, from runs that record it, `window_stages`
([step, window] where each window began), `last_fifth_gain`
(the relative fall of val_bpb over the last fifth of training: below 0.01 counts as flattened), `flat`, the recipe
(`lr`, `batch_tokens`), and the case's extra evaluations (`val_bpb_h<r>`, `val_bpb_full`); a 64K run's context
evaluation becomes a record of its own, case `context_eval`, with `context` = {bytes of context: bits per byte}.

Without it, OUT is the output folder of `nbs/experiments/gpu_runs/lm_ablations/run.sh` (the 600-step runs):
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

def last_fifth_gain(curve:list, steps:int):
    "Relative fall of val_bpb from the last evaluation at or before 80% of training to the end (None: too few points)."
    pts = [(p['step'], p['val_bpb']) for p in curve]
    before = [v for s, v in pts if s <= 0.8 * steps]
    if not before or len(pts) < 2: return None
    return (before[-1] - pts[-1][1]) / before[-1]

def converged_case(folder:str) -> str:
    "The record's case from a drive.py folder name: 'sweep', 'transformer' ... 'lsh8', 'ctx4096_lsh4', 'ctx4096_lsh4_fix16', 'ctx4096_full', 'ctx16384_rev'."
    if folder.startswith('sweep_'): return 'sweep'
    if folder.startswith('abl_'): return folder[4:].rsplit('_s', 1)[0]
    parts = folder[4:].rsplit('_s', 1)[0].split('_')         # e.g. ['lsh4', 'n4096', 'grow']
    return f"ctx{parts[1][1:]}_{parts[0]}" + ('_fix16' if 'fix16' in parts else '')

def converged_records(row:dict, folder:str, git:str|None=None) -> list:
    "The records of one drive.py results-table row: the run's, and for a run with a context evaluation, a context_eval record."
    cfg, m, info = row['config'], row['metrics'], row['info']
    curve = [{'step': p['step'], 'val_bpb': p['valid_bpc']} for p in info.get('curve', []) if 'valid_bpc' in p]
    base = dict(seed=row['seed'], seq_len=cfg['data']['seq_len'], steps=int(m['steps']), tokens_seen=int(m['tokens']),
                corpus_bytes=m.get('corpus_bytes'), corpus_sha=info.get('corpus_sha'), n_params=m.get('n_params'),
                wall_s=round(row['wall_s'] + m.get('earlier_s', 0.), 3), device=row['device'], git=git or row['git']['commit'],
                lr=cfg['train']['lr'], batch_tokens=cfg['data']['bs'] * cfg['data']['seq_len'] if cfg['data'].get('bs') else cfg['data']['batch_tokens'],
                d_model=cfg['model']['d_model'], n_layers=cfg['model']['n_layers'], n_hashes=cfg['model']['n_hashes'] if cfg['model']['variant'] == 'lsh' else None,
                n_buckets=cfg['model'].get('n_buckets'), precision=info.get('precision'),
                compile=info.get('compile', 'off'))   # 'off', or the torch.compile mode it trained under (train.compile)
    if info.get('resumed_at'): base['resumed_at'] = info['resumed_at']   # continued from a checkpoint at these steps (wall_s: the last part only before the task reported earlier_s)
    gain = last_fifth_gain(curve, base['steps'])
    evals = {k.replace('valid_bpc', 'val_bpb'): v for k, v in m.items() if k.startswith('valid_bpc_') and not k.startswith('valid_bpc_ctx')}
    warm = cfg['data'].get('window_warmup')   # [start, pct]: trained on shorter windows first (case suffix _warm<start>)
    if warm: base['window_warmup'] = warm
    if info.get('window_stages'): base['window_stages'] = info['window_stages']   # [step, window] where each warm-up window began
    pos = cfg['model'].get('pos_enc', 'axial') or 'none'   # positions other than the default axial table: case suffix _pos<kind>, and the field
    if pos != 'axial': base['pos_enc'] = pos
    out = [dict(case=converged_case(folder) + (f'_warm{warm[0]}' if warm else '') + ('' if pos == 'axial' else f'_pos{pos}'), **base, val_bpb=m['valid_bpc'], **evals, train_bpb=m.get('train_bpc'),
                tokens_per_s=m.get('tokens_per_s'), last_fifth_gain=gain, flat=None if gain is None else gain < 0.01, curve=curve)]
    ctx = {int(k[len('valid_bpc_ctx'):]): v for k, v in m.items() if k.startswith('valid_bpc_ctx')}
    if ctx: out.append(dict(case='context_eval', trained_case=out[0]['case'], **base, val_bpb=m['valid_bpc'], context=ctx,
                            context_target=cfg['eval']['context_target'], context_windows=cfg['eval']['context_windows']))
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out'); p.add_argument('--records', default=None)
    p.add_argument('--converged', action='store_true', help="OUT holds lm_converged/drive.py results")
    p.add_argument('--git', help="the commit the runs ran at (the GPU machine's checkout may report an older one)")
    a = p.parse_args()
    if a.converged: return converged_main(a)
    path = Path(a.records or 'nbs/experiments/gpu_runs/lm_ablations/records.jsonl')
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

def converged_main(a):
    path = Path(a.records or 'nbs/experiments/gpu_runs/lm_converged/records.jsonl')
    old = [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []
    key = lambda r: (r['case'], r.get('trained_case'), r['seed'], r['seq_len'], r['steps'], r['lr'], r['batch_tokens'], r['n_buckets'], r.get('compile', 'off'),
                     str(r.get('window_warmup')))
    seen, new = {key(r) for r in old}, []
    for table in sorted(Path(a.out).glob('*/lm_converged.jsonl')):
        for line in table.read_text().splitlines():
            if not line.strip(): continue
            for r in converged_records(json.loads(line), table.parent.name, a.git):
                if key(r) not in seen: seen.add(key(r)); new.append(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('a') as f:
        for r in new: f.write(json.dumps(r) + '\n')
    print(f"{len(new)} records added to {path} ({len(old) + len(new)} in all)")

if __name__ == '__main__': main()
