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
log=.venv/setup.log
# pip's own chatter goes to the log; on failure its tail is shown
pipq() {
    if ! "$VPY" -m pip install --quiet "$@" >>"$log" 2>&1; then
        echo "[setup] pip install $* failed; the end of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
}
stamp=.venv/.segan-installed
want="$(sha1sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VPY" -c "import segan_cli, torch, lightning" 2>/dev/null; then
    echo "[setup] environment up to date"
    exit 0
fi
pipq --upgrade pip setuptools wheel
# A plain `torch` requirement pulls a multi-GB CUDA build; where no torch is
# present, install the pinned CPU build first (SEGAN_TORCH_VERSION overrides the pin).
# Users with GPUs install their own torch beforehand and keep it.
if ! "$VPY" -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch ${SEGAN_TORCH_VERSION:-2.13.0} (CPU build)"
    pipq "torch==${SEGAN_TORCH_VERSION:-2.13.0}"
fi
echo "[setup] installing segan and its dependencies"
pipq -e ".[dev]"
# librosa (the report's spectrograms) compiles its numba kernels on first import and
# caches them: do it here once, not in a user's first `evaluate --report`
echo "[setup] compiling librosa's kernels (once)"
"$VPY" -c "import librosa.core.spectrum" >>"$log" 2>&1 || echo "[setup] note: librosa did not import; see $log" >&2
echo "$want" > "$stamp"
echo "[setup] done: $("$VPY" -c 'import segan_cli, torch; print("segan", segan_cli.__version__, "torch", torch.__version__)')"
