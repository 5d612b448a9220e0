#!/usr/bin/env python3
"""The ids `tokenizers` gives for spm/tokenizer.json rewritten in the Metaspace form.

Newer SentencePiece-style tokenizer.json files (Mistral's; transformers' LlamaConverter with
legacy=False) put the "▁" before the text with a `Metaspace` pre-tokenizer instead of a
`Prepend("▁")` normalizer, and it behaves differently in two places: it adds no "▁" to a text that
already starts with a space (or "▁"), and with `prepend_scheme: "first"` none after a special token
inside the text. This takes the legacy fixture (make_spm_fixture.py), replaces its normalizer by
    "normalizer": null,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": SCHEME, "split": false}
(the decoder stays: Replace, ByteFallback, Fuse, Strip), for SCHEME "first" and "always", encodes
every text of spm_expected.json (same parse_special flags) and records, by the text's index there,
the ids of those that differ from the legacy form's (all others are the same). The Swift test
HFSentencePieceTokenizerTests applies the same edit to spm/tokenizer.json and must give these ids.

Run in a scratch environment (never a project dependency):
    python3 -m venv $VENV && $VENV/bin/pip install tokenizers
    $VENV/bin/python Tests/APOEngineTests/Fixtures/tokenizer/make_spm_metaspace_fixture.py
Writes spm_metaspace_expected.json here.
"""
import json
import os

import tokenizers

here = os.path.dirname(os.path.abspath(__file__))


def metaspace(spec, scheme):
    spec = json.loads(json.dumps(spec))
    spec["normalizer"] = None
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": False}
    return spec


def main():
    spec = json.load(open(os.path.join(here, "spm", "tokenizer.json")))
    legacy = json.load(open(os.path.join(here, "spm_expected.json")))["cases"]
    result = {"tokenizers": tokenizers.__version__, "cases": len(legacy), "schemes": {}}
    for scheme in ["first", "always"]:
        tok = tokenizers.Tokenizer.from_str(json.dumps(metaspace(spec, scheme)))
        differing = {}
        for index, case in enumerate(legacy):
            ids = tok.encode(case["text"], add_special_tokens=True).ids
            if ids != case["ids"]:
                differing[str(index)] = ids
        result["schemes"][scheme] = differing
        print(scheme, len(legacy), "cases,", len(differing), "differ from the legacy form")
    with open(os.path.join(here, "spm_metaspace_expected.json"), "w") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
