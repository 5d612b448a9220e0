"""Reference figures for GGUFExportTests: what llama.cpp makes of apo's GGUF exports.

For each type (f32, f16, q8_0, q4_1) this script runs
    apoctl model export MODEL --format gguf --type T --out smollm2.T.gguf
and records the file's sha256 (the Swift test exports again and compares, which ties these
figures to the writer as it is) and llama.cpp's `llama-perplexity` on hh_sample.txt
(-c 128 -b 128, KV cache in f32 so that only the weights' type separates llama.cpp from apo).
It also checks, independently of llama.cpp's binaries, that every q8_0 / q4_1 tensor holds the
bytes the `gguf` Python package's quantisers (gguf-py, the converter's own, "bit-exact with
ggml-quants.c" for Q8_0) give for the f32 export's same tensor, and that the f32 export's values
are exactly the model's dequantised weights as gguf-py reads the source GGUF (Q/K rows included).

Usage ($VENV a scratch venv with numpy + sentencepiece for gguf-py, never a project dependency;
$LLAMA_CPP a llama.cpp source tree with a CPU build in build/bin):
    $VENV/bin/python Tests/APOEngineTests/Fixtures/gguf/make_gguf_fixture.py \
        --apoctl .build-x/debug/apoctl --llama $LLAMA_CPP --model data/models/SmolLM2-135M-Instruct.Q4_1.gguf
Also exports the tiny transformers-written checkpoint of ../hfcheckpoint to GGUF (f32, q8_0)
and records llama.cpp's perplexity on it (-c 64). Writes llama_cpp.json next to this script.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--apoctl", required=True)
ap.add_argument("--llama", required=True, help="llama.cpp source tree with build/bin (gguf-py is read from it)")
ap.add_argument("--model", required=True)
ap.add_argument("--threads", default="2")
args = ap.parse_args()
sys.path.insert(0, os.path.join(args.llama, "gguf-py"))
from gguf import GGMLQuantizationType, GGUFReader  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

sample = os.path.join(here, "hh_sample.txt")
types = ["f32", "f16", "q8_0", "q4_1"]
work = tempfile.mkdtemp(prefix="apo-gguf-fixture-")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def llama_perplexity(path):
    run = subprocess.run([os.path.join(args.llama, "build", "bin", "llama-perplexity"), "-m", path, "-f", sample,
                          "-c", "128", "-b", "128", "-t", args.threads, "-ctk", "f32", "-ctv", "f32"],
                         capture_output=True, text=True, check=True)
    log = run.stdout + run.stderr
    running = [float(x) for x in re.findall(r"\[\d+\]([0-9.]+)", log)]
    final = float(re.search(r"Final estimate: PPL = ([0-9.]+)", log).group(1))
    return final, running


def apo_perplexity(path):
    run = subprocess.run([args.apoctl, "model", "perplexity", "--model", path, "--file", sample, "--ctx", "128",
                          "--threads", args.threads, "--json"], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def tensors(path):
    return {t.name: t for t in GGUFReader(path).tensors}


commit = subprocess.run(["git", "-C", args.llama, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
result = {"model": os.path.basename(args.model), "sample": "hh_sample.txt", "ctx": 128, "llama_cpp_commit": commit,
          "exports": {}}
for t in types:
    out = os.path.join(work, f"smollm2.{t}.gguf")
    subprocess.run([args.apoctl, "model", "export", args.model, "--format", "gguf", "--type", t, "--out", out],
                   check=True, capture_output=True)
    ppl, running = llama_perplexity(out)
    apo = apo_perplexity(out)
    result["exports"][t] = {"sha256": sha256(out), "bytes": os.path.getsize(out), "llama_cpp_ppl": ppl,
                            "llama_cpp_running": running, "apo_ppl": apo["perplexity"], "apo_running": apo["running"]}
    print(t, result["exports"][t], flush=True)

# The f32 export holds the source's dequantised weights exactly (gguf-py reads and dequantises both).
source = tensors(args.model)
f32 = tensors(os.path.join(work, "smollm2.f32.gguf"))
assert set(source) == set(f32), sorted(set(source) ^ set(f32))
for name, t in f32.items():
    s = source[name]
    want = dequantize(s.data, s.tensor_type).reshape(-1)
    got = np.asarray(t.data).reshape(-1)
    assert want.tobytes() == got.astype(np.float32).tobytes(), f"f32 export differs from the source in {name}"
result["f32_equals_source_dequantised"] = len(f32)

# Each quantised export's blocks are gguf-py's quantisation of the f32 export's values.
for t, qtype in [("f16", GGMLQuantizationType.F16), ("q8_0", GGMLQuantizationType.Q8_0), ("q4_1", GGMLQuantizationType.Q4_1)]:
    exported = tensors(os.path.join(work, f"smollm2.{t}.gguf"))
    same = 0
    for name, x in f32.items():
        values = np.asarray(x.data, dtype=np.float32)
        e = exported[name]
        if values.ndim == 1:
            assert e.tensor_type == GGMLQuantizationType.F32 and np.asarray(e.data).tobytes() == values.tobytes(), name
        else:
            assert e.tensor_type == qtype, (name, e.tensor_type)
            want = np.asarray(quantize(values, qtype)).tobytes()
            assert want == np.asarray(e.data).tobytes(), f"{t}: {name} differs from gguf-py's quantisation"
        same += 1
    result["exports"][t]["tensors_identical_to_gguf_py"] = same

# The tiny Hugging Face checkpoint (../hfcheckpoint/tiny-llama, written by transformers) through
# apo into GGUF: llama.cpp loads it too (its vocabulary uses the plain GPT-2 pre-tokenizer).
tiny = os.path.join(here, "..", "hfcheckpoint", "tiny-llama")
result["tiny_hf_checkpoint"] = {}
for t in ["f32", "q8_0"]:
    out = os.path.join(work, f"tiny.{t}.gguf")
    subprocess.run([args.apoctl, "model", "export", tiny, "--format", "gguf", "--type", t, "--out", out],
                   check=True, capture_output=True)
    run = subprocess.run([os.path.join(args.llama, "build", "bin", "llama-perplexity"), "-m", out, "-f", sample,
                          "-c", "64", "-b", "64", "-t", args.threads, "-ctk", "f32", "-ctv", "f32"],
                         capture_output=True, text=True, check=True)
    ppl = float(re.search(r"Final estimate: PPL = ([0-9.]+)", run.stdout + run.stderr).group(1))
    result["tiny_hf_checkpoint"][t] = {"sha256": sha256(out), "llama_cpp_ppl": ppl}
    os.remove(out)
print(result["tiny_hf_checkpoint"])

json.dump(result, open(os.path.join(here, "llama_cpp.json"), "w"), indent=1)
for t in types:
    os.remove(os.path.join(work, f"smollm2.{t}.gguf"))
os.rmdir(work)
print("wrote llama_cpp.json")
