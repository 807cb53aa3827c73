#!/usr/bin/env python3
"""The PyTorch peer (bench/peer/pytorch_step.py, same arguments) under torch.autocast in bfloat16: the official
scripts' precision for the Llama models (matmuls in bf16 on tensor cores, the mem vectors, AdamW and the loss's
softmax in fp32). Every JSON line it prints gets "precision": "bf16-autocast" (the plain peer's are fp32).

  python3 bench/gpu/peer_autocast.py --model DIR --tokens 128 --batches 1,16 --steps 5 --device cuda
"""
import json
import os
import runpy
import sys


class Tagged:
    """stdout that adds the precision to each JSON line."""

    def __init__(self, out):
        self.out, self.buf = out, ""

    def write(self, text):
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            try:
                obj = json.loads(line)
                obj["precision"] = "bf16-autocast"
                line = json.dumps(obj)
            except ValueError:
                pass
            self.out.write(line + "\n")
        return len(text)

    def flush(self):
        self.out.flush()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    peer = next(p for p in (os.path.join(here, "pytorch_step.py"), os.path.join(here, "..", "peer", "pytorch_step.py"))
                if os.path.exists(p))
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    sys.stdout = Tagged(sys.stdout)
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"kind": "pytorch", "skipped": f"no torch: {e}"}), flush=True)
        return
    with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16):
        sys.argv[0] = peer
        runpy.run_path(peer, run_name="__main__")


if __name__ == "__main__":
    main()
