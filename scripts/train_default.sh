#!/usr/bin/env bash
# Reproduce the shipped default model from nothing, across as many sessions as needed.
#
#   scripts/train_default.sh            # prepare data/demo-full, then train in the background
#                                       # (each stage resumes when it has a checkpoint)
#   scripts/train_default.sh status     # how far the run is
#   scripts/train_default.sh wait       # block until the background run ends
#   scripts/train_default.sh choose     # dry share on the validation split (choose_default.py)
#   scripts/train_default.sh package    # last.ckpt -> segan_cli/weights/default.pt (--dry 0.6)
#
# Two stages, as the shipped model was trained: 1,500 steps of configs/default.yaml with
# clean_share 0.1 (runs/default-stage1), then configs/default.yaml as it is (clean_share
# 0.3, 1,900 steps) from there (runs/default). About one CPU-hour on one thread.
# SEGAN_DATA (default data/demo-full) and SEGAN_RUN (default runs/default) move the
# corpus and the run folder; SEGAN_STAGE1_STEPS (1500) and SEGAN_STAGE2_STEPS (the
# config's 1900) shorten the stages for a smoke test. Interrupting loses at most one validation interval.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${SEGAN_DATA:-data/demo-full}"
run="${SEGAN_RUN:-runs/default}"
segan=.venv/bin/segan
stage1="${run}-stage1"
pidfile="$run/train.pid"
steps1="${SEGAN_STAGE1_STEPS:-1500}"

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
    mkdir -p "$run" "$stage1"
    resume1=() resume2=()
    [ -f "$stage1/checkpoints/last.ckpt" ] && resume1=(--resume)
    [ -f "$run/checkpoints/last.ckpt" ] && resume2=(--resume)
    first_done=0
    [ -f "$stage1/done" ] && first_done=1
    nohup bash -c '
        set -e
        if [ "$0" = 0 ]; then
            "$1" train --config configs/default.yaml --data "$2" --out "$3" \
                --set data.augment.clean_share=0.1 --max-steps "$7" ${4:+--resume}
            touch "$3/done"
        fi
        if [ -n "$6" ]; then
            "$1" train --config configs/default.yaml --data "$2" --out "$5" --resume ${8:+--max-steps "$8"}
        else
            "$1" train --config configs/default.yaml --data "$2" --out "$5" \
                --init-from "$3/checkpoints/last.ckpt" ${8:+--max-steps "$8"}
        fi
    ' "$first_done" "$segan" "$data" "$stage1" "${resume1[*]}" "$run" "${resume2[*]}" \
        "$steps1" "${SEGAN_STAGE2_STEPS:-}" \
        >>"$run/train.log" 2>&1 &
    echo $! >"$pidfile"
    echo "[default] training in the background (pid $!); log: $run/train.log"
    echo "[default] re-run this script after an interruption to resume; then: $0 choose, $0 package"
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
choose)
    .venv/bin/python scripts/choose_default.py --corpus "$data" \
        --ckpts "$run/checkpoints/last.ckpt" --dry 0 0.3 0.5 0.6 0.7 --limit 24 \
        --out "$run/choice" "${@:2}"
    ;;
package)
    .venv/bin/python scripts/package_default.py "$run/checkpoints/last.ckpt" \
        --out segan_cli/weights/default.pt --dry 0.6 "${@:2}"
    ;;
*)
    echo "usage: $0 [start|status|wait|choose|package]" >&2
    exit 2
    ;;
esac
