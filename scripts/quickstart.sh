#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole path on the built-in demo corpus:
# build the corpus from real recorded speech and noise and show its statistics; score
# the shipped default model beside the Noisy and Wiener rows on the test split (a
# voice and noises it never heard) and enhance one test recording with it; then train
# the CPU-sized SEGAN (a few minutes on 2 cores) and evaluate it the same way.
# It writes the run's evaluation report (a page to open in a browser) and its training
# curves. Everything lands under ./demo (override with SEGAN_DEMO_DIR). Re-running reuses
# what is already there and replaces the reports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/apt_lists.sh
demo="${SEGAN_DEMO_DIR:-demo}"
segan=.venv/bin/segan
corpus="$demo/corpus"
run="$demo/run"

if [ ! -f "$corpus/manifest.json" ]; then
    $segan prepare demo --out "$corpus"
fi
$segan stats "$corpus" --plot "$demo/corpus_stats.png" --overwrite

first="$(ls "$corpus/test/noisy" | head -n 1)"
mkdir -p "$demo/enhanced"
echo
echo "== the default model (no training needed) =="
if $segan info default >/dev/null 2>&1; then
    $segan evaluate --data "$corpus" --ckpt default --json "$demo/default_evaluation.json" \
        --overwrite
    $segan enhance "$corpus/test/noisy/$first" "$demo/enhanced/default_$first" --overwrite
    default_out="$demo/enhanced/default_$first"
else
    echo "this checkout ships no default model yet (see README, Default model); skipped"
    default_out="(none)"
fi

echo
echo "== training your own (the CPU-sized SEGAN, a few minutes) =="

if [ -f "$run/best.ckpt" ]; then
    echo "already trained: $run/best.ckpt (delete $run to train again)"
elif [ -f "$run/checkpoints/last.ckpt" ]; then
    $segan train --arch segan --config configs/tiny.yaml --data "$corpus" --out "$run" \
        --set train.max_epochs=2 --resume
else  # two epochs keep the whole quickstart under 5 minutes on 2 cores
    $segan train --arch segan --config configs/tiny.yaml --data "$corpus" --out "$run" \
        --set train.max_epochs=2
fi

$segan evaluate --data "$corpus" --ckpt "$run/best.ckpt" \
    --json "$demo/evaluation.json" --csv "$demo/evaluation.csv" \
    --report "$demo/report" --overwrite
$segan info "$run" --plot "$demo/training_curves.png" --overwrite >/dev/null
$segan enhance "$corpus/test/noisy/$first" "$demo/enhanced/$first" --ckpt "$run/best.ckpt" \
    --overwrite
echo
echo "noisy input:             $corpus/test/noisy/$first"
echo "default model's output:  $default_out"
echo "your model's output:     $demo/enhanced/$first"
echo "scores:                  $demo/evaluation.json (and default_evaluation.json)"
echo "report (open in a browser, listen and look): $demo/report/index.html"
echo "training curves:         $demo/training_curves.png"
