#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole path on the built-in demo corpus:
# build the corpus from real recorded speech and noise, show its statistics, train
# the CPU-sized SEGAN (a few minutes on 2 cores), evaluate it beside the Noisy and
# Wiener rows, and enhance one test recording. Everything lands under ./demo
# (override with SEGAN_DEMO_DIR). Re-running reuses what is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/apt_lists.sh
demo="${SEGAN_DEMO_DIR:-demo}"
segan=.venv/bin/segan
corpus="$demo/corpus"
run="$demo/run"

$segan prepare demo --out "$corpus"
$segan stats "$corpus" --plot "$demo/corpus_stats.png"

if [ -f "$run/best.ckpt" ]; then
    echo "already trained: $run/best.ckpt (delete $run to train again)"
elif [ -f "$run/checkpoints/last.ckpt" ]; then
    $segan train --arch segan --config configs/tiny.yaml --data "$corpus" --out "$run" --resume
else
    $segan train --arch segan --config configs/tiny.yaml --data "$corpus" --out "$run"
fi

$segan evaluate --data "$corpus" --ckpt "$run/best.ckpt" --json "$demo/evaluation.json" \
    --csv "$demo/evaluation.csv"

first="$(ls "$corpus/test/noisy" | head -n 1)"
mkdir -p "$demo/enhanced"
$segan enhance "$corpus/test/noisy/$first" "$demo/enhanced/$first" --ckpt "$run/best.ckpt" \
    --overwrite
echo
echo "noisy input:     $corpus/test/noisy/$first"
echo "enhanced output: $demo/enhanced/$first"
echo "scores:          $demo/evaluation.json"
