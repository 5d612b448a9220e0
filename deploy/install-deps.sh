#!/usr/bin/env bash
# Installs the system packages apo builds and runs against (Debian/Ubuntu).
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev libsqlite3-dev libcurl4-openssl-dev zlib1g-dev sqlite3 unzip postgresql iproute2 systemd)
# Tests only: the /metrics test parses the scrape with the Prometheus client's own text parser.
packages+=(python3-prometheus-client)
# For the tests only: the web page is tested in a real headless Chromium.
packages+=(chromium)
# For the tests only: deploy/postgres-cluster.sh tls makes a CA and a server certificate.
packages+=(openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
