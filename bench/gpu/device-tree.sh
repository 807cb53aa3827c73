#!/usr/bin/env bash
# The device tool sends the working tree (tracked + untracked-not-ignored files) plus carried paths, 64 MiB in all.
# With the test fixtures and the bundled models the tree is larger than that, so for the device call only:
#   bash bench/gpu/device-tree.sh light     # untrack the big folders (files stay on disk) and ignore them
#   … device call (carry .gpu-kit and bench/gpu/dist) …
#   bash bench/gpu/device-tree.sh restore   # track them again; the index is as before
# Nothing is committed either way. `status` prints what would travel.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIG=(test/fixtures/tiny-hf test/fixtures/tiny-hf2 test/fixtures/tiny-hf3 test/fixtures/hf models/gutenberg-llama-m)
exclude=.git/info/exclude
case ${1:-status} in
  light)
    for p in "${BIG[@]}"; do
      [[ -e $p ]] || continue
      git rm -r -q --cached "$p"
      grep -qxF "/$p/" "$exclude" || echo "/$p/" >> "$exclude"
    done ;;
  restore)
    for p in "${BIG[@]}"; do
      [[ -e $p ]] || continue
      sed -i "\\#^/$p/\$#d" "$exclude"
      git reset -q -- "$p"
    done ;;
  status) ;;
  *) echo "usage: $0 light|restore|status" >&2; exit 2 ;;
esac
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
echo "tree that travels: $(( (tracked + ${untracked:-0}) / 1048576 )) MiB (carry adds .gpu-kit $(du -sm .gpu-kit 2>/dev/null | cut -f1) MiB, bench/gpu/dist $(du -sm bench/gpu/dist 2>/dev/null | cut -f1) MiB; limit 64 MiB)"
