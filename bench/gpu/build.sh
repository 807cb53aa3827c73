#!/usr/bin/env bash
# Builds bench/gpu/dist/ for the one-call device check (see bench/gpu/README.md):
#   bench.mjs  esbuild bundle of bench/throughput.ts (every dependency inlined except onnxruntime-node)
#   verify.mjs esbuild bundle of bench/gpu/verify.ts (the harness against every Hugging Face reference it is given)
#   doctor.mjs esbuild bundle of bench/gpu/doctor.ts (node placement and bytes per call, as `cram doctor`)
#   ort/       onnxruntime-node + onnxruntime-common with only the Linux x64 binaries, the large library xz-compressed
#   pytorch_step.py and run-on-device.sh
# The device has no Node.js: carry .gpu-kit too (bash ../shared/tools/gpu-kit.sh makes it: node + Vulkan loader).
# Usage (project root or anywhere):  bash bench/gpu/build.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=bench/gpu/dist
rm -rf "$out"; mkdir -p "$out/ort/node_modules"
esbuild=node_modules/.bin/esbuild
[[ -x $esbuild ]] || esbuild="npx --no-install esbuild"
# CJS modules inside the ESM bundle use require / __dirname / __filename: define them.
banner='import { createRequire as __cramCR } from "node:module"; import { fileURLToPath as __cramF } from "node:url"; import { dirname as __cramD } from "node:path"; const require = __cramCR(import.meta.url); const __filename = __cramF(import.meta.url); const __dirname = __cramD(__filename);'
for entry in bench/throughput.ts:bench.mjs bench/gpu/verify.ts:verify.mjs bench/gpu/doctor.ts:doctor.mjs; do
  $esbuild "${entry%%:*}" --bundle --platform=node --format=esm --target=node20 --minify --log-level=warning \
    --outfile="$out/${entry##*:}" --external:onnxruntime-node --banner:js="$banner"
done
# onnxruntime-node, trimmed to what Linux x64 loads; the bundles resolve it through dist/node_modules.
for pkg in onnxruntime-node onnxruntime-common; do
  mkdir -p "$out/ort/node_modules/$pkg"
  cp node_modules/$pkg/package.json "$out/ort/node_modules/$pkg/"
  cp -r node_modules/$pkg/dist "$out/ort/node_modules/$pkg/"
done
bin=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
mkdir -p "$out/ort/node_modules/onnxruntime-node/${bin#node_modules/onnxruntime-node/}"
cp "$bin/onnxruntime_binding.node" "$out/ort/node_modules/onnxruntime-node/${bin#node_modules/onnxruntime-node/}/"
xz -T0 -6 -c "$bin/libonnxruntime.so.1" > "$out/ort/node_modules/onnxruntime-node/${bin#node_modules/onnxruntime-node/}/libonnxruntime.so.1.xz"
mv "$out/ort/node_modules" "$out/node_modules"; rmdir "$out/ort"
cp bench/peer/pytorch_step.py bench/gpu/peer_autocast.py bench/gpu/run-on-device.sh "$out/"
du -sh "$out" | sed 's/^/build: /'
