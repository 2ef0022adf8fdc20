#!/usr/bin/env python
"""Run every ```python block of README.md as a user would: pasted into a new file, run in a fresh process.

    python tools/readme_blocks.py [README.md]      (part of `make test`; exit status 1 if a block fails)

Each block runs on its own (no block may lean on another's imports or variables), in an empty temporary folder, with
this Python and the environment it was started with, and its time is printed. The README states these times, so
they are worth a look when a quick start grows."""
from __future__ import annotations
import re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300   # seconds for one block: a quick start that needs more is not a quick start

def python_blocks(md: str) -> list[tuple[str, str]]:
    "The ```python blocks of `md`, each with the heading above it."
    blocks, heading = [], '(top)'
    for m in re.finditer(r'^(#+ [^\n]*)$|^```python\n(.*?)^```', md, flags=re.M | re.S):
        if m.group(1): heading = m.group(1).lstrip('#').strip()
        else: blocks.append((heading, m.group(2)))
    return blocks

def run_block(code: str, n: int) -> tuple[int, float, str]:
    "Run `code` as `readme_block_<n>.py` in a fresh process in an empty folder; return (exit status, seconds, output)."
    with tempfile.TemporaryDirectory() as d:
        f = Path(d)/f'readme_block_{n}.py'
        f.write_text(code)
        start = time.time()
        try: r = subprocess.run([sys.executable, f.name], cwd=d, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e: return 124, time.time() - start, f'timed out after {TIMEOUT} s\n{e.stdout or ""}{e.stderr or ""}'
        return r.returncode, time.time() - start, r.stdout + r.stderr

def main():
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT/'README.md'
    blocks = python_blocks(readme.read_text(encoding='utf-8'))
    if not blocks: sys.exit(f'readme blocks: no ```python block in {readme}')
    failed = []
    for n, (heading, code) in enumerate(blocks, 1):
        rc, took, out = run_block(code, n)
        print(f'readme block {n} ({heading}): {"passed" if rc == 0 else f"FAILED (exit status {rc})"} in {took:.1f} s', flush=True)
        if rc: failed.append(n); print('  ' + '\n  '.join(out.rstrip().splitlines()[-25:]), flush=True)
    if failed: sys.exit(f'readme blocks: {len(failed)} of {len(blocks)} failed when run as pasted: {failed}')
    print(f'readme blocks: all {len(blocks)} ran as pasted')

if __name__ == '__main__': main()
