#!/usr/bin/env bash
# Builds bench/gpu/dist/: bench.mjs (esbuild bundle of gpu-bench.ts with every dependency inlined except the native
# `webgpu` package, which gpu-kit carries), the tfjs wasm binaries (only for CPU dry runs), the python baseline and
# the model folders the device run uses: gutenberg-llama-s (from models/) and gutenberg-llama-l (from
# /work/shared/models or $GUTENBERG_L, when this machine has it). gpt2-small is built in memory (random:gpt2-small).
# Usage (project root or anywhere):  bash bench/gpu/build.sh [--with-wasm]
# The device call carries .gpu-kit (29 MB) and bench/gpu/dist (about 27 MB: minified bundle + gutenberg-llama-l with
# its weights xz-compressed; run-on-device.sh unpacks them) under the 64 MiB carry limit. --with-wasm adds the tfjs
# wasm binaries for CPU dry runs (not needed on the GPU).
set -euo pipefail
with_wasm=0; [[ ${1:-} == --with-wasm ]] && with_wasm=1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=bench/gpu/dist
rm -rf "$out"; mkdir -p "$out/models"
esbuild=node_modules/.bin/esbuild
[[ -x $esbuild ]] || esbuild="npx --no-install esbuild"
# CJS modules inside the ESM bundle (tfjs' node builds) use require / __dirname / __filename: define them.
banner='import { createRequire as __cramCR } from "node:module"; import { fileURLToPath as __cramF } from "node:url"; import { dirname as __cramD } from "node:path"; const require = __cramCR(import.meta.url); const __filename = __cramF(import.meta.url); const __dirname = __cramD(__filename);'
$esbuild bench/gpu/gpu-bench.ts --bundle --platform=node --format=esm --target=node20 --minify --log-level=warning --ignore-annotations \
  --outfile="$out/bench.mjs" --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --banner:js="$banner"
if (( with_wasm )); then cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$out/"; fi
cp bench/gpu/run-on-device.sh "$out/"
cp bench/gpu/pytorch_baseline.py "$out/"
# gutenberg-llama-s/-m travel with the tree (models/ is tracked); the bundle finds them through ../../../models.
# gutenberg-llama-l (35 MB) is not in the repo: bench/gpu/models/ (git-ignored) keeps a copy when this machine has one.
src_l=${GUTENBERG_L:-/work/shared/models/gutenberg-llama-l}
if [[ -d $src_l ]]; then
  mkdir -p bench/gpu/models
  [[ -d bench/gpu/models/gutenberg-llama-l ]] || cp -r "$src_l" bench/gpu/models/
fi
if [[ -d bench/gpu/models/gutenberg-llama-l ]]; then
  mkdir -p "$out/models/gutenberg-llama-l"
  cp bench/gpu/models/gutenberg-llama-l/{config.json,reference.json} "$out/models/gutenberg-llama-l/"
  xz -T0 -6 -c bench/gpu/models/gutenberg-llama-l/model.safetensors > "$out/models/gutenberg-llama-l/model.safetensors.xz"
else
  echo "build: gutenberg-llama-l not found (set GUTENBERG_L=<folder>); the device run will use gutenberg-llama-m" >&2
fi
du -sh "$out" "$out"/* | sed 's/^/build: /'
