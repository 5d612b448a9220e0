#!/usr/bin/env python3
"""Compare `apoctl model tokenize` with llama.cpp's llama-tokenize on any GGUF vocabulary.

The committed parity test covers SmolLM2 (gpt2 model, smollm pre-tokenizer). This script extends
the check to other vocabularies without committing them, e.g. llama.cpp's own test vocabularies
`models/ggml-vocab-llama-spm.gguf` (SentencePiece BPE with byte fallback), `ggml-vocab-gpt-2.gguf`
(gpt2 pre-tokenizer) and `ggml-vocab-starcoder.gguf` (same regex list as smollm), using the test
strings llama.cpp ships next to them (`*.gguf.inp`) plus this folder's inputs.json.

Usage:
    check_vocab_parity.py APOCTL LLAMA_CPP_BIN_DIR VOCAB.gguf [VOCAB.gguf ...]

Exit status 0 when every text gives identical ids (BOS included, as each vocabulary asks).
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def texts_for(vocab):
    texts = []
    inp = vocab + ".inp"
    if os.path.exists(inp):
        with open(inp, encoding="utf-8") as f:
            texts += [(t, False) for t in f.read().split("\n__ggml_vocab_test__\n")[:-1]]
    with open(os.path.join(HERE, "inputs.json"), encoding="utf-8") as f:
        texts += [(x["text"], x["parse_special"]) for x in json.load(f)]
    return texts


def run_ids(args):
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l.strip()][-1]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    apoctl, bin_dir, vocabs = sys.argv[1], sys.argv[2], sys.argv[3:]
    failed = 0
    for vocab in vocabs:
        bad = 0
        texts = texts_for(vocab)
        for text, special in texts:
            with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as tmp:
                tmp.write(text.encode("utf-8"))
                name = tmp.name
            try:
                ref = json.loads(run_ids([os.path.join(bin_dir, "llama-tokenize"), "-m", vocab, "-f", name,
                                          "--ids", "--no-escape", "--log-disable"]
                                         + ([] if special else ["--no-parse-special"])))
                ours = json.loads(run_ids([apoctl, "model", "tokenize", "--model", vocab, "--file", name, "--json"]
                                          + (["--special"] if special else [])))["ids"]
            finally:
                os.unlink(name)
            if ours != ref:
                bad += 1
                if bad <= 3:
                    print(f"{os.path.basename(vocab)}: {text[:60]!r}\n  apoctl:    {ours[:30]}\n  llama.cpp: {ref[:30]}")
        print(f"{os.path.basename(vocab)}: {len(texts) - bad}/{len(texts)} texts identical")
        failed += bad
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
