#!/usr/bin/env bash
# The one device command (on the lent GPU machine, in the project root; see bench/gpu/README.md):
#   source .gpu-kit/activate.sh && bash bench/gpu/run-on-device.sh
# carrying [".gpu-kit", "bench/gpu/dist"]. Writes $OUT/gpu-results.json and $OUT/*.jsonl / run.log.
# CPU dry run here:  OUT=/tmp/gpu-dry BACKEND=cpu STEPS=3 TOKENS=16 BATCHES=1,2 SHAPES= bash bench/gpu/run-on-device.sh
# Knobs: BACKEND (webgpu), STEPS (10), TOKENS (128,512), BATCHES (1,4,16,64), SHAPES (pythia-160m,llama-3.2-1b),
#        BUDGET_S per model (150), PEER_DEVICE (cuda when torch sees one, else cpu).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export CRAM_PROJECT_ROOT=$root CRAM_CACHE_DIR=${CRAM_CACHE_DIR:-/tmp/cram-cache}
OUT=${OUT:-$root/bench/gpu/out}; mkdir -p "$OUT"
BACKEND=${BACKEND:-webgpu}; STEPS=${STEPS:-10}; TOKENS=${TOKENS:-128,512}; BATCHES=${BATCHES:-1,4,16,64}
SHAPES=${SHAPES-pythia-160m,llama-3.2-1b}; BUDGET_S=${BUDGET_S:-150}
dist=bench/gpu/dist
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/run.log" >&2; }
t_start=$(date +%s)
[[ -f $dist/bench.mjs ]] || { log "missing $dist/bench.mjs: run bash bench/gpu/build.sh and carry bench/gpu/dist"; exit 1; }
lib=$dist/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[[ -f $lib ]] || xz -dk "$lib.xz"
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1); gpu=${gpu:-none}
log "GPU: $gpu; node $(node --version 2>/dev/null); backend $BACKEND"

# (a) verify on the backend against the Hugging Face references
refs=$(ls -d models/*/ test/fixtures/hf/*/ 2>/dev/null | while read -r d; do [[ -f $d/reference.json ]] && echo "${d%/}"; done)
timeout 240 node $dist/verify.mjs --backend "$BACKEND" $refs > "$OUT/verify.jsonl" 2>> "$OUT/run.log"; log "verify rc=$?"

# (b) harness throughput next to the PyTorch peer (same model files, same run)
peer_device=${PEER_DEVICE:-$(python3 -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo none)}
: > "$OUT/throughput.jsonl"
for m in gutenberg-llama-m ${SHAPES//,/ }; do
  [[ -z $m ]] && continue
  [[ $m == gutenberg-* ]] && model=$m tokens=64 || model=shape:$m tokens=$TOKENS
  timeout $BUDGET_S node $dist/bench.mjs --model "$model" --tokens "$tokens" --batches "$BATCHES" --steps "$STEPS" --backend "$BACKEND" --json --no-save \
    >> "$OUT/throughput.jsonl" 2>> "$OUT/run.log"; log "harness $m rc=$?"
  if [[ $peer_device != none ]]; then
    dir=$([[ $m == gutenberg-* ]] && echo "models/$m" || echo "$CRAM_CACHE_DIR/bench-models/$m")
    timeout $BUDGET_S python3 $dist/pytorch_step.py --model "$dir" --tokens "$tokens" --batches "$BATCHES" --steps "$STEPS" --device "$peer_device" \
      >> "$OUT/throughput.jsonl" 2>> "$OUT/run.log"; log "pytorch $m rc=$?"
  fi
done

# (c) one JSON for everything
GPU="$gpu" T0="$t_start" OUTDIR="$OUT" node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
const dir = process.env.OUTDIR;
const rows = (f) => { try { return readFileSync(`${dir}/${f}`, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean); } catch { return []; } };
const all = rows("throughput.jsonl"), verify = rows("verify.jsonl");
const harness = all.filter((r) => r.kind === "harness"), peer = all.filter((r) => r.kind === "pytorch");
const base = (m) => String(m ?? "").split(" ")[0];
const points = harness.map((h) => {
  const same = peer.filter((p) => base(p.model) === base(h.model) && p.tokens === h.tokens);
  const official = same.find((p) => p.loop === "official")?.text_steps_per_s ?? null;
  const batched = same.find((p) => p.loop === "batched" && p.batch === h.batch)?.text_steps_per_s ?? null;
  const r = (a, b) => (a && b ? Number((a / b).toFixed(3)) : null);
  return { model: h.model, tokens: h.tokens, batch: h.batch, backend: h.backend, text_steps_per_s: h.text_steps_per_s ?? null, seconds_per_step: h.seconds_per_step ?? null,
    peak_rss_mb: h.peak_rss_mb ?? null, pytorch_official_b1: official, pytorch_batched_same_b: batched,
    ratio_to_official_b1: r(h.text_steps_per_s, official), ratio_to_pytorch_batched: r(h.text_steps_per_s, batched), ...(h.error ? { error: h.error } : {}) };
});
writeFileSync(`${dir}/gpu-results.json`, JSON.stringify({ device: process.env.GPU, date: new Date().toISOString(),
  wall_s: Math.round(Date.now() / 1000 - Number(process.env.T0)), node: process.version,
  backend_detail: harness.find((h) => h.backend_detail)?.backend_detail ?? null, pytorch: peer.find((p) => p.torch) ?? null,
  points, verify }, null, 1) + "\n");
console.log(JSON.stringify({ points: points.length, verify_ok: verify.filter((v) => v.ok).length, verify_failed: verify.filter((v) => !v.ok).map((v) => v.model) }));
'
log "done in $(( $(date +%s) - t_start )) s; results in $OUT/gpu-results.json"
