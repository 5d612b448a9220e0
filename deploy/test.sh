#!/usr/bin/env bash
# Runs the test suite on a fresh Debian machine: system packages, the real model, a throwaway
# PostgreSQL cluster on loopback (the store's conformance suite and the multi-host tests run
# against it), then `swift test`. The cluster is stopped and removed at the end, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/fetch-model.sh
cluster=$(mktemp -d /tmp/apo-test-pg.XXXXXX)
port=${APO_TEST_POSTGRES_PORT:-55433}
cleanup() {
    deploy/postgres-cluster.sh stop "$cluster/data" 2>/dev/null || true
    rm -rf "$cluster"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] && chmod 755 "$cluster"
APO_TEST_POSTGRES_URL=$(deploy/postgres-cluster.sh start "$cluster/data" "$port")
export APO_TEST_POSTGRES_URL
# Jobs that tests run through apod keep frozen-trunk states here, not in the user's cache.
export APO_CACHE_DIR="$cluster/trunk-cache"
swift test "$@"
