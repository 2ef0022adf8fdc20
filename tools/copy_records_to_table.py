"""Convert the paper-sized copy-task GPU records (JSON files written by the former `copy_experiment` command line, one per
training setting) into rows of the `copy_task_paper` results table, so that `rr-report copy_task_paper` reads them.
Run once: python tools/copy_records_to_table.py nbs/experiments/gpu_runs"""
import json, sys
from pathlib import Path
from reformer_rigl.experiments.config import load_config, expand_grid, ResultsTable
from reformer_rigl.experiments.copy_task import acc_key, copy_task_model, COPY_PRESETS
from reformer_rigl.experiments.training import training_step_flops

def rows_of(path:Path):
    rec = json.loads(path.read_text())
    (train, accs), = rec['table'].items()
    r, c = rec['records'][0], rec['config']
    seed = int(path.stem.split('-s')[1]) if '-s' in path.stem else 0
    h = None if train == 'full' else int(train.removeprefix('LSH-'))
    over = [f'model.use_lsh={h is not None}', f'train.steps={c["n_steps"]}', f'seed={seed}'] + ([f'model.n_hashes={h}'] if h else [])
    assert {k: v for k, v in c.items() if k != 'n_steps'} == {k: v for k, v in COPY_PRESETS['paper'].items() if k != 'n_steps'}, c
    run, = expand_grid(load_config('copy_task_paper'), over, 'copy_task_paper')
    evals = {None: 'full', 1: 'LSH-1', 2: 'LSH-2', 4: 'LSH-4', 8: 'LSH-8'}
    args = [c[k] for k in ('seq_len', 'vocab_sz', 'd_model', 'd_ff', 'n_heads', 'bucket_size')]
    flops = training_step_flops(lambda: copy_task_model(h, *args), c['seq_len'], c['vocab_sz']) * c['bs'] * r['steps']
    metrics = dict(acc=accs[train] / 100, **{acc_key(e): accs[n] / 100 for e, n in evals.items()}, steps=r['steps'])
    return dict(experiment='copy_task_paper', task='copy_task', config_hash=run.config_hash, seed=seed, swept={}, metrics=metrics,
                flops=flops, info=dict(record=r, source=str(path)), wall_s=r['seconds'], peak_rss_mb=None, rss_scope=None,
                peak_cuda_mb=None, device=r['device'], git=dict(commit=None, dirty=None), versions={}, host=None,
                started=None, finished=None, config=run.cfg)

if __name__ == '__main__':
    root = Path(sys.argv[1] if len(sys.argv) > 1 else 'nbs/experiments/gpu_runs')
    table = ResultsTable(root/'copy_task_paper'/'copy_task_paper.jsonl')
    if table.path.exists(): table.path.unlink()
    for f in sorted(root.glob('copy_task_*k/*.json')): table.append(rows_of(f))
    print(f'{len(table)} rows in {table.path}')
