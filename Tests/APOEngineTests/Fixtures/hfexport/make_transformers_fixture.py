"""Hugging Face transformers on apo's exports, for HFExportTests.

1. A policy: `apoctl model export SmolLM2.gguf --format hf --out policy/`, loaded with
   AutoTokenizer + AutoModelForCausalLM (fp32). Records the token ids and raw logits (top 20 and
   a fixed id slice) at a few positions of a few prompts.
2. A reward model: `apoctl rm train` with lr 0 on hh_pairs.json (so the weights are SmolLM2's and
   the head is train-rm's seeded initial head), then `apoctl model export RM --format hf --out rm/`,
   loaded with AutoModelForSequenceClassification (LlamaForSequenceClassification, num_labels 1).
   Every text of hh_pairs.json is framed as apo frames it — [BOS] query [SEP] response [EOS], the
   ids from reward_model.json — and scored in one right-padded batch with config.pad_token_id as
   the padding, so HF pools the last non-pad token. Records ids and rewards.
Also records the sha256 of the files apo wrote, which the Swift test recomputes from its writer.

Usage (scratch venv with torch, transformers, safetensors; never a project dependency):
    $VENV/bin/python Tests/APOEngineTests/Fixtures/hfexport/make_transformers_fixture.py \
        --apoctl .build-x/debug/apoctl --model data/models/SmolLM2-135M-Instruct.Q4_1.gguf
Writes transformers.json next to this script.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--apoctl", required=True)
ap.add_argument("--model", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="apo-hfexport-fixture-")
torch.set_num_threads(2)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digests(directory, names):
    return {n: sha256(os.path.join(directory, n)) for n in names}


# 1. The policy.
policy = os.path.join(work, "policy")
subprocess.run([args.apoctl, "model", "export", args.model, "--format", "hf", "--out", policy], check=True)
tokenizer = AutoTokenizer.from_pretrained(policy)
lm = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32).eval()
prompts = [
    "The capital of France is",
    "Human: Can you recommend a good book about the history of science?\n\nAssistant:",
    tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True),
]
slice_ids = list(range(0, 49152, 4093))
cases = []
for text in prompts:
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    with torch.no_grad():
        logits = lm(torch.tensor([ids])).logits[0]
    positions = sorted({len(ids) // 2, len(ids) - 1})
    checks = []
    for p in positions:
        row = logits[p]
        top = torch.topk(row, 20).indices.tolist()
        ids_checked = top + slice_ids
        checks.append({"position": p, "ids": ids_checked, "logits": [row[i].item() for i in ids_checked]})
    cases.append({"text": text, "ids": ids, "checks": checks})
policy_files = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]
result = {"transformers": transformers.__version__, "torch": torch.__version__,
          "policy": {"sha256": digests(policy, policy_files), "cases": cases}}
del lm

# 2. The reward model.
pairs_file = os.path.join(here, "hh_pairs.json")
run = os.path.join(work, "rmrun")
subprocess.run([args.apoctl, "rm", "train", "--train", pairs_file, "--init-model", args.model, "--out", run,
                "--set", "lr=0", "--set", "seed=7", "--set", "batch=2", "--set", "micro_batch=2", "--set", "max_pairs=2",
                "--set", "warmup=0"], check=True)
rm = os.path.join(work, "rm")
subprocess.run([args.apoctl, "model", "export", os.path.join(run, "model"), "--format", "hf", "--out", rm], check=True)
settings = json.load(open(os.path.join(rm, "reward_model.json")))
fmt = settings["format"]
config = json.load(open(os.path.join(rm, "config.json")))
assert config["architectures"] == ["LlamaForSequenceClassification"], config["architectures"]
classifier = AutoModelForSequenceClassification.from_pretrained(rm, dtype=torch.float32).eval()
assert classifier.config.num_labels == 1 and classifier.score.weight.shape == (1, 576)
rm_tokenizer = AutoTokenizer.from_pretrained(rm)
sequences = []
for item in json.load(open(pairs_file)):
    for text in item["text"]:
        query, response = text.split("<sep>", 1)
        ids = [fmt["bos"]] if fmt.get("bos") is not None else []
        ids += rm_tokenizer(query, add_special_tokens=False)["input_ids"] + [fmt["sep"]]
        ids += rm_tokenizer(response, add_special_tokens=False)["input_ids"] + [fmt["eos"]]
        sequences.append(ids)
pad = classifier.config.pad_token_id
width = max(len(s) for s in sequences)
batch = torch.tensor([s + [pad] * (width - len(s)) for s in sequences])
mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
with torch.no_grad():
    rewards = classifier(input_ids=batch, attention_mask=mask).logits[:, 0].tolist()
rm_files = ["model.safetensors", "config.json", "reward_model.json", "tokenizer.json", "tokenizer_config.json"]
result["reward_model"] = {"sha256": digests(rm, rm_files), "settings": settings, "pad_token_id": pad,
                          "sequences": sequences, "rewards": rewards}
json.dump(result, open(os.path.join(here, "transformers.json"), "w"), indent=1)
shutil.rmtree(work)
print("wrote transformers.json: rewards", [round(r, 4) for r in rewards])
