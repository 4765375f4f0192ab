#!/usr/bin/env bash
# One-shot GPU benchmark of generation (issue 11): sets up, then prints the GPU table.
#
#   bash generator_service/bench/gpu.sh            # table
#   bash generator_service/bench/gpu.sh --json     # one JSON object
#
# Uses the first Python whose torch sees a CUDA device and can import this project ($PYTHON,
# then .venv/bin/python, then python3). Otherwise it creates .venv-gpu with a CUDA build of torch
# (uv picks the build for the installed driver: --torch-backend=auto) and this project, which
# needs network access. Then it runs `bench generate` at musicgen-small shape (random weights):
# transformers' generate() fp32 against our decoder (CUDA graphs) at fp32 / bf16 / int8 (int8 is
# skipped where the CUDA build has no weight-only int8 kernel) and 4 takes sharing each step,
# end to end (T5, decoder, EnCodec). Targets (H100/H200 class): >= 3x generate(), >= 30x real time
# (s per audio s <= 0.033) for one take. Budget: about 5 minutes including set-up on a warm cache.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
AUDIO_S="${AUDIO_S:-10}"
REPEATS="${REPEATS:-2}"
VENV="${EXPOTION_GPU_VENV:-.venv-gpu}"

usable() {  # $1: a python; true when its torch sees CUDA and it can import the project
  [ -x "$(command -v "$1" 2>/dev/null || echo "$1")" ] || return 1
  "$1" - <<'EOF' 2>/dev/null
import sys
import torch
import generator_service  # noqa: F401
sys.exit(0 if torch.cuda.is_available() else 1)
EOF
}

PY=""
for candidate in "${PYTHON:-}" .venv/bin/python "$VENV/bin/python" python3; do
  if [ -n "$candidate" ] && usable "$candidate"; then PY="$candidate"; break; fi
done

if [ -z "$PY" ]; then
  echo "setting up $VENV (CUDA build of torch + this project) ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip uv
  "$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" --torch-backend=auto "torch==2.13.0"
  "$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" -e ".[service]"
  PY="$VENV/bin/python"
  usable "$PY" || { echo "error: torch in $VENV sees no CUDA device (driver? CUDA_VISIBLE_DEVICES?)" >&2; exit 2; }
fi

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" >&2

exec timeout 270 "$PY" -m generator_service bench generate --device cuda --size small \
  --seconds "$AUDIO_S" --repeats "$REPEATS" --takes 4 "$@"
