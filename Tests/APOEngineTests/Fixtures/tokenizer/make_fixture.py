#!/usr/bin/env python3
"""Reference token ids for the tokenizer parity test, from llama.cpp's llama-tokenize.

llama.cpp's `smollm` pre-tokenizer matches the original SmolLM2 tokenizer; Hugging Face
transformers' tokenizer rebuilt from the GGUF does not (it drops the digit split), so it is not used.

Usage:
    make_fixture.py MODEL.gguf HH.jsonl.gz LLAMA_CPP_BIN_DIR [OUT_DIR]

Writes OUT_DIR/inputs.json (a list of {"text", "parse_special", "source"}) and
OUT_DIR/expected_ids.json (one id list per input, same order). OUT_DIR defaults to this
script's folder. Only the standard library is needed; llama-tokenize runs once per text
(it has no batch mode), with --no-escape so the file bytes are tokenized verbatim.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

# Every STRIDE-th HH pair (from line 0): its query and its chosen response. 155 pairs → 310 texts.
STRIDE = 15

EDGE_CASES = [
    "\n\n1",                      # "\n\n" is one token (1116) before a digit...
    "\n\nHuman:",                 # ...but two (198, 198) before a letter
    "\n\n",
    "\n",
    "",
    " ",
    "  ",
    "   leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "tab\tseparated\t\tvalues\t",
    "\t\t\tindented",
    "mixed \t \n whitespace \r\n end",
    "line one\r\nline two\r\n",
    "12345",
    "1,234,567.89 and -42 and 3.14159",
    " 12345 ",
    "Call 555-0199 or 1-800-FLOWERS",
    "year2024x",
    "I'm can't won't you're we've they'll he'd it's",
    "I'M CAN'T YOU'RE",          # the contraction rule is lowercase only
    "rock 'n' roll, 'quoted'",
    "naïve café résumé Zürich",
    "Ελληνικά русский язык עברית العربية",
    "日本語のテキスト、中文文本，한국어 텍스트",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "math ∑∫√∞ ≠ ≤ ≥ ± × ÷ and ½ ¾ ² ³",
    "fullwidth １２３ and arabic-indic ٣٤٥ digits",
    "non-breaking\u00a0space and\u2003em space and\u3000ideographic",
    "zero\u200bwidth joiner\u200d and soft\u00adhyphen",
    "punctuation!!! ??? ... --- *** ((()))",
    "URL https://example.com/path?query=1&x=y#frag",
    "code: def f(x):\n    return x ** 2  # square\n",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "text with <|endoftext|> inside and <|im_end|> twice <|im_end|>",
    "almost special <|im_start and <im_end|> and <|IM_END|>",
    "<repo_name>x<file_sep>y<filename>z",
    "a" * 300,
    " " * 50 + "x",
    "!" * 100,
    "Ünïcödé ÄÖÜ ß ẞ",
    "\u0301combining first, e\u0301 and a\u0308",
    "control \u0004 bytes \u0013\u001d that SmolLM2 cannot spell",  # llama.cpp drops them
    "bell\u0007 escape\u001b[0m nul\u0000 del\u007f",
]


def hh_texts(path):
    """Queries and chosen responses of every STRIDE-th pair, split as the spec says."""
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % STRIDE:
                continue
            chosen = json.loads(line)["chosen"]
            cut = chosen.rfind("\n\nAssistant:") + len("\n\nAssistant:")
            query, response = chosen[:cut], chosen[cut:]
            if response.startswith(" "):
                response = response[1:]
            texts.append((query, f"hh:{i}:query"))
            texts.append((response, f"hh:{i}:response"))
    return texts


def tokenize(bin_dir, model, text, parse_special):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as tmp:
        tmp.write(text.encode("utf-8"))
        name = tmp.name
    try:
        args = [os.path.join(bin_dir, "llama-tokenize"), "-m", model, "-f", name,
                "--ids", "--no-escape", "--log-disable"]
        if not parse_special:
            args.append("--no-parse-special")
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(name)
    line = [l for l in out.splitlines() if l.startswith("[")][-1]
    return json.loads(line)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    model, hh_path, bin_dir = sys.argv[1:4]
    out_dir = sys.argv[4] if len(sys.argv) == 5 else os.path.dirname(os.path.abspath(__file__))
    inputs = [{"text": t, "parse_special": False, "source": s} for t, s in hh_texts(hh_path)]
    for n, t in enumerate(EDGE_CASES):
        inputs.append({"text": t, "parse_special": False, "source": f"edge:{n}"})
        if "<" in t:
            inputs.append({"text": t, "parse_special": True, "source": f"edge:{n}:special"})
    expected = []
    for n, item in enumerate(inputs):
        expected.append(tokenize(bin_dir, model, item["text"], item["parse_special"]))
        if n % 50 == 0:
            print(f"{n}/{len(inputs)}", file=sys.stderr)
    with open(os.path.join(out_dir, "inputs.json"), "w", encoding="utf-8") as f:
        json.dump(inputs, f, ensure_ascii=False, indent=0)
        f.write("\n")
    with open(os.path.join(out_dir, "expected_ids.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(ids, separators=(",", ":")) for ids in expected) + "\n]\n")
    print(f"wrote {len(inputs)} texts", file=sys.stderr)


if __name__ == "__main__":
    main()
