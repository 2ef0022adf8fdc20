#!/usr/bin/env python
"""Check the package's import rules (run by `make test`); exit status 1 and one line per violation when one is broken.

    python tools/check_imports.py

The rules (issue 22): the two library halves stand alone, the data loaders know nothing of the experiments, and the
shared helpers import nothing of the library:
- `reformer/` and `sparse/` never import each other, `data/` or `experiments/`;
- `data/` never imports `experiments/`;
- `core.py` imports none of them;
- in `experiments/`, only the command lines (`demo`, `report`) import the runner: a task registers with
  `experiments.tasks` and the runner imports the task modules, never the other way round.
Every import counts, the ones inside functions too (a lazy import is still a dependency), absolute or relative."""
import ast, sys
from pathlib import Path

PKG = 'reformer_rigl'
PARTS = ('reformer', 'sparse', 'data', 'experiments')
FORBIDDEN = {'reformer': {'sparse', 'data', 'experiments'}, 'sparse': {'reformer', 'data', 'experiments'},
             'data': {'experiments'}, 'core': set(PARTS)}

def part_of(module:str) -> str|None:
    "The top-level part of the library (`reformer`, `sparse`, `data`, `experiments`, `core`) that dotted `module` is in."
    bits = module.split('.')
    return bits[1] if bits[0] == PKG and len(bits) > 1 else None

def imported(path:Path, root:Path):
    "`(line, module)` of every import in the file `path` of the package under `root`, relative imports resolved."
    mod = '.'.join(path.relative_to(root).with_suffix('').parts)
    pkg = mod.rsplit('.', 1)[0] if path.name != '__init__.py' else mod.removesuffix('.__init__')
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names: yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split('.')[:len(pkg.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else: target = node.module or ''
            yield node.lineno, target
            for a in node.names:  # `from reformer_rigl import sparse`: the name is the module
                if part_of(target) is None and target == PKG: yield node.lineno, f'{PKG}.{a.name}'

RUNNER, RUNNER_USERS = f'{PKG}.experiments.runner', {'runner', 'demo', 'report'}

def violations(root:Path) -> list:
    "Every import that breaks a rule, as 'file:line: <part> imports <module> (rule)'."
    out = []
    for path in sorted((root/PKG).rglob('*.py')):
        src_part = part_of('.'.join(path.relative_to(root).with_suffix('').parts))
        if src_part == 'experiments' and path.stem not in RUNNER_USERS:
            out += [f"{path.relative_to(root)}:{line}: imports {RUNNER} (only {', '.join(sorted(RUNNER_USERS - {'runner'}))} "
                    f"import the runner; a task registers with experiments.tasks)" for line, m in imported(path, root) if m == RUNNER]
        if src_part not in FORBIDDEN: continue
        for line, module in imported(path, root):
            dst = part_of(module)
            if dst in FORBIDDEN[src_part]:
                out.append(f"{path.relative_to(root)}:{line}: {src_part} imports {module} "
                           f"({src_part if src_part != 'core' else 'core.py'} never imports {', '.join(sorted(FORBIDDEN[src_part]))})")
    return out

if __name__ == '__main__':
    root = Path(__file__).resolve().parent.parent
    bad = violations(root)
    for v in bad: print(v)
    print(f"import rules: {len(bad)} violation{'s' * (len(bad) != 1)}" if bad else 'import rules: all kept')
    sys.exit(1 if bad else 0)
