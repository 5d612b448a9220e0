#!/usr/bin/env python3
"""Reference log-probabilities for the inference parity test (LlamaModelParityTests).

Usage: make_logits.py MODEL.gguf OUTPUT_DIR

Loads the GGUF with Hugging Face transformers (which dequantises every tensor to fp32 and undoes
llama.cpp's Q/K permutation itself — an implementation independent of ours) and runs fixed
token-id prompts. Token ids are explicit so tokenizer differences cannot matter. Writes
OUTPUT_DIR/logits.json:
  {"prompts": [{"tokens": [...],
                "last_top": [[id, logprob], ...20],        # last position, top 20 by log-prob
                "slices": [{"position": p, "ids": [...], "logprobs": [...]}]}]}
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM

# Fixed prompts (SmolLM2 vocabulary ids < 49152). They include BOS/<|im_start|> (1), EOS (2),
# newline (198) and arbitrary mid-vocabulary ids, of different lengths so batching mixes lengths.
PROMPTS = [
    [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198, 19556, 30],
    [504, 2365, 282, 4649, 314],
    [198, 198, 20490, 42, 1812, 416, 339, 5470, 253, 14262, 47, 198, 198, 7563, 20115, 42],
    [34, 32, 33, 35, 36, 37, 38, 39, 40, 41, 1116, 20, 17, 1045, 2234, 30, 23, 30, 32, 31, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3],
]
# Vocabulary slice dumped in full at a few positions (checks the whole distribution, not just the top).
SLICE_IDS = list(range(0, 49152, 997))


def main():
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path),
        torch_dtype=torch.float32)
    model.eval()
    result = {"model": os.path.basename(gguf_path), "prompts": []}
    with torch.no_grad():
        for tokens in PROMPTS:
            logits = model(torch.tensor([tokens])).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            last = logp[-1]
            top = torch.topk(last, 20)
            slices = []
            for p in sorted({0, len(tokens) // 2, len(tokens) - 1}):
                slices.append({"position": p, "ids": SLICE_IDS,
                               "logprobs": [round(float(logp[p, i]), 6) for i in SLICE_IDS]})
            result["prompts"].append({
                "tokens": tokens,
                "last_top": [[int(i), round(float(v), 6)] for v, i in zip(top.values, top.indices)],
                "slices": slices,
            })
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "logits.json"), "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
