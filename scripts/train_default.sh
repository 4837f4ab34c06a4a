#!/usr/bin/env bash
# Reproduce the shipped default model from nothing, across as many sessions as needed.
#
#   scripts/train_default.sh            # prepare data/demo-full, then train in the background
#                                       # (resumes from runs/default/checkpoints/last.ckpt)
#   scripts/train_default.sh status     # how far the run is, and its CPU-hours so far
#   scripts/train_default.sh wait       # block until the background run ends
#   scripts/train_default.sh choose     # checkpoint and dry share, on the validation split
#   scripts/train_default.sh package    # the chosen one -> segan_cli/weights/default.pt
#
# One stage: configs/default.yaml as it is (train.max_steps GAN steps, about 8 CPU-hours
# on one thread; `segan info runs/default` states the CPU-hours spent, summed over every
# resumed session). Training runs on one thread (SEGAN_THREADS), leaving the other core
# of a 2-core machine free. Every 1,000 steps a validation writes a checkpoint
# (train.keep_checkpoints keeps each as checkpoints/step-*.ckpt, for `choose`); an
# interruption loses
# at most one validation interval: run this script again to resume.
# SEGAN_DATA (default data/demo-full) and SEGAN_RUN (default runs/default) move the
# corpus and the run folder; SEGAN_MAX_STEPS shortens the run for a smoke test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${SEGAN_DATA:-data/demo-full}"
run="${SEGAN_RUN:-runs/default}"
threads="${SEGAN_THREADS:-1}"
segan=.venv/bin/segan
pidfile="$run/train.pid"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-start}" in
start)
    bash scripts/setup.sh
    bash scripts/apt_lists.sh
    if [ ! -f "$data/manifest.json" ]; then
        echo "[default] preparing $data (the broad demo corpus; about 15 minutes cold)"
        "$segan" prepare demo --size full --out "$data"
    fi
    if running; then
        echo "[default] already training (pid $(cat "$pidfile")); see $run/train.log"
        exit 0
    fi
    mkdir -p "$run"
    resume=()
    [ -f "$run/checkpoints/last.ckpt" ] && resume=(--resume)
    steps=()
    [ -n "${SEGAN_MAX_STEPS:-}" ] && steps=(--max-steps "$SEGAN_MAX_STEPS")
    OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
        nohup "$segan" train --config configs/default.yaml --data "$data" --out "$run" \
        "${resume[@]}" "${steps[@]}" >>"$run/train.log" 2>&1 &
    echo $! >"$pidfile"
    echo "[default] training in the background (pid $!, $threads thread(s)); log: $run/train.log"
    echo "[default] re-run this script after an interruption to resume; then: $0 choose, $0 package"
    ;;
status)
    if running; then echo "[default] running (pid $(cat "$pidfile"))"; else echo "[default] not running"; fi
    if [ -f "$run/checkpoints/last.ckpt" ]; then "$segan" info "$run/checkpoints/last.ckpt"; fi
    tail -n 3 "$run/train.log" 2>/dev/null || true
    ;;
wait)
    while running; do sleep 30; done
    echo "[default] training process ended; tail of $run/train.log:"
    tail -n 12 "$run/train.log"
    ;;
choose)
    mapfile -t ckpts < <(ls "$run"/checkpoints/step-*.ckpt "$run/checkpoints/last.ckpt" 2>/dev/null)
    .venv/bin/python scripts/choose_default.py --corpus "$data" \
        --ckpts "${ckpts[@]}" --dry 0 0.1 0.2 0.3 --limit 48 \
        --out "$run/choice" "${@:2}"
    ;;
package)
    choice="$run/choice/choice.json"
    if [ ! -f "$choice" ]; then echo "[default] run '$0 choose' first" >&2; exit 2; fi
    read -r ckpt dry < <(.venv/bin/python -c 'import json,sys; c=json.load(open(sys.argv[1]))["chosen"]; print(c["ckpt"], c["dry"])' "$choice")
    .venv/bin/python scripts/package_default.py "$ckpt" \
        --out segan_cli/weights/default.pt --dry "$dry" "${@:2}"
    ;;
*)
    echo "usage: $0 [start|status|wait|choose|package]" >&2
    exit 2
    ;;
esac
