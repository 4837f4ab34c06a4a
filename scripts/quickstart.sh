#!/usr/bin/env bash
# Set everything up (idempotent) and run the main job on the built-in demo corpus:
# build the corpus from real recorded speech and noise, then show its statistics.
# Everything lands under ./demo (override with SEGAN_DEMO_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/apt_lists.sh
demo="${SEGAN_DEMO_DIR:-demo}"
segan=.venv/bin/segan
$segan prepare demo --out "$demo/corpus"
$segan stats "$demo/corpus" --plot "$demo/corpus_stats.png"
