#!/usr/bin/env python
"""Edit notebooks as text: convert between `.ipynb` and jupytext percent scripts.

    python tools/nbtext.py to-nb  draft.py nbs/reformer/01_attention.ipynb [--run]
    python tools/nbtext.py to-py  nbs/reformer/01_attention.ipynb draft.py

`to-nb` keeps the cell ids and outputs of an existing notebook where a cell's source is unchanged,
writes a plain Python 3 kernelspec (no jupytext metadata), and with `--run` executes the notebook
(skipping `slow`/`gpu` cells, as `nbdev-test` does) and saves its outputs, then runs `nbdev-clean`.
The notebook stays the source of truth: the percent script is a scratch copy for editing."""
import sys, subprocess, json
from pathlib import Path
import jupytext, nbformat

KERNEL = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}

def to_nb(src, dest, run=False):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = dict(KERNEL)
    dest = Path(dest)
    if dest.exists():  # keep outputs of unchanged cells so a text edit does not wipe plots
        old = {''.join(c['source']): c for c in json.loads(dest.read_text())['cells']}
        for c in nb.cells:
            o = old.get(c.source)
            if o is None or o['cell_type'] != c.cell_type: continue
            if 'id' in o: c.id = o['id']  # stable ids: no churn in the exported modules' cell markers
            if c.cell_type == 'code': c.outputs = [nbformat.from_dict(x) for x in o.get('outputs', [])]
    for c in nb.cells: c.metadata = {}
    dest.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, dest, fmt='ipynb')
    if run: subprocess.run(['nbdev-test', str(dest), '--save'], check=True)
    subprocess.run(['nbdev-clean', '--fname', str(dest)], check=True)

def to_py(src, dest):
    nb = jupytext.read(src)
    nb.metadata = {}
    jupytext.write(nb, dest, fmt='py:percent')

if __name__ == '__main__':
    cmd, a, b, *rest = sys.argv[1:]
    if cmd == 'to-nb': to_nb(a, b, run='--run' in rest)
    elif cmd == 'to-py': to_py(a, b)
    else: sys.exit(__doc__)
