#!/usr/bin/env bash
# Create (or reuse) .venv and install segan with its dev extras.
# Idempotent: a second run only checks that everything is in place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.segan-installed
want="$(sha1sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VPY" -c "import segan_cli, torch, lightning" 2>/dev/null; then
    echo "[setup] environment up to date"
    exit 0
fi
"$VPY" -m pip install --quiet --upgrade pip setuptools wheel 2>&1 | grep -v "is ignored" || true
# A plain `torch` requirement pulls a multi-GB CUDA build; where no torch is
# present, install the pinned CPU build first (SEGAN_TORCH_VERSION overrides the pin).
# Users with GPUs install their own torch beforehand and keep it.
if ! "$VPY" -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch ${SEGAN_TORCH_VERSION:-2.13.0} (CPU build)"
    "$VPY" -m pip install --quiet "torch==${SEGAN_TORCH_VERSION:-2.13.0}"
fi
echo "[setup] installing segan and its dependencies"
"$VPY" -m pip install --quiet -e ".[dev]"
echo "$want" > "$stamp"
echo "[setup] done: $("$VPY" -c 'import segan_cli, torch; print("segan", segan_cli.__version__, "torch", torch.__version__)')"
