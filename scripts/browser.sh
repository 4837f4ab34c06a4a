#!/usr/bin/env bash
# The report's browser test opens the page in headless Chromium (Debian's `chromium`).
# Install it once where apt is available and we may (root or passwordless sudo);
# elsewhere the test is skipped and says why. Never fails the caller.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[browser] no apt-get here: the report's browser test will be skipped"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run=(sudo -n)
else
    echo "[browser] not root: install chromium for the report's browser test (sudo apt-get install chromium)"
    exit 0
fi
echo "[browser] installing chromium (headless browser test of the report page)"
export DEBIAN_FRONTEND=noninteractive
if ! "${run[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    "${run[@]}" apt-get update -qq >/dev/null 2>&1
    "${run[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
        || echo "[browser] apt-get install chromium failed: the browser test will be skipped"
fi
exit 0
