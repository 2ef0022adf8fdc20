#!/usr/bin/env python
"""Move import lines out of code cells that also do other work, into an import-only cell just before.

nbdev's docs processing runs every cell that contains an import (so `show_doc` can see the names), without
the cells before it; a cell that mixes imports with code that needs earlier cells then breaks the docs build.
    python tools/split_imports.py nbs/**/*.ipynb"""
import json, re, sys, uuid
from pathlib import Path

_imp = re.compile(r'^(from\s+\S+\s+)?import\s')
_dir = re.compile(r'^#\|\s*(\w+)')

def split(path: Path) -> int:
    nb = json.loads(path.read_text())
    out, n = [], 0
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        lines = src.splitlines()
        dirs = [_dir.match(l).group(1) for l in lines if _dir.match(l)]
        code = [l for l in lines if l.strip() and not l.strip().startswith('#')]
        imps, depth = [], 0  # top-level imports only (no indentation), with their continuation lines
        for l in lines:
            if depth or _imp.match(l):
                imps.append(l); depth += l.count('(') - l.count(')')
        if c['cell_type'] != 'code' or not imps or len(imps) == len(code) or {'export', 'exports'} & set(dirs):
            out.append(c); continue
        head = ['#| hide'] if 'hide' in dirs else []
        out.append(dict(cell_type='code', execution_count=None, id=uuid.uuid4().hex[:8], metadata={}, outputs=[],
                        source='\n'.join(head + imps)))
        c['source'] = '\n'.join(l for l in lines if l not in imps)
        out.append(c); n += 1
    if n:
        nb['cells'] = out
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return n

if __name__ == '__main__':
    for f in sys.argv[1:]:
        k = split(Path(f))
        if k: print(f'{f}: {k} cell(s) split')
