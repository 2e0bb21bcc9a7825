#!/bin/sh
# The chains added without C++ (mixtral, qwen2_moe, olmoe, deepseek_v3) lint clean on their own
# layouts, tiny and full size, in every HF expert layout the model has: the symbolic roundtrips
# and coverage report nothing but notes. Run from the repository root.
set -u
lint=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect_clean() {  # expect_clean CHAIN ARGS...
  chain=$1; shift
  "$lint" "$@" "$chain" >"$tmp/out" 2>&1; got=$?
  if [ "$got" != 0 ] || ! grep -qE '^1 file, 0 errors, 0 warnings' "$tmp/out"; then
    echo "FAIL: $chain $*: exit $got"; cat "$tmp/out"; fail=1
  fi
}
for model in mixtral qwen2_moe olmoe deepseek_v3; do
  for size in "" .full; do
    expect_clean "chains/$model.yaml" --config "chains/layouts/$model$size.config.json"
  done
done
# qwen2_moe also accepts transformers v5's fused experts.
expect_clean chains/qwen2_moe.yaml --config chains/layouts/qwen2_moe.config.json --fused-experts
expect_clean chains/qwen2_moe.yaml --config chains/layouts/qwen2_moe.full.config.json --fused-experts
# nemotron_h renames backbone. to model. before its MoE branch turns fused experts into
# per-expert ones on the way back: the roundtrip follows the keys through that rename to the
# branch and calls it canonicalising (notes), not errors at the rename.
"$lint" --config chains/layouts/nemotron_h.config.json --fused-experts chains/nemotron_h.yaml \
  >"$tmp/out" 2>&1
if ! grep -qE '^1 file, 0 errors' "$tmp/out" ||
   [ "$(grep -c 'canonicalising: the conditional at chains/nemotron_h.yaml:41:13' "$tmp/out")" != 4 ]; then
  echo "FAIL: nemotron_h with fused experts"; cat "$tmp/out"; fail=1
fi
exit $fail
