#!/usr/bin/env python3
"""Checks the SentencePiece tokenizer files apo writes against Hugging Face's own libraries.

Loads an `apoctl model export --format hf` of the spm/ fixture directory with `tokenizers`
(Tokenizer.from_file), transformers' AutoTokenizer and AutoModelForCausalLM, compares their ids
and decodes on every text of spm_expected.json (what `tokenizers` gave on transformers' own files)
and the checkpoint's last-position logits, and writes spm_hf_check.json: the sha256 of the
tokenizer.json checked and the counts that agreed. HFSentencePieceTokenizerTests re-creates the
file and checks its digest against this one, so a change to the writer must be checked here again.

Usage (scratch venv: pip install torch tokenizers transformers):
    apoctl model export Tests/APOEngineTests/Fixtures/tokenizer/spm --format hf --out $TMP/spm-hf
    check_spm_export.py $TMP/spm-hf
"""
import hashlib
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

directory = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
expected = json.load(open(os.path.join(here, "spm_expected.json")))
path = os.path.join(directory, "tokenizer.json")
raw = Tokenizer.from_file(path)
auto = AutoTokenizer.from_pretrained(directory)
same_raw = same_auto = same_decode = 0
for case in expected["cases"]:
    same_raw += raw.encode(case["text"]).ids == case["ids"]
    same_auto += auto(case["text"])["input_ids"] == case["ids"]
    same_decode += raw.decode(case["ids"], skip_special_tokens=False) == case.get("decoded", "<s> " + case["text"])
model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
checkpoint = expected["checkpoint"]
with torch.no_grad():
    last = model(torch.tensor([checkpoint["ids"]])).logits[0, -1]
gap = (last - torch.tensor(checkpoint["last_logits"])).abs().max().item()
result = {"tokenizer_json_sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
          "texts": len(expected["cases"]), "tokenizers_identical": same_raw, "auto_tokenizer_identical": same_auto,
          "decodes_identical": same_decode, "auto_tokenizer_class": type(auto).__name__,
          "max_logit_gap_vs_fixture": gap}
assert same_raw == same_auto == same_decode == len(expected["cases"]) and gap < 1e-4, result
json.dump(result, open(os.path.join(here, "spm_hf_check.json"), "w"), indent=1)
print(result)
