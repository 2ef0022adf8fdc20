"""Run a notebook's code cells in order, `#| gpu` and `#| slow` cells included, where nbdev cannot be installed
(the lent GPU machine). Lines that mention nbdev are dropped; `fastcore.test` comes from the carried wheels.

    python tools/run_cells.py NOTEBOOK [NOTEBOOK ...]     (exit status 1 if a cell fails)
    python tools/run_cells.py --no-slow NOTEBOOK ...         (`#| slow` cells skipped)
    python tools/run_cells.py --keep-going NOTEBOOK ...      (after a failing cell, run the rest: later checks still
                                                              report, though a cell that needs the failed one's names fails too)
"""
import json, linecache, os, sys, time, traceback, types
from pathlib import Path

def run(path, slow=True, keep_going=False):
    "Run the cells from the notebook's own folder, as nbdev-test does (cells read files by paths relative to it); whether all passed."
    path, here = Path(path).resolve(), os.getcwd()
    os.chdir(path.parent)
    try: return _run(path, slow, keep_going)
    finally: os.chdir(here)

def _run(path, slow, keep_going):
    main = types.ModuleType('__main__')   # the cells' own __main__, as in Jupyter: pickle finds their classes by name
    sys.modules['__main__'], ns = main, main.__dict__
    failed = []
    for i, cell in enumerate(json.load(open(path))['cells']):
        src = ''.join(cell['source'])
        if cell['cell_type'] != 'code' or src.lstrip().startswith('#| default_exp'): continue
        if not slow and '#| slow' in src: continue
        src = '\n'.join(l for l in src.splitlines() if 'nbdev' not in l)   # no nbdev there: its imports are dropped
        start, name = time.time(), f'{path}#cell{i}'
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)   # Triton reads a kernel's source
        try: exec(compile(src, name, 'exec'), ns)
        except Exception:
            print(f'FAIL {path} cell {i}:\n{src}\n{traceback.format_exc()}', flush=True)
            if not keep_going: return False
            failed.append(i); continue
        took = time.time() - start
        if '#| gpu' in src or took > 5: print(f"{'gpu ' if '#| gpu' in src else ''}cell {i} passed in {took:.1f} s", flush=True)
    if failed: print(f'{path}: cells {failed} failed', flush=True)
    return not failed

if __name__ == '__main__':
    slow, keep_going = '--no-slow' not in sys.argv, '--keep-going' in sys.argv
    paths = [a for a in sys.argv[1:] if a not in ('--no-slow', '--keep-going')]
    ok = [run(p, slow, keep_going) for p in paths]
    for p, r in zip(paths, ok): print('PASS' if r else 'FAIL', p)
    sys.exit(0 if all(ok) else 1)
