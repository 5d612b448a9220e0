#!/usr/bin/env python3
"""Reference values for the Swift GGUF reader, dequantiser and Q/K un-permutation.

Usage: make_fixture.py MODEL.gguf OUT.json

Independent implementations used:
- `gguf` (llama.cpp's Python package): GGUFReader + gguf.quants.dequantize, in ggml order.
- Hugging Face `transformers` loading the same GGUF (`from_pretrained(dir, gguf_file=...)`),
  which reverse-permutes Q/K rows into split-halves RoPE order: the layout the engine uses.
"""
import json, os, sys

import numpy as np
import gguf
from gguf.quants import dequantize

path, out = sys.argv[1], sys.argv[2]
reader = gguf.GGUFReader(path)
by_name = {t.name: t for t in reader.tensors}

TENSORS = [
    "token_embd.weight",         # Q8_0 in SmolLM2's file
    "blk.0.attn_q.weight",       # Q4_1, permuted rows
    "blk.0.ffn_down.weight",     # Q4_1, ne0 = 1536
    "blk.29.attn_k.weight",      # Q4_1, last layer
    "blk.7.ffn_norm.weight",     # F32
    "output_norm.weight",        # F32
]

fixture = {"tensors": {}, "hf_rows": {}, "synthetic": {}}

# Block formats the real file does not use: quantised by gguf.quants.quantize from a fixed signal,
# then decoded by gguf.quants.dequantize (raw bytes as hex, expected fp32 values).
signal = (np.sin(np.arange(64) * 0.37) * 3 + np.cos(np.arange(64) * 1.3)).astype(np.float32).reshape(1, 64)
for qtype in [gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0,
              gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.BF16]:
    raw = gguf.quants.quantize(signal, qtype)
    fixture["synthetic"][qtype.name] = {
        "bytes_hex": raw.tobytes().hex(),
        "values": [float(v) for v in dequantize(raw, qtype).reshape(-1)],
    }
for name in TENSORS:
    t = by_name[name]
    x = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
    n = x.size
    stride = max(1, n // 64)
    fixture["tensors"][name] = {
        "type": t.tensor_type.name,
        "ne": [int(d) for d in t.shape],
        "first": [float(v) for v in x[:64]],
        # 64 values spread over the whole tensor, to catch errors past the first blocks.
        "stride": stride,
        "strided": [float(v) for v in x[::stride][:64]],
        "sum": float(x.sum()),
        "sum_squares": float((x * x).sum()),
    }

import torch
from transformers import AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path), dtype=torch.float32)
sd = model.state_dict()
ROWS = {
    "model.layers.0.self_attn.q_proj.weight": [0, 1, 2, 31, 32, 33, 63, 64, 96, 575],
    "model.layers.0.self_attn.k_proj.weight": [0, 1, 31, 32, 33, 63, 64, 191],
    "model.layers.17.self_attn.k_proj.weight": [0, 1, 32, 33, 127, 160],
}
for name, rows in ROWS.items():
    w = sd[name].detach().double().numpy()
    fixture["hf_rows"][name] = {
        "shape": list(w.shape),
        "rows": {str(r): [float(v) for v in w[r, :32]] for r in rows},
        "row_sums": {str(r): float(w[r].sum()) for r in rows},
    }

with open(out, "w") as f:
    json.dump(fixture, f, indent=1)
print("wrote", out)
