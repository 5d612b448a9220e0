"""A tiny random LLaMA written by Hugging Face transformers, for HFCheckpointTests.

Writes tiny-llama/ (config.json, two safetensors shards + model.safetensors.index.json,
tokenizer.json, tokenizer_config.json) and reference.json (transformers' token ids and fp32 logits
for a few HH texts). The shards mix the three float types apo reads — bf16 (attention, embedding),
f16 (MLP), f32 (norms) — and the embedding is tied to the output head. The tokenizer is a
byte-level BPE trained here by `tokenizers` on HH texts (no download of any kind).

Run in a scratch environment (never a project dependency):
    python3 -m venv $VENV && $VENV/bin/pip install torch transformers safetensors tokenizers
    $VENV/bin/python Tests/APOEngineTests/Fixtures/hfcheckpoint/make_fixture.py
"""
import json
import os
import shutil

import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, AutoModelForCausalLM, AutoTokenizer

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "tiny-llama")
inputs = json.load(open(os.path.join(here, "..", "tokenizer", "inputs.json")))
hh = [x["text"] for x in inputs if x["source"].startswith("hh:")]

# Tokenizer: byte-level BPE, 320 tokens, <|endoftext|> as EOS (id 0).
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train_from_iterator(hh[:200], trainer)
fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")

torch.manual_seed(0)
config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rope_theta=5000.0,
                     rms_norm_eps=1e-5, tie_word_embeddings=True, initializer_range=0.1, bos_token_id=0, eos_token_id=0)
model = LlamaForCausalLM(config).eval()
# Norm weights away from 1 so that a misplaced norm shows.
with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name:
            p.copy_(1 + 0.3 * torch.randn_like(p))

shutil.rmtree(out, ignore_errors=True)
model.to(torch.bfloat16).save_pretrained(out, max_shard_size="120KB")
fast.save_pretrained(out)
for junk in ["generation_config.json", "special_tokens_map.json"]:
    if os.path.exists(os.path.join(out, junk)):
        os.remove(os.path.join(out, junk))

index = json.load(open(os.path.join(out, "model.safetensors.index.json")))
shards = sorted(set(index["weight_map"].values()))
assert len(shards) == 2, shards
for shard in shards:
    path = os.path.join(out, shard)
    tensors = load_file(path)
    for name in tensors:
        if "mlp" in name:
            tensors[name] = tensors[name].to(torch.float16)
        elif "norm" in name:
            tensors[name] = tensors[name].to(torch.float32)
    save_file(tensors, path, metadata={"format": "pt"})
assert "lm_head.weight" not in index["weight_map"]

# The reference: what transformers computes from the files as written (each tensor upcast to fp32).
loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
tokenizer = AutoTokenizer.from_pretrained(out)
texts = [hh[201][:40], hh[203][:30], "Human: 12 + 30 = ?\n\nAssistant: 42"]
cases = []
for text in texts:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = loaded(torch.tensor([ids])).logits[0]
    cases.append({"text": text, "ids": ids, "logits": [[round(v, 7) for v in row] for row in logits.tolist()]})

dtypes = {}
for shard in shards:
    for name, t in load_file(os.path.join(out, shard)).items():
        dtypes[str(t.dtype)] = dtypes.get(str(t.dtype), 0) + 1
json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "vocab_size": config.vocab_size,
           "shards": shards, "dtypes": dtypes, "cases": cases},
          open(os.path.join(here, "reference.json"), "w"), indent=1)
print("wrote", out, "and reference.json:", dtypes, [len(c["ids"]) for c in cases])
