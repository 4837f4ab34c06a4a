#!/usr/bin/env bash
# The demo corpus fetches Debian packages with `apt-get download`, which needs the
# package lists. Refresh them once when they are missing and we may (root or sudo).
set -u
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[apt] no apt-get here: the demo corpus is unavailable (use 'segan prepare mix')"
    exit 0
fi
if apt-cache policy asterisk-core-sounds-en-g722 2>/dev/null | grep -q Candidate; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    echo "[apt] refreshing package lists"
    apt-get update -qq >/dev/null 2>&1 || echo "[apt] apt-get update failed"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq >/dev/null 2>&1 || echo "[apt] apt-get update failed"
else
    echo "[apt] package lists are missing; run 'sudo apt-get update' for the demo corpus"
fi
exit 0
