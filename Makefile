# The commands a person types. Every target installs what it needs first, so each works on a fresh clone.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first, from the versions this environment provides (see pyproject.toml for why)
TORCH := torch==2.14.1 torchvision==0.29.1
export PATH := $(CURDIR)/$(BIN):$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export WANDB_MODE ?= offline
export MPLBACKEND ?= Agg

.PHONY: install demo test export sync-check import-check nbtest docs docs-check bench corpus clean help
help:
	@echo "make demo   run the main job (installs first if needed; ARGS=--quick for a 20-second check)"
	@echo "make test   check notebooks/modules are in sync and the import rules, run the notebook tests, build and check the docs"
	@echo "make docs   build the docs site into docs/_site (offline)"
	@echo "make install  create .venv and install torch, the package and its extras"
	@echo "make corpus   build the long-document PyPI corpus for the language models (about 60 MB of wheels from PyPI)"

install: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev,data,wandb]"
	-@git rev-parse --git-dir >/dev/null 2>&1 && $(BIN)/nbdev-install-hooks >/dev/null 2>&1 || true
	@touch $(STAMP)
	@echo "installed into $(VENV)"

demo: install
	$(BIN)/rr-demo $(ARGS)

# fail when the exported modules or the cleaned notebooks differ from what is in the tree
sync-check: install
	tools/check_sync.sh

# reformer/ and sparse/ never import each other, data/ or experiments/; data/ never experiments/; core.py none of them
import-check: install
	$(BIN)/python tools/check_imports.py

# without a GPU, Triton's kernels run in its interpreter; it must be on before any notebook imports triton, since
# notebooks share worker processes (a GPU machine leaves it off, or sets TRITON_INTERPRET itself)
nbtest: install
	TRITON_INTERPRET=$${TRITON_INTERPRET:-$$($(BIN)/python -c 'import torch; print(int(not torch.cuda.is_available()))')} \
	  $(BIN)/nbdev-test --n-workers 2 --timing

test: sync-check import-check nbtest docs-check
	$(BIN)/python tools/readme_blocks.py   # the README's code, run as a user pastes it

export: install
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

docs: install
	$(BIN)/python docs/build.py

docs-check: docs
	$(BIN)/python docs/check.py

# the PyPI corpus of nbs/data/04_corpus.ipynb: pinned wheels, one package one document, checked against its SHA-256
corpus: install
	$(BIN)/rr-corpus $(ARGS)

clean:
	rm -rf docs/_site docs/_build _proc

# needs a CUDA GPU: LSH attention against flash attention, HF transformers and a GPT (tools/bench_attention.py)
bench: install
	$(BIN)/python tools/bench_attention.py $(ARGS)
