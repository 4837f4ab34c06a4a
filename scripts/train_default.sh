#!/usr/bin/env bash
# Reproduce the shipped default model from nothing, across as many sessions as needed.
#
#   scripts/train_default.sh            # prepare data/demo-full, then train in the background
#                                       # (resumes runs/default when it has a checkpoint)
#   scripts/train_default.sh status     # how far the run is
#   scripts/train_default.sh wait       # block until the background run ends
#   scripts/train_default.sh package    # best.ckpt -> segan_cli/weights/default.pt
#
# SEGAN_DATA (default data/demo-full) and SEGAN_RUN (default runs/default) move the
# corpus and the run folder. Training stops by itself at train.max_steps of
# configs/default.yaml; interrupting it loses at most one validation interval.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${SEGAN_DATA:-data/demo-full}"
run="${SEGAN_RUN:-runs/default}"
segan=.venv/bin/segan
pidfile="$run/train.pid"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-start}" in
start)
    bash scripts/setup.sh
    bash scripts/apt_lists.sh
    if [ ! -f "$data/manifest.json" ]; then
        echo "[default] preparing $data (the broad demo corpus; about 15 minutes)"
        "$segan" prepare demo --size full --out "$data"
    fi
    if running; then
        echo "[default] already training (pid $(cat "$pidfile")); see $run/train.log"
        exit 0
    fi
    mkdir -p "$run"
    resume=()
    if [ -f "$run/checkpoints/last.ckpt" ]; then
        resume=(--resume)
        echo "[default] resuming $run"
    fi
    nohup "$segan" train --config configs/default.yaml --data "$data" --out "$run" \
        "${resume[@]}" >>"$run/train.log" 2>&1 &
    echo $! >"$pidfile"
    echo "[default] training in the background (pid $!); log: $run/train.log"
    echo "[default] re-run this script after an interruption to resume; then: $0 package"
    ;;
status)
    if running; then echo "[default] running (pid $(cat "$pidfile"))"; else echo "[default] not running"; fi
    if [ -f "$run/checkpoints/last.ckpt" ]; then "$segan" info "$run/checkpoints/last.ckpt"; fi
    ;;
wait)
    while running; do sleep 30; done
    echo "[default] training process ended; tail of $run/train.log:"
    tail -n 12 "$run/train.log"
    ;;
package)
    .venv/bin/python scripts/package_default.py "$run/best.ckpt" --out segan_cli/weights/default.pt "${@:2}"
    ;;
*)
    echo "usage: $0 [start|status|wait|package]" >&2
    exit 2
    ;;
esac
