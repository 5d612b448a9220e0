"""PyTorch CPU peer for `apoctl rm bench`: the same reward-model step on the same shapes.

Usage: bench_rm_torch.py <gguf path> [--seq-len 256] [--micro-batch 4] [--trainable-layers 30]
                         [--threads 2] [--steps 3] [--dtype fp32|bf16]

Training step = forward over micro-batch sequences (pairs of chosen/rejected), last-token pooling,
ranking loss, backward, AdamW; blocks below the top `trainable-layers` are frozen (requires_grad
False, so autograd stops there, as our engine does). Scoring = no-grad forward of the same batch.
`--dtype bf16` runs forward passes under CPU autocast (bf16 matmuls, fp32 weights and optimiser),
the way PyTorch users train in mixed precision. Prints tokens/s for both and peak RSS. Scratch tooling: never a project dependency.
"""
import argparse
import os
import resource
import time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("gguf")
ap.add_argument("--seq-len", type=int, default=256)
ap.add_argument("--micro-batch", type=int, default=4)
ap.add_argument("--trainable-layers", type=int, default=30)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
args = ap.parse_args()
autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16")

torch.set_num_threads(args.threads)
torch.manual_seed(0)
lm = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(args.gguf)),
                                          gguf_file=os.path.basename(args.gguf), dtype=torch.float32)
backbone = lm.model
cfg = backbone.config
head = torch.nn.Parameter(torch.randn(cfg.hidden_size) / cfg.hidden_size ** 0.5)
L, K = cfg.num_hidden_layers, min(args.trainable_layers, cfg.num_hidden_layers)
for p in backbone.parameters():
    p.requires_grad_(False)
for layer in backbone.layers[L - K:]:
    for p in layer.parameters():
        p.requires_grad_(True)
backbone.norm.weight.requires_grad_(True)
if K == L:
    backbone.embed_tokens.weight.requires_grad_(False)  # the engine's default: embedding frozen
params = [p for p in backbone.parameters() if p.requires_grad] + [head]
opt = torch.optim.AdamW(params, lr=1e-6, weight_decay=0.0)

B, T = args.micro_batch, args.seq_len
def batch():
    ids = torch.randint(17, cfg.vocab_size, (B, T))
    ids[:, 0], ids[:, -1] = 1, 2
    return ids

def step():
    ids = batch()
    with autocast:
        h = backbone(input_ids=ids).last_hidden_state
        r = h[:, T - 2].float() @ head
    loss = -torch.nn.functional.logsigmoid(r[0::2] - r[1::2]).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()

step()  # warm-up
t0 = time.time()
for _ in range(args.steps):
    step()
train_tps = B * T * args.steps / (time.time() - t0)
print(f"torch {args.dtype} train: {train_tps:.1f} tokens/s (threads {args.threads}, {B}x{T}, trainable layers {K})", flush=True)

with torch.no_grad(), autocast:
    ids = batch()
    backbone(input_ids=ids)
    t0 = time.time()
    for _ in range(args.steps):
        h = backbone(input_ids=batch()).last_hidden_state
        r = h[:, T - 2] @ head
    score_tps = B * T * args.steps / (time.time() - t0)
print(f"torch {args.dtype} score: {score_tps:.1f} tokens/s", flush=True)
print(f"torch peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
