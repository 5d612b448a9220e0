#!/bin/sh
# Reference perplexities for PerplexityTests, from llama.cpp's perplexity tool.
# Usage: make_reference.sh LLAMA_PERPLEXITY_BINARY MODEL.gguf
# Writes llama_cpp_output.txt next to this script (the final "Final estimate" lines are what the
# test compares against). ctx 128 over sample.txt (529 tokens) gives 4 chunks.
set -eu
here=$(dirname "$0")
out="$here/llama_cpp_output.txt"
: > "$out"
for ctx in 128 256; do
    echo "ctx=$ctx" >> "$out"
    "$1" -m "$2" -f "$here/sample.txt" -c "$ctx" -b "$ctx" -t 2 2>&1 \
        | grep -E 'calculating perplexity|^\[|Final estimate' >> "$out"
done
# The token ids llama.cpp scored, so the perplexity test does not depend on our tokenizer.
"$(dirname "$1")/llama-tokenize" -m "$2" -f "$here/sample.txt" --ids --log-disable 2>/dev/null | tail -n 1 > "$here/sample.tokens.txt"
