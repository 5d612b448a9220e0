#!/usr/bin/env bash
# Runs the test suite on a fresh Debian machine: system packages, the real model, then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/fetch-model.sh
swift test
