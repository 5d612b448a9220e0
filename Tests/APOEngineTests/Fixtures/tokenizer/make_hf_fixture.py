#!/usr/bin/env python3
"""Checks the Hugging Face tokenizer files apo writes against Hugging Face's own libraries.

Loads DIR/tokenizer.json with `tokenizers` (Tokenizer.from_file) and DIR with transformers'
AutoTokenizer, encodes every text of inputs.json (plain text: no special-token parsing, as the
parity fixture's llama.cpp ids for those texts), compares with expected_ids.json (llama.cpp's ids,
which apo's tokenizer matches), and writes hf_check.json: the sha256 of the tokenizer.json checked
and the number of texts that agreed. The Swift test re-creates the files, checks their digest
against this one, so a change to the writer must be checked here again.

Usage (scratch venv: pip install tokenizers transformers):
    apoctl model export data/models/SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/smol-hf
    make_hf_fixture.py /tmp/smol-hf [FIXTURE_DIR]
"""
import hashlib
import json
import os
import sys

from tokenizers import Tokenizer
from transformers import AutoTokenizer

directory = sys.argv[1]
fixtures = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
inputs = json.load(open(os.path.join(fixtures, "inputs.json")))
expected = json.load(open(os.path.join(fixtures, "expected_ids.json")))
tokenizer_path = os.path.join(directory, "tokenizer.json")
raw = Tokenizer.from_file(tokenizer_path)
auto = AutoTokenizer.from_pretrained(directory)

specials = [t.content for t in raw.get_added_tokens_decoder().values() if t.special]
checked = skipped = 0
for item, ids in zip(inputs, expected):
    if item.get("parse_special") or any(s in item["text"] for s in specials):
        # Hugging Face always reads special-token text as the special token; llama.cpp's plain
        # mode (these ids) reads it as text. apo does either (parse_special), tested on its own.
        skipped += 1
        continue
    text = item["text"]
    got_raw = raw.encode(text, add_special_tokens=False).ids
    got_auto = auto(text, add_special_tokens=False)["input_ids"]
    if got_raw != ids or got_auto != ids:
        sys.exit(f"mismatch on {item.get('source')!r}: {text[:60]!r}\n  tokenizers {got_raw[:20]}\n  auto {got_auto[:20]}\n  expected {ids[:20]}")
    if item["source"].startswith("hh:"):  # edge cases include bytes SmolLM2 has no token for
        assert raw.decode(ids, skip_special_tokens=False) == text, f"decode differs for {text[:60]!r}"
    checked += 1

chat = auto.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
digest = hashlib.sha256(open(tokenizer_path, "rb").read()).hexdigest()
json.dump({"tokenizer_json_sha256": digest, "texts_identical": checked, "texts_with_special_tokens_skipped": skipped,
           "bos_token": auto.bos_token, "eos_token": auto.eos_token, "chat_prompt": chat},
          open(os.path.join(fixtures, "hf_check.json"), "w"), indent=1)
print(f"{checked} texts ({skipped} with special-token text skipped): identical ids from tokenizers and AutoTokenizer; tokenizer.json sha256 {digest}")
