#!/usr/bin/env python3
"""PyTorch reference for the policy losses (SFT cross-entropy and DPO) on SmolLM2-135M-Instruct.

Usage: make_fixture.py MODEL.gguf OUT_DIR
Writes OUT_DIR/policy_fixture.json, read by PolicyParityTests.swift.

The model is loaded by transformers from the GGUF file (dequantised to fp32), independently of the
Swift loader. The examples are fixed token ids (ChatML prompts tokenized once with llama.cpp's
llama-tokenize), so no tokenizer is involved. For each example the response tokens (ending with
<|im_end|> = 2) are scored: token t+1 predicted from position t.

SFT loss: mean over all response tokens of both examples of -log p.
DPO loss: example 0 is "chosen", example 1 "rejected"; reference log-probs are given as numbers
(the policy's own values shifted by +0.8 and -1.3, so policy != reference), beta = 0.5.
Gradient slices: model.norm.weight, layer 29 mlp.down_proj row 0, embedding (= tied head) rows of
three tokens that occur in the examples.
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM

EXAMPLES = [
    # "What is the capital of France?" -> "The capital of France is Paris."
    {"prompt": [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198],
     "response": [504, 3575, 282, 4649, 314, 7042, 30, 2]},
    # "How do I steal a car?" -> "I can't help with that."
    {"prompt": [1, 4093, 198, 2020, 536, 339, 20267, 253, 1076, 47, 2, 198, 1, 520, 9531, 198],
     "response": [57, 416, 982, 724, 351, 338, 30, 2]},
]
BETA = 0.5
REFERENCE_SHIFT = (0.8, -1.3)  # reference = policy + shift (chosen, rejected)
DOWN_PROJ_LAYER = 29
DOWN_PROJ_ROWS = [0]
EMBEDDING_ROWS = [2, 3575, 4649]  # <|im_end|>, " capital", " France"


def sequence_logprobs(model, example):
    ids = torch.tensor([example["prompt"] + example["response"]])
    logits = model(input_ids=ids).logits[0]  # [T, V]
    p = len(example["prompt"])
    logp = torch.log_softmax(logits[p - 1:-1], dim=-1)
    targets = ids[0, p:]
    return logp.gather(1, targets[:, None])[:, 0]  # [response tokens]


def gradient_slices(model):
    named = dict(model.named_parameters())
    down = named[f"model.layers.{DOWN_PROJ_LAYER}.mlp.down_proj.weight"].grad
    emb = named["model.embed_tokens.weight"].grad
    return {
        "model.norm.weight": {"rows": [0], "values": [named["model.norm.weight"].grad.tolist()]},
        f"model.layers.{DOWN_PROJ_LAYER}.mlp.down_proj.weight": {
            "rows": DOWN_PROJ_ROWS, "values": [down[r].tolist() for r in DOWN_PROJ_ROWS]},
        "model.embed_tokens.weight": {"rows": EMBEDDING_ROWS, "values": [emb[r].tolist() for r in EMBEDDING_ROWS]},
    }


def compact(x):
    """Floats to 8 significant digits (more than fp32 holds), to keep the fixture small."""
    if isinstance(x, float):
        return float(f"{x:.8g}")
    if isinstance(x, list):
        return [compact(v) for v in x]
    if isinstance(x, dict):
        return {k: compact(v) for k, v in x.items()}
    return x


def main():
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path),
        dtype=torch.float32)
    model.eval()  # no dropout; gradients still flow
    # transformers builds the embedding with padding_idx = pad_token_id, which is 2 (= EOS,
    # <|im_end|>) for SmolLM2: nn.Embedding then drops the lookup gradient of that row, although
    # <|im_end|> is a real token inside every ChatML sequence. The engine treats every token alike
    # (a PAD-driven quirk is not a training objective), so compare against the plain gradient.
    model.model.embed_tokens.padding_idx = None
    assert model.config.tie_word_embeddings

    # SFT
    model.zero_grad()
    token_logps = [sequence_logprobs(model, e) for e in EXAMPLES]
    all_logps = torch.cat(token_logps)
    sft_loss = -all_logps.mean()
    sft_loss.backward()
    sft = {"loss": sft_loss.item(), "gradients": gradient_slices(model),
           "sequence_logprobs": [t.sum().item() for t in token_logps],
           "token_logprobs": [t.tolist() for t in token_logps]}

    # DPO with reference numbers that differ from the policy
    model.zero_grad()
    lc, lr = (sequence_logprobs(model, e).sum() for e in EXAMPLES)
    ref_c = lc.item() + REFERENCE_SHIFT[0]
    ref_r = lr.item() + REFERENCE_SHIFT[1]
    z = BETA * ((lc - ref_c) - (lr - ref_r))
    dpo_loss = -torch.nn.functional.logsigmoid(z)
    dpo_loss.backward()
    dpo = {"beta": BETA, "reference_chosen": ref_c, "reference_rejected": ref_r, "margin": z.item(),
           "loss": dpo_loss.item(), "gradients": gradient_slices(model)}

    os.makedirs(out_dir, exist_ok=True)
    out = {"version": 1, "examples": EXAMPLES, "sft": sft, "dpo": dpo,
           "transformers_version": __import__("transformers").__version__, "torch_version": torch.__version__}
    with open(os.path.join(out_dir, "policy_fixture.json"), "w") as f:
        json.dump(compact(out), f)
    print(f"sft loss {sft['loss']:.6f}, dpo loss {dpo['loss']:.6f} (margin {dpo['margin']:.4f})")


if __name__ == "__main__":
    main()
