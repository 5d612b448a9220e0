#!/usr/bin/env python3
"""SmolLM2 as transformers converts it from our GGUF, loaded by apo (issue 14: "HF checkpoints in").

Run in a scratch venv (torch, transformers, gguf, accelerate; never project dependencies):
    $VENV/bin/python scripts/check_transformers_smollm2.py data/models/SmolLM2-135M-Instruct.Q4_1.gguf OUT_DIR TEXT
transformers loads the GGUF (`gguf_file=`), its weights are saved as a plain fp32 Hugging Face
directory in OUT_DIR (540 MB, so no fixture), and its llama.cpp-style perplexity on TEXT (chunks
of 128 tokens, second halves scored) is printed; compare with
    apoctl model perplexity --model OUT_DIR --file TEXT --ctx 128 --json
README gives the figures of the last run.
"""
import json, math, os, sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

gguf, out, text_file = sys.argv[1], sys.argv[2], sys.argv[3]
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
# transformers marks a GGUF-loaded model as quantized and refuses to save it: copy its weights into
# a plain model of the same config and save that, as a user converting the file would.
config = loaded.config
if hasattr(config, "quantization_config"):
    del config.quantization_config
model = LlamaForCausalLM(config).to(torch.float32)
model.load_state_dict(loaded.state_dict())
model.save_pretrained(out)
tokenizer.save_pretrained(out)

ids = tokenizer(open(text_file).read(), add_special_tokens=False)["input_ids"]
ctx, nll, scored = 128, 0.0, 0
for c in range(len(ids) // ctx):
    chunk = torch.tensor([ids[c * ctx:(c + 1) * ctx]])
    with torch.no_grad():
        logp = torch.log_softmax(model(chunk).logits[0].double(), -1)
    for i in range(ctx // 2, ctx - 1):
        nll -= logp[i, chunk[0, i + 1]].item()
        scored += 1
print(json.dumps({"perplexity": math.exp(nll / scored), "scored_tokens": scored, "chunks": len(ids) // ctx}))
