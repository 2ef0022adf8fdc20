#!/usr/bin/env bash
# Fails when splitting import cells, `nbdev-export`, `nbdev-clean` or the README generation would change the notebooks or the exported package.
# Works on a dirty tree too: it compares the files before and after, and leaves the result in place.
set -euo pipefail
cd "$(dirname "$0")/.."
snap() { { echo README.md; find nbs reformer_rigl -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' \
           -not -path '*/__pycache__/*'; } | sort | xargs -d '\n' sha1sum; }
before=$(snap)
# a cell mixing imports with other code breaks the docs build (nbdev runs import cells on their own): split it
python tools/split_imports.py $(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*')
nbdev-export
nbdev-clean
python docs/build.py --readme   # README.md is generated from nbs/index.ipynb
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "nbdev-export / nbdev-clean changed these files (commit the result):"
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "   ", $3}' | sort -u
  exit 1
fi
echo "notebooks and modules in sync"
