#!/usr/bin/env python
"""Move import lines out of code cells that also do other work, into an import-only cell just before.

nbdev's docs processing runs every cell that contains an import (so `show_doc` can see the names), without
the cells before it; a cell that mixes imports with code that needs earlier cells then breaks the docs build.
The README's notebook (nbs/index.ipynb) is left alone: each of its code cells is a quick start that must run as pasted,
imports included, and nbdev's docs processing runs none of its cells (it exports and documents nothing).
    python tools/split_imports.py nbs/**/*.ipynb"""
from __future__ import annotations
import ast, json, re, sys, uuid
from pathlib import Path

_dir = re.compile(r'^#\|\s*(\w+)')

def import_lines(src:str) -> set:
    "Line numbers (from 0) of the cell's top-level import statements, found by parsing (so never inside a string); none when the cell is not plain Python."
    try: tree = ast.parse(src)
    except SyntaxError: return set()  # IPython magics or shell lines: leave the cell alone
    lines = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset == 0: lines |= set(range(node.lineno - 1, node.end_lineno))
    return lines

def split(path: Path) -> int:
    nb = json.loads(path.read_text())
    out, n = [], 0
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        lines = src.splitlines()
        dirs = [_dir.match(l).group(1) for l in lines if _dir.match(l)]
        imps = import_lines(src) if c['cell_type'] == 'code' else set()
        if not imps or all(i in imps or not l.strip() or l.strip().startswith('#') for i, l in enumerate(lines)) or {'export', 'exports'} & set(dirs):
            out.append(c); continue
        head = ['#| hide'] if 'hide' in dirs else []
        out.append(dict(cell_type='code', execution_count=None, id=uuid.uuid4().hex[:8], metadata={}, outputs=[],
                        source='\n'.join(head + [lines[i] for i in sorted(imps)])))
        c['source'] = '\n'.join(l for i, l in enumerate(lines) if i not in imps)
        out.append(c); n += 1
    if n:
        nb['cells'] = out
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return n

def readme_nb() -> Path|None:
    "The notebook README.md is made from (`readme_nb` in pyproject.toml's `[tool.nbdev]`): its code cells are the quick starts a user pastes whole, so they keep their imports."
    root = Path(__file__).resolve().parent.parent
    cfg = (root/'pyproject.toml').read_text()
    name, nbs = re.search(r'^readme_nb\s*=\s*"([^"]+)"', cfg, re.M), re.search(r'^nbs_path\s*=\s*"([^"]+)"', cfg, re.M)
    return (root/(nbs.group(1) if nbs else 'nbs')/name.group(1)).resolve() if name else None

if __name__ == '__main__':
    keep = readme_nb()   # nbdev runs no cell of it in the docs build (it exports and documents nothing)
    for f in sys.argv[1:]:
        if Path(f).resolve() == keep: continue
        k = split(Path(f))
        if k: print(f'{f}: {k} cell(s) split')
