#!/usr/bin/env bash
# Debian packages the test suite needs (idempotent; safe to run as root in CI).
# - chromium: tests render the audit's report.html headlessly to a PNG.
set -euo pipefail

need_chromium() { [ ! -x /usr/bin/chromium ]; }

if need_chromium; then
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    else
        SUDO=""
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    echo "install-test-deps: installed chromium ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
else
    echo "install-test-deps: chromium present"
fi
