#!/usr/bin/env bash
# The one device command (on the lent GPU machine, in the project root; see bench/gpu/README.md):
#   source .gpu-kit/activate.sh && bash bench/gpu/run-on-device.sh
# carrying [".gpu-kit", "bench/gpu/dist"]. Writes $OUT/gpu-results.json and $OUT/*.jsonl / run.log.
# On one card, in one call: (a) verify against the references, (b) node placement and bytes per call (doctor),
# (c) per model, the harness on $BACKEND in float32 (and each of HALF, when the bundle accepts --precision) and the
# PyTorch peer in fp32 and under bf16 autocast (the official scripts' choice), batch 1 and batched.
# CPU dry run here:  OUT=/tmp/gpu-dry BACKEND=cpu STEPS=2 TOKENS=16 BATCHES=1,2 SHAPES= PEER_DEVICE=none bash bench/gpu/run-on-device.sh
# Knobs: BACKEND (webgpu), STEPS (5), TOKENS (128), BATCHES (1,16), SHAPES (pythia-160m,llama-3.2-1b), HALF
#        (bfloat16,float16), BUDGET_S per measurement (60), DEADLINE_S for the whole call (520), PEER_DEVICE.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export CRAM_PROJECT_ROOT=$root CRAM_CACHE_DIR=${CRAM_CACHE_DIR:-/tmp/cram-cache}
OUT=${OUT:-$root/bench/gpu/out}; mkdir -p "$OUT"
BACKEND=${BACKEND:-webgpu}; STEPS=${STEPS:-5}; TOKENS=${TOKENS:-128}; BATCHES=${BATCHES:-1,16}
SHAPES=${SHAPES-pythia-160m,llama-3.2-1b}; HALF=${HALF-bfloat16,float16}; BUDGET_S=${BUDGET_S:-60}; DEADLINE_S=${DEADLINE_S:-520}
dist=bench/gpu/dist
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/run.log" >&2; }
t_start=$(date +%s)
# Seconds a measurement may take: BUDGET_S, or what is left before DEADLINE_S (0: skip it, logged).
budget() { local left=$(( DEADLINE_S - ($(date +%s) - t_start) )); (( left > BUDGET_S )) && echo "$BUDGET_S" || echo $(( left > 10 ? left : 0 )); }
[[ -f $dist/bench.mjs ]] || { log "missing $dist/bench.mjs: run bash bench/gpu/build.sh and carry bench/gpu/dist"; exit 1; }
lib=$dist/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[[ -f $lib ]] || xz -dk "$lib.xz"
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1); gpu=${gpu:-none}
log "GPU: $gpu; node $(node --version 2>/dev/null); backend $BACKEND"

# (a) verify on the backend against the Hugging Face references 
refs=$(ls -d models/*/ test/fixtures/hf/*/ 2>/dev/null | while read -r d; do [[ -f $d/reference.json ]] && echo "${d%/}"; done)
timeout 120 node $dist/verify.mjs --backend "$BACKEND" $refs > "$OUT/verify.jsonl" 2>> "$OUT/run.log"; log "verify rc=$?"

# (b) where the nodes run and what crosses host <-> device per call
doctor_models=$(ls -d models/gutenberg-llama-m models/gutenberg-llama-xs 2>/dev/null | head -1)
[[ -n $doctor_models ]] && { timeout 90 node $dist/doctor.mjs --backend "$BACKEND" --tokens 64 --batch 4 $doctor_models > "$OUT/doctor.jsonl" 2>> "$OUT/run.log"; log "doctor rc=$?"; }

# (c) harness throughput (float32, then each half precision the bundle accepts) next to the PyTorch peer (fp32 and
# bf16 autocast) on the same model files, in the same call
precisions=float32
if node $dist/bench.mjs --help 2>/dev/null | grep -q -- '--precision'; then precisions="float32,$HALF"; else log "the harness has no --precision yet: float32 only"; fi
peer_device=${PEER_DEVICE:-$(python3 -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo none)}
: > "$OUT/throughput.jsonl"
for m in gutenberg-llama-m ${SHAPES//,/ }; do
  [[ -z $m ]] && continue
  [[ $m == gutenberg-* ]] && model=$m tokens=64 || model=shape:$m tokens=$TOKENS
  for p in ${precisions//,/ }; do
    b=$(budget); (( b == 0 )) && { log "harness $m $p skipped: deadline"; continue; }
    flag=(); [[ $p != float32 ]] && flag=(--precision "$p")
    timeout "$b" node $dist/bench.mjs --model "$model" --tokens "$tokens" --batches "$BATCHES" --steps "$STEPS" --backend "$BACKEND" "${flag[@]}" --json --no-save \
      | sed "s/^{/{\"precision\":\"$p\",/" >> "$OUT/throughput.jsonl" 2>> "$OUT/run.log"; log "harness $m $p rc=${PIPESTATUS[0]}"
  done
  [[ $peer_device == none ]] && continue
  dir=$([[ $m == gutenberg-* ]] && echo "models/$m" || echo "$CRAM_CACHE_DIR/bench-models/$m")
  for peer in pytorch_step.py peer_autocast.py; do
    b=$(budget); (( b == 0 )) && { log "pytorch $m $peer skipped: deadline"; continue; }
    timeout "$b" python3 $dist/$peer --model "$dir" --tokens "$tokens" --batches "$BATCHES" --steps "$STEPS" --device "$peer_device" \
      >> "$OUT/throughput.jsonl" 2>> "$OUT/run.log"; log "pytorch $m $peer rc=$?"
  done
done

# (d) one JSON for everything
GPU="$gpu" T0="$t_start" OUTDIR="$OUT" node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
const dir = process.env.OUTDIR;
const rows = (f) => { try { return readFileSync(`${dir}/${f}`, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean); } catch { return []; } };
const all = rows("throughput.jsonl"), verify = rows("verify.jsonl"), doctor = rows("doctor.jsonl");
const harness = all.filter((r) => r.kind === "harness"), peer = all.filter((r) => r.kind === "pytorch");
const base = (m) => String(m ?? "").split(" ")[0];
const r = (a, b) => (a && b ? Number((a / b).toFixed(3)) : null);
const points = harness.map((h) => {
  const same = peer.filter((p) => base(p.model) === base(h.model) && p.tokens === h.tokens);
  const pick = (loop, prec, batch) => same.find((p) => p.loop === loop && (p.precision ?? "fp32") === prec && (batch === undefined || p.batch === batch))?.text_steps_per_s ?? null;
  const o32 = pick("official", "fp32"), b32 = pick("batched", "fp32", h.batch), o16 = pick("official", "bf16-autocast"), b16 = pick("batched", "bf16-autocast", h.batch);
  return { model: h.model, tokens: h.tokens, batch: h.batch, backend: h.backend, precision: h.precision ?? "float32",
    text_steps_per_s: h.text_steps_per_s ?? null, seconds_per_step: h.seconds_per_step ?? null, peak_rss_mb: h.peak_rss_mb ?? null,
    pytorch_fp32_official_b1: o32, pytorch_fp32_batched_same_b: b32, pytorch_bf16_official_b1: o16, pytorch_bf16_batched_same_b: b16,
    ratio_to_fp32_official_b1: r(h.text_steps_per_s, o32), ratio_to_fp32_batched: r(h.text_steps_per_s, b32),
    ratio_to_bf16_official_b1: r(h.text_steps_per_s, o16), ratio_to_bf16_batched: r(h.text_steps_per_s, b16), ...(h.error ? { error: h.error } : {}) };
});
writeFileSync(`${dir}/gpu-results.json`, JSON.stringify({ device: process.env.GPU, date: new Date().toISOString(),
  wall_s: Math.round(Date.now() / 1000 - Number(process.env.T0)), node: process.version,
  backend_detail: harness.find((h) => h.backend_detail)?.backend_detail ?? null, pytorch: peer.find((p) => p.torch) ?? null,
  points, pytorch_rows: peer, verify, doctor }, null, 1) + "\n");
console.log(JSON.stringify({ points: points.length, verify_ok: verify.filter((v) => v.ok).length, verify_failed: verify.filter((v) => !v.ok).map((v) => v.model), doctor: doctor.length }));
'
log "done in $(( $(date +%s) - t_start )) s; results in $OUT/gpu-results.json"
