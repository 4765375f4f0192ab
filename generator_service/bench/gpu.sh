#!/usr/bin/env bash
# The GPU check, offline, in one run (issue 24): every GPU figure in one JSON object.
#
#   bash generator_service/bench/gpu.sh [-o OUT.json] [gpu_check options, e.g. --device cpu --size tiny]
#
# For a machine that has a CUDA build of torch installed and no network. Nothing is downloaded:
#  1. the Python: $PYTHON, else the first of python3.12 python3.13 python3.11 python3 whose torch imports;
#  2. .venv-gpu (EXPOTION_GPU_VENV): a fresh venv with the lock's packages the check needs, from the
#     wheels carried beside the project (GPU_WHEELS, default gpu-wheels/, made by `make gpu-wheels` on a
#     machine with network): `pip install --no-index --find-links GPU_WHEELS --require-hashes`, then
#     the project itself (editable, --no-index, no build isolation);
#  3. then a .pth file naming torch's own site directory, so the venv uses the machine's torch and its
#     CUDA libraries as they are (after the locked packages on sys.path, so those win);
#  4. gpu_check.py: the -m gpu tests, the decoder bench at every precision with 4 takes, 20 adapter
#     training steps, the melody bench (musicgen-melody shape; --skip-melody); the JSON is written after each part, so a timeout still leaves the finished parts.
# Budget: under 8 minutes in all (the check is stopped at CHECK_TIMEOUT_S, default 420 s).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WHEELS="${GPU_WHEELS:-gpu-wheels}"
VENV="${EXPOTION_GPU_VENV:-.venv-gpu}"
OUT_JSON="${OUT:-.}/gpu-check.json"
CHECK_TIMEOUT_S="${CHECK_TIMEOUT_S:-420}"
SETUP_ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) OUT_JSON="$2"; shift 2 ;;
    --setup-only) SETUP_ONLY=1; shift ;;  # steps 1-3 only; $PYTHON then need not have torch
    *) break ;;
  esac
done
START=$SECONDS

has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
PY=""
for candidate in "${PYTHON:-}" python3.12 python3.13 python3.11 python3; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && has_torch "$candidate"; then
    PY="$(command -v "$candidate")"; break
  fi
done
if [ -z "$PY" ] && [ -n "$SETUP_ONLY" ] && [ -n "${PYTHON:-}" ]; then
  PY="$(command -v "$PYTHON")"
  echo "warning: $PY has no torch: --setup-only installs the wheels and the project, and imports no torch" >&2
elif [ -z "$PY" ]; then
  echo "error: no Python here imports torch; this check uses the machine's own CUDA build of torch" >&2
  echo "hint: PYTHON=/path/to/python-with-torch bash $0" >&2
  exit 2
fi
if [ ! -f "$WHEELS/requirements.txt" ]; then
  echo "error: no wheels at $WHEELS/requirements.txt (the check installs offline from them)" >&2
  echo "hint: on a machine with network: make gpu-wheels GPU_PY=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])'), then carry $WHEELS beside the project" >&2
  exit 2
fi
"$PY" -c "import sys; print('python', sys.version.split()[0])" >&2
if has_torch "$PY"; then
  "$PY" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| devices', torch.cuda.device_count())" >&2
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
fi

echo "setting up $VENV offline from $WHEELS ..." >&2
rm -rf "$VENV"
if "$PY" -m venv "$VENV" 2>/dev/null; then
  PIP=("$VENV/bin/python" -m pip)
else  # no ensurepip (Debian without python3-venv): the machine's pip installs into the venv
  rm -rf "$VENV"
  "$PY" -m venv --without-pip "$VENV"
  PIP=("$PY" -m pip --python "$VENV/bin/python")
fi
# PIP_CONFIG_FILE=/dev/null and --isolated: no index or find-links from the machine's pip settings
pip_offline=(env PIP_CONFIG_FILE=/dev/null "${PIP[@]}" install --isolated --quiet --disable-pip-version-check
  --no-index --find-links "$WHEELS" --no-deps)
"${pip_offline[@]}" --require-hashes -r "$WHEELS/requirements.txt"
"${pip_offline[@]}" --no-build-isolation -e .
# only now the machine's torch (pip saw none of that site directory, so the venv holds the locked set)
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if has_torch "$PY"; then
  "$PY" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' >"$site/_machine_torch.pth"
fi
if [ -n "$SETUP_ONLY" ]; then
  "$VENV/bin/python" -c 'import generator_service.bench.gpu_check, expotion_protocol, transformers, tokenizers, safetensors, numpy, pytest'
  echo "set-up done in $((SECONDS - START)) s (--setup-only: the check not run)" >&2
  exit 0
fi
"$VENV/bin/python" -c 'import generator_service, transformers, peft, pytest, torch' \
  || { echo "error: $VENV cannot import the project with the machine's torch" >&2; exit 2; }
echo "set-up done in $((SECONDS - START)) s" >&2

mkdir -p "$(dirname "$OUT_JSON")"
status=0
timeout "$CHECK_TIMEOUT_S" "$VENV/bin/python" -m generator_service.bench.gpu_check -o "$OUT_JSON" "$@" || status=$?
[ "$status" = 124 ] && echo "error: the check ran past ${CHECK_TIMEOUT_S} s; $OUT_JSON holds the parts it finished" >&2
echo "total $((SECONDS - START)) s; $OUT_JSON" >&2
exit "$status"
