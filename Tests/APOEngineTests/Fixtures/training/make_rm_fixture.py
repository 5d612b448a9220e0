"""Reference reward-model numbers from PyTorch for the Swift parity test (RewardModelParityTests).

Usage: make_rm_fixture.py <path/to/SmolLM2-135M-Instruct.Q4_1.gguf> <out dir> [fp32|bf16]
Writes <out dir>/rm_parity.json (fp32, the default) or <out dir>/rm_parity_bf16.json: the same
numbers with the forward pass under CPU bf16 autocast (bf16 matmuls, fp32 weights, norms and loss),
as a PyTorch user trains in mixed precision.

transformers dequantises the GGUF to fp32 and undoes llama.cpp's Q/K permutation itself, so this is
an independent path from file to gradients. The reward head is drawn here (seed 1234) and stored in
the fixture; the Swift side reads it instead of replicating torch's RNG.
Model: LlamaModel (final RMSNorm included) -> hidden[b, len-2] ("last" pooling) -> head.
Loss (spec §3): per item mean over ordered pairs with s'_i > s'_j of -log sigmoid(r_i - r_j),
weighted 1.0 (human) or apo_loss_coeff/apo_sample_num (APO), mean over items, plus
center_coeff * mean(r^2).
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM

gguf_path, out_dir = sys.argv[1], sys.argv[2]
dtype = sys.argv[3] if len(sys.argv) > 3 else "fp32"
assert dtype in ("fp32", "bf16")
torch.manual_seed(1234)
model = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path),
    torch_dtype=torch.float32)
model.train()  # no dropout in LLaMA; train() only enables autograd bookkeeping as usual
backbone = model.model
hidden_size = backbone.config.hidden_size
head = (torch.randn(hidden_size) / hidden_size ** 0.5).requires_grad_(True)

BOS, SEP, EOS, PAD = 1, 5, 2, 0
# Fixed token ids (ordinary vocabulary entries): [BOS] query [SEP] response [EOS].
q1 = [19556, 42, 1073, 314, 253, 11421, 47]
q2 = [19556, 42, 2365, 339, 1141, 47]
items = [
    {"sequences": [[BOS] + q1 + [SEP] + [33875, 30, 2849, 1071, 17, EOS],
                   [BOS] + q1 + [SEP] + [57, 1351, 1060, 17, EOS]],
     "scores": [1.0, 0.0], "apo": False},
    {"sequences": [[BOS] + q2 + [SEP] + [4786, 28, 2744, 281, 253, 1073, 17, EOS],
                   [BOS] + q2 + [SEP] + [44, 3541, EOS]],
     "scores": [1.0, 0.0], "apo": True},
]
apo_loss_coeff, apo_sample_num, rm_kl_coeff, center_coeff = 0.1, 4, 1.0, 0.01

sequences = [s for it in items for s in it["sequences"]]
lengths = [len(s) for s in sequences]
T = max(lengths)
ids = torch.tensor([s + [PAD] * (T - len(s)) for s in sequences])
mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in sequences])
with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
    hidden = backbone(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, T, C], after final norm
hidden = hidden.float()
pooled = torch.stack([hidden[b, lengths[b] - 2] for b in range(len(sequences))])
rewards = pooled @ head  # the head stays fp32 on both sides

loss = torch.zeros(())
k = 0
for it in items:
    n = len(it["sequences"])
    r = rewards[k:k + n]
    s = torch.tensor(it["scores"], dtype=torch.float64)
    s = (s - s.min() + 1e-5) / (s.max() - s.min() + 2e-5)
    terms = [-torch.nn.functional.logsigmoid(r[i] - r[j]) for i in range(n) for j in range(n) if s[i] > s[j]]
    w = apo_loss_coeff / apo_sample_num if it["apo"] else rm_kl_coeff
    loss = loss + w * torch.stack(terms).mean() / len(items)
    k += n
loss = loss + center_coeff * (rewards ** 2).mean()
loss.backward()

used = sorted({t for s in sequences for t in s})
emb_rows = [q1[5], 33875]  # one query token, one response token (each used once)
L = backbone.config.num_hidden_layers
g = {
    "score.weight": head.grad.tolist(),
    "model.norm.weight": backbone.norm.weight.grad.tolist(),
    f"model.layers.{L - 1}.mlp.down_proj.weight[0]": backbone.layers[L - 1].mlp.down_proj.weight.grad[0].tolist(),
    f"model.layers.{L - 1}.post_attention_layernorm.weight": backbone.layers[L - 1].post_attention_layernorm.weight.grad.tolist(),
    "model.layers.0.self_attn.q_proj.weight[0:2]": backbone.layers[0].self_attn.q_proj.weight.grad[0:2].flatten().tolist(),
    "model.layers.0.self_attn.k_proj.weight[0]": backbone.layers[0].self_attn.k_proj.weight.grad[0].tolist(),
    "model.layers.0.self_attn.v_proj.weight[0]": backbone.layers[0].self_attn.v_proj.weight.grad[0].tolist(),
}
for t in emb_rows:
    g[f"model.embed_tokens.weight[{t}]"] = backbone.embed_tokens.weight.grad[t].tolist()

def rounded(xs):
    return [float(f"{x:.7g}") for x in xs]

fixture = {
    "source": "make_rm_fixture.py (PyTorch %s, transformers, %s)" % (torch.__version__, dtype),
    "format": {"bos": BOS, "sep": SEP, "eos": EOS, "pad": PAD},
    "objective": {"apo_loss_coeff": apo_loss_coeff, "apo_sample_num": apo_sample_num,
                  "rm_kl_coeff": rm_kl_coeff, "center_coeff": center_coeff},
    "items": items,
    "head": rounded(head.detach().tolist()),
    "rewards": rewards.detach().tolist(),
    "loss": loss.item(),
    "gradients": {name: rounded(v) for name, v in g.items()},
}
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "rm_parity.json" if dtype == "fp32" else "rm_parity_bf16.json"), "w") as f:
    json.dump(fixture, f)
print("rewards", fixture["rewards"], "loss", fixture["loss"])
