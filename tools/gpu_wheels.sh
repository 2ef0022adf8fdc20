# Sourced by the scripts that run on a lent GPU machine (no internet, no fastai there): installs the carried wheels
# (.whl, from ../shared/device/wheels.sh) into /tmp/site once per machine, and puts /tmp/site and the tree on the paths.
#   source tools/gpu_wheels.sh || exit 1
if ! PYTHONPATH=/tmp/site python3 -c "import fastai" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || return 1
fi
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
