#!/bin/sh
# Every chain with a target layout (chains/layouts/<model>.<target>.yaml, `target: NAME`: the
# prime ones and the torchtitan ones) meets it exactly: on its
# tiny and full-size configs (and every other config shipped for it), in each HF expert layout
# the model has, forward makes exactly the prime layout and backward exactly the HF one
# (check/target_check.h). And the check runs: a chain with a wrong split is caught. Run from
# the repository root.
set -u
lint=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
checked=0
# The target check only: the roundtrip and coverage checks of these chains have tests of
# their own (nemotron_h's layouts, for one, have coverage warnings).
expect_clean() {  # expect_clean CHAIN ARGS...
  chain=$1; shift
  checked=$((checked + 1))
  "$lint" "$@" "$chain" >"$tmp/out" 2>&1; got=$?
  if [ "$got" = 2 ] || grep -q '\[target\]' "$tmp/out" || ! grep -qE '^1 file, ' "$tmp/out"; then
    echo "FAIL: $chain $*: exit $got"; cat "$tmp/out"; fail=1
  fi
}
# The chain converting a model type to a target: the chain files listing the type, with
# `target: NAME` (or none, for prime).
chain_for() {  # chain_for TYPE TARGET
  for f in $(grep -l "^model_types:.*[[ ,]$1[],]" chains/*.yaml); do
    t=$(sed -n 's/^target: *//p' "$f"); [ -n "$t" ] || t=prime
    [ "$t" = "$2" ] && { echo "$f"; return; }
  done
}
for target in chains/layouts/*.*.yaml; do
  name=$(sed -n 's/^target: *//p' "$target")
  [ -n "$name" ] || continue
  hf_layout=${target%."$name".yaml}.yaml
  types=$(sed -n 's/^model_types: *\[\(.*\)\]/\1/p' "$target" | tr -d ' ' | tr ',' ' ')
  for type in $types; do
    chain=$(chain_for "$type" "$name")
    [ -n "$chain" ] || { echo "FAIL: no chain serves $type for $name"; fail=1; continue; }
    for config in chains/layouts/"$type".config.json chains/layouts/"$type".full.config.json \
                  chains/layouts/"$type"_*.config.json; do
      [ -f "$config" ] || continue
      # torchtitan holds no quantized weights: a quantized checkpoint goes there dequantized.
      set --
      if [ "$name" = torchtitan ] && grep -q '"quantization_config"' "$config"; then
        set -- --set dequantize=true
      fi
      expect_clean "$chain" --config "$config" "$@"
      if grep -q '^fused_experts: true' "$hf_layout"; then
        expect_clean "$chain" --config "$config" --fused-experts "$@"
      fi
    done
  done
done
[ "$checked" -ge 34 ] || { echo "FAIL: only $checked checks ran"; fail=1; }

# A wrong chain is caught: qwen3_moe's fused split on dim 2 instead of 1.
mkdir "$tmp/chains"
cp -r chains/common "$tmp/chains/"
sed 's/\(experts.w3"\], dim: \)1/\12/' chains/common/moe.yaml >"$tmp/chains/common/moe.yaml"
cp chains/qwen3_moe.yaml "$tmp/chains/"
"$lint" "$tmp/chains/qwen3_moe.yaml" --config chains/layouts/qwen3_moe.config.json \
  --fused-experts >"$tmp/out" 2>&1
if ! grep -q "common/moe.yaml:28:13: error: to_prime: split makes 'model.layers.1.mlp.experts.w1' BF16 \[4, 8, 4\], but the prime layout has BF16 \[4, 4, 8\] \[target\]" "$tmp/out"; then
  echo "FAIL: the wrong split was not caught"; cat "$tmp/out"; fail=1
fi
# And what shapes cannot show: a names-only Llama chain (no RoPE permutation) is refused at
# the renames that make q and k, both ways.
grep -v 'rope_permute' chains/llama.torchtitan.yaml >"$tmp/chains/llama.torchtitan.yaml"
"$lint" "$tmp/chains/llama.torchtitan.yaml" --config chains/layouts/llama.config.json >"$tmp/out" 2>&1
for expected in \
  "llama.torchtitan.yaml:34:9: error: to_prime: 'layers.0.attention.qkv_linear.wq.weight' is made without rope_permute, which the torchtitan layout requires of it (made_by) \[target\]" \
  "llama.torchtitan.yaml:35:9: error: to_prime: 'layers.1.attention.qkv_linear.wk.weight' is made without rope_permute" \
  "error: to_hf: 'model.layers.0.self_attn.q_proj.weight' is made from 'layers.0.attention.qkv_linear.wq.weight' without rope_permute"; do
  if ! grep -q "$expected" "$tmp/out"; then
    echo "FAIL: the missing RoPE permutation was not caught: $expected"; cat "$tmp/out"; fail=1
  fi
done
exit $fail
