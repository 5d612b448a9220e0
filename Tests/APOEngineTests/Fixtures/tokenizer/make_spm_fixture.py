#!/usr/bin/env python3
"""A LLaMA-2-style SentencePiece BPE tokenizer in Hugging Face's form, and the ids `tokenizers` gives.

Trains a tiny SentencePiece BPE model (vocab 1000, byte_fallback, digits split, as LLaMA's) with the
`sentencepiece` library on HH dialogues, converts it to a `tokenizer.json` with transformers'
`LlamaConverter` (the converter LLaMA-2 / TinyLlama's tokenizer.json came from: normalizer
Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, BPE with byte_fallback and merges generated
from the piece scores, decoder Replace/ByteFallback/Fuse/Strip), saves it with
`LlamaTokenizerFast.save_pretrained`, and records for each text the ids `tokenizers` gives (BOS
included, as the tokenizer adds it) and their decode (when it is not "<s> " + the text). HFSentencePieceTokenizerTests checks apo
gives the same. A tiny random LlamaForCausalLM (f32, tied) is saved in the same directory, with
transformers' last-position logits for one text, so the directory is a whole HF checkpoint too.

The reference is `tokenizers` on the saved tokenizer.json. (transformers 5's AutoTokenizer does not
read this file's normalizer for `tokenizer_class: LlamaTokenizer`: it rebuilds the non-legacy
Metaspace form, which differs on leading spaces; apo writes `PreTrainedTokenizerFast` for that reason.)

Texts: the first 260 HH texts of inputs.json, cut to 200 characters to keep the fixture small, and edge cases
(spaces, newlines, unicode, emoji that need byte fallback, digits, special-token strings).

Run in a scratch environment (never a project dependency):
    python3 -m venv $VENV && $VENV/bin/pip install torch transformers tokenizers sentencepiece protobuf
    $VENV/bin/python Tests/APOEngineTests/Fixtures/tokenizer/make_spm_fixture.py HH.jsonl.gz
with HH.jsonl.gz the hh-rlhf harmless-base test split. Writes spm/ and spm_expected.json here.
"""
import gzip
import io
import json
import os
import shutil
import sys
import tempfile

import sentencepiece as spm
import tokenizers
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizerFast
from transformers.convert_slow_tokenizer import LlamaConverter
from transformers.tokenization_utils_base import generate_merges

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "spm")

EDGE_CASES = [
    "", " ", "  ", "   ", "a", " a", "  a", "a ", "a  ", " leading", "trailing ", "  two  spaces  ",
    "multiple     spaces   inside", "\n", "\n\n", "\n\nHuman: hi\n\nAssistant: hello", "tab\there",
    "line one\nline two\r\nline three", "12345", "3.14159 and 2,718", "in 2024, 1,000,000 people",
    "café naïve résumé", "Straße", "日本語のテキスト", "Привет, мир", "emoji 😀🎉 and 🤖!", "🙂",
    "mixed: e\u0301 vs é", "zero\u200bwidth", "\u00a0non-breaking", "aaaa aaaaa aaaaaaaa", "........",
    "----- ===== !!!!!", "Hello<s>world", "</s>", "a</s>b", "<unk>", "<0x41>", "▁already▁meta",
    "UPPER lower MiXeD", "don't won't it's", "https://example.com/path?q=1", "{\"json\": [1, 2]}",
]
HH_TEXTS, HH_CHARS = 260, 200  # keeps spm_expected.json small
SPECIAL_PARSED = {"Hello<s>world", "</s>", "a</s>b", "<unk>"}


class SlowStandIn:
    """What LlamaConverter reads from a slow LlamaTokenizer (transformers 5 has none to build)."""
    legacy = True
    add_prefix_space = True

    def __init__(self, vocab_file):
        self.vocab_file = vocab_file
        self.sp = spm.SentencePieceProcessor(model_file=vocab_file)

    def convert_ids_to_tokens(self, i):
        return self.sp.id_to_piece(i)


class MergesByScore:
    """SentencePieceExtractor as LlamaConverter calls it (transformers 5.x's own extractor takes other
    arguments now): vocab by id, merges from `generate_merges` ranked by the merged piece's score."""

    def __init__(self, model_file):
        self.sp = spm.SentencePieceProcessor(model_file=model_file)

    def extract(self, vocab_scores):
        vocab = {self.sp.id_to_piece(i): i for i in range(self.sp.get_piece_size())}
        return vocab, generate_merges(vocab, vocab_scores)


class Converter(LlamaConverter):
    SpmExtractor = MergesByScore


def train(hh_path, model_file):
    rows = [json.loads(line) for line in gzip.open(hh_path, "rt")]
    texts = [r["chosen"] for r in rows[:600]]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, model_type="bpe", vocab_size=1000,
        byte_fallback=True, split_digits=True, character_coverage=0.9995,
        normalization_rule_name="identity", remove_extra_whitespaces=False, max_sentence_length=100000,
        unk_id=0, bos_id=1, eos_id=2, minloglevel=2)
    open(model_file, "wb").write(model.getvalue())


def main():
    hh_path = sys.argv[1]
    with tempfile.TemporaryDirectory() as scratch:
        model_file = os.path.join(scratch, "tokenizer.model")
        train(hh_path, model_file)
        backend = Converter(SlowStandIn(model_file)).converted()
        fast = LlamaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  add_bos_token=True, add_eos_token=False, legacy=True)
        shutil.rmtree(out, ignore_errors=True)
        fast.save_pretrained(out)
        # A tiny random LLaMA around it, so the directory is a whole checkpoint (f32, tied head).
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                             tie_word_embeddings=True, initializer_range=0.2, bos_token_id=1, eos_token_id=2)
        LlamaForCausalLM(config).eval().save_pretrained(out)
    for junk in ["special_tokens_map.json", "chat_template.jinja", "generation_config.json"]:
        if os.path.exists(os.path.join(out, junk)):
            os.remove(os.path.join(out, junk))

    # The saved files, as `tokenizers` itself loads them.
    tok = tokenizers.Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    spec = json.load(open(os.path.join(out, "tokenizer.json")))
    assert spec["model"]["type"] == "BPE" and spec["model"]["byte_fallback"], spec["model"]["type"]
    assert spec["normalizer"]["type"] == "Sequence", spec["normalizer"]
    inputs = json.load(open(os.path.join(here, "inputs.json")))
    hh = [x["text"][:HH_CHARS] for x in inputs if x["source"].startswith("hh:")][:HH_TEXTS]
    cases = []
    for text in hh + EDGE_CASES:
        ids = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "parse_special": text in SPECIAL_PARSED, "ids": ids,
                      "decoded": tok.decode(ids, skip_special_tokens=False)})
    for c in cases:  # most decodes are "<s> " + the text: only the others are spelled out
        if c["decoded"] == "<s> " + c["text"]:
            del c["decoded"]
    # transformers' fp32 logits at the last position of one text, for the whole-checkpoint test.
    model = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    text = "\n\nHuman: Can I ask you something, café 😀?\n\nAssistant:"
    ids = tok.encode(text).ids
    with torch.no_grad():
        last = model(torch.tensor([ids])).logits[0, -1].tolist()
    checkpoint = {"text": text, "ids": ids, "last_logits": [round(v, 6) for v in last]}
    byte_fallback_cases = sum(any(3 <= i < 259 for i in c["ids"]) for c in cases)
    result = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
              "sentencepiece": spm.__version__, "cases_with_byte_tokens": byte_fallback_cases, "checkpoint": checkpoint, "cases": cases}
    with open(os.path.join(here, "spm_expected.json"), "w") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(len(cases), "cases,", byte_fallback_cases, "with byte-fallback tokens")


if __name__ == "__main__":
    main()
