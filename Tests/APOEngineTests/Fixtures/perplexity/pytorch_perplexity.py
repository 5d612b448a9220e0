#!/usr/bin/env python3
"""fp32 reference for PerplexityTests: llama.cpp's perplexity procedure (chunks of CTX tokens, each
scored from an empty context, only the second half counted) run with PyTorch transformers on the
GGUF's dequantised weights, on the token ids llama.cpp produced (sample.tokens.txt).

Usage: pytorch_perplexity.py MODEL.gguf [CTX]   (prints "chunk running_perplexity" lines)
"""
import json
import math
import os
import sys

import torch
from transformers import AutoModelForCausalLM

gguf = sys.argv[1]
ctx = int(sys.argv[2]) if len(sys.argv) > 2 else 128
here = os.path.dirname(os.path.abspath(__file__))
model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf),
                                             dtype=torch.float32).eval()
tokens = json.loads(open(os.path.join(here, "sample.tokens.txt")).read())
first = ctx // 2
nll, count = 0.0, 0
with torch.no_grad():
    for c in range(len(tokens) // ctx):
        chunk = tokens[c * ctx:(c + 1) * ctx]
        logp = torch.log_softmax(model(torch.tensor([chunk])).logits[0].double(), -1)
        for i in range(first, ctx - 1):
            nll -= float(logp[i, chunk[i + 1]])
            count += 1
        print(c + 1, "%.6f" % math.exp(nll / count))
