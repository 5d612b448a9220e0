#!/usr/bin/env python3
"""apo's inference benchmark and llama.cpp's, alternated on one machine in one sitting.

Runs `apoctl bench inference --json` and `llama-bench -o json` one after the other, ROUNDS times
(the machines we measure on drift by tens of percent within minutes: only alternated runs compare),
then `llama-batched-bench` once, and prints every figure with the ratio of medians. The llama.cpp
build is the user's own (CPU-only, same thread count); nothing here is a project dependency.

  scripts/bench_inference_side_by_side.py --apoctl .build/release/apoctl \\
      --llama-bin /path/to/llama.cpp/build/bin --model data/models/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import argparse
import json
import re
import statistics
import subprocess


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def ours(args):
    out = run([args.apoctl, "bench", "inference", "--model", args.model, "--threads", str(args.threads),
               "--pp", "512", "--tg", str(args.tg), "--npl", "1", "16", "32", "--repetitions", "3", "--json"])
    return json.loads(out)


def llama_bench(args):
    out = run([f"{args.llama_bin}/llama-bench", "-m", args.model, "-t", str(args.threads), "-p", "512",
               "-n", str(args.tg), "-r", "3", "-o", "json"])
    tests = json.loads(out)
    figures = {}
    for t in tests:
        key = f"pp{t['n_prompt']}" if t["n_gen"] == 0 else f"tg{t['n_gen']}"
        figures[key] = t["avg_ts"]
    figures["cpu_info"] = tests[0].get("cpu_info")
    figures["build_commit"] = tests[0].get("build_commit")
    return figures


def llama_batched(args):
    out = run([f"{args.llama_bin}/llama-batched-bench", "-m", args.model, "-t", str(args.threads), "-c", "8192",
               "-npp", "128", "-ntg", str(args.batched_tg), "-npl", "1,16,32"])
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and re.fullmatch(r"\d+", cells[2]):
            rows[int(cells[2])] = float(cells[7])  # S_TG t/s
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--apoctl", required=True)
    p.add_argument("--llama-bin", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tg", type=int, default=64)
    p.add_argument("--batched-tg", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    apo, peer = [], []
    for r in range(args.rounds):
        apo.append(ours(args))
        peer.append(llama_bench(args))
        print(f"round {r + 1}: apo pp512 {apo[-1]['pp512_tokens_per_s']:.1f} tg{args.tg} {apo[-1]['tg_tokens_per_s']:.1f}"
              f" | llama.cpp pp512 {peer[-1]['pp512']:.1f} tg{args.tg} {peer[-1][f'tg{args.tg}']:.1f}", flush=True)
    batched = llama_batched(args)

    first = apo[0]
    print(f"\nCPU {first['cpu_model']} [{' '.join(first['cpu_flags'])}]; apo: {first['compute_path']}; "
          f"decode weights {first['decode_weights']} ({first.get('decode_weights_formats', '')}); "
          f"llama.cpp {peer[0]['build_commit']} ({peer[0]['cpu_info']}); {args.threads} threads")
    print(f"memory read bandwidth {statistics.median(a['read_bandwidth_gb_per_s'] for a in apo):.1f} GB/s; "
          f"decode bytes per token {first['decode_bytes_per_token'] / 1e6:.1f} MB; ceiling "
          f"{statistics.median(a['tg_bandwidth_limit_tokens_per_s'] for a in apo):.0f} tokens/s")
    print("| measure | apo (runs) | llama.cpp (runs) | ratio of medians |")
    print("| --- | --- | --- | --- |")
    for label, ours_key, peer_key in [("prompt processing, 512 tokens", "pp512_tokens_per_s", "pp512"),
                                      (f"generation, batch 1 (tg{args.tg})", "tg_tokens_per_s", f"tg{args.tg}")]:
        a = [x[ours_key] for x in apo]
        b = [x[peer_key] for x in peer]
        print(f"| {label} | {', '.join(f'{v:.1f}' for v in a)} | {', '.join(f'{v:.1f}' for v in b)} | "
              f"{statistics.median(a) / statistics.median(b):.2f}× |")
    for n in (1, 16, 32):
        a = [x[f"batch{n}_tokens_per_s"] for x in apo]
        b = batched.get(n)
        ratio = f"{statistics.median(a) / b:.2f}×" if b else "—"
        print(f"| generation after a 128-token prompt, batch {n}, aggregate | {', '.join(f'{v:.1f}' for v in a)} | "
              f"{b if b is not None else '—'} | {ratio} |")


if __name__ == "__main__":
    main()
