#!/usr/bin/env bash
# The one device command (run in the project root on the lent GPU machine; see bench/gpu/README.md):
#   source .gpu-kit/activate.sh && bash bench/gpu/run-on-device.sh
# carrying [".gpu-kit", "bench/gpu/dist"]. Writes $OUT/gpu-results.json and $OUT/*.jsonl / *.log.
# CPU dry run:  OUT=/tmp/gpu-dry BACKEND=wasm STEPS=2 BATCHES=1,2 TOKENS=16,32 bash bench/gpu/run-on-device.sh
# Env knobs: BACKEND (webgpu), STEPS (10), WARMUP (2), TOKENS (64,512), BATCHES (1,4,16,64), BUDGET_S per model (90).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
OUT=${OUT:-$root/bench/gpu/out}; mkdir -p "$OUT"
BACKEND=${BACKEND:-webgpu}; STEPS=${STEPS:-10}; WARMUP=${WARMUP:-2}; TOKENS=${TOKENS:-64,512}; BATCHES=${BATCHES:-1,4,16,64}
BUDGET_S=${BUDGET_S:-90}
dist=bench/gpu/dist; bench="node $dist/bench.mjs"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/run.log" >&2; }
t_start=$(date +%s)

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1); gpu=${gpu:-none}
log "GPU: $gpu; node $(node --version 2>/dev/null); backend $BACKEND"
[[ -f $dist/bench.mjs ]] || { log "missing $dist/bench.mjs: run bash bench/gpu/build.sh and carry bench/gpu/dist"; exit 1; }

# gutenberg-llama-l travels xz-compressed; fall back to -m (tracked in models/) when it did not come.
L=$dist/models/gutenberg-llama-l
if [[ -f $L/model.safetensors.xz && ! -f $L/model.safetensors ]]; then xz -dc "$L/model.safetensors.xz" > "$L/model.safetensors"; fi
if [[ -f $L/model.safetensors ]]; then big=$L; else big=models/gutenberg-llama-m; log "gutenberg-llama-l absent: using $big"; fi
[[ $BACKEND == wasm ]] && export TFJS_WASM_THREADS=${TFJS_WASM_THREADS:-1}  # the threaded worker cannot eval the bundle
[[ $BACKEND == wasm && ! -f $dist/tfjs-backend-wasm.wasm ]] && log "note: wasm binaries not in $dist (build.sh --with-wasm)"

# (a) verify on the backend against the Hugging Face references (fails loudly, does not stop the run)
: > "$OUT/verify.jsonl"
for m in "$big" models/gutenberg-llama-s; do
  timeout 60 $bench verify "$m" --backend "$BACKEND" >> "$OUT/verify.jsonl" 2>> "$OUT/run.log"; log "verify $m rc=$?"
done

# (b) harness throughput: batch 1 and a sweep of larger batches, 64 and 512 tokens
: > "$OUT/harness.jsonl"
for m in "$big" random:gpt2-small; do
  timeout $((BUDGET_S + 40)) $bench throughput --model "$m" --tokens "$TOKENS" --batches "$BATCHES" --steps "$STEPS" --warmup "$WARMUP" \
    --backend "$BACKEND" --time-limit "$BUDGET_S" --max-batch-tokens 33000 >> "$OUT/harness.jsonl" 2>> "$OUT/run.log"
  log "throughput $m rc=$?"
done

# (c) PyTorch baseline, when the device has python3 with torch + transformers
: > "$OUT/pytorch.jsonl"
if command -v python3 >/dev/null && python3 -c 'import torch, transformers' 2>/dev/null; then
  timeout 90 python3 bench/gpu/pytorch_baseline.py --model "$big" --model random:gpt2-small --tokens "$TOKENS" --steps 20 \
    >> "$OUT/pytorch.jsonl" 2>> "$OUT/run.log"; log "pytorch rc=$?"
  pytorch_note="ran"
else
  pytorch_note="python3 with torch+transformers not present on this machine: $(python3 --version 2>&1 | head -1); $(python3 -c 'import torch' 2>&1 | tail -1)"
  log "pytorch skipped: $pytorch_note"
fi

# (d) one JSON for everything
GPU="$gpu" PYNOTE="$pytorch_note" T0="$t_start" OUTDIR="$OUT" node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
const dir = process.env.OUTDIR;
const rows = (f) => { try { return readFileSync(`${dir}/${f}`, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean); } catch { return []; } };
const harness = rows("harness.jsonl").filter((h) => h.model), py = rows("pytorch.jsonl"), verify = rows("verify.jsonl");
const base = (m) => m.replace(/-random$/, "");
const pyRate = (model, tokens) => py.find((p) => base(p.model ?? "") === base(model) && p.tokens === tokens && p.text_steps_per_s)?.text_steps_per_s ?? null;
const points = harness.map((h) => {
  const p = pyRate(h.model ?? "", h.tokens);
  return { model: h.model, tokens: h.tokens, batch: h.batch, backend: h.backend, text_steps_per_s: h.text_steps_per_s ?? null,
    pytorch_text_steps_per_s: p, ratio: p && h.text_steps_per_s ? Number((h.text_steps_per_s / p).toFixed(4)) : null,
    seconds_per_step: h.seconds_per_step ?? null, ...(h.error ? { error: h.error } : {}), ...(h.skipped ? { skipped: h.skipped } : {}) };
});
const first = harness.find((h) => h.backend) ?? {};
const pyInfo = py.find((p) => p.torch) ?? {};
writeFileSync(`${dir}/gpu-results.json`, JSON.stringify({
  device: process.env.GPU, date: new Date().toISOString(), wall_s: Math.round(Date.now() / 1000 - Number(process.env.T0)),
  versions: { node: process.version, backend: first.backend ?? null, backend_detail: first.backend_detail ?? null, adapter: first.adapter ?? null,
    max_storage_binding_bytes: first.max_storage_binding_bytes ?? null, max_buffer_bytes: first.max_buffer_bytes ?? null,
    torch: pyInfo.torch ?? null, transformers: pyInfo.transformers ?? null },
  pytorch: process.env.PYNOTE, points, verify, pytorch_rows: py,
}, null, 1) + "\n");
console.log(JSON.stringify({ points: points.length, verify_ok: verify.map((v) => `${v.model}:${v.ok}`) }));
'
log "done in $(( $(date +%s) - t_start )) s; results in $OUT/gpu-results.json"
