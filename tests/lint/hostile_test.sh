#!/bin/sh
# chainlint on hostile input: chain files, configs and checkpoints that are FIFOs, devices,
# directories, huge, or nested to crash a parser. Each must give exit 2 and one line naming
# the file, at once. Run from the repository root.
set -u
lint=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect_refused() {  # expect_refused FILE_NAMED DESCRIPTION -- ARGS...
  named=$1; what=$2; shift 3
  # A command that blocks on a FIFO or reads /dev/zero forever is killed, and fails.
  timeout 60 "$lint" "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" != 2 ]; then
    echo "FAIL: $what: exit $got, expected 2"; cat "$tmp/out" "$tmp/err"; fail=1; return
  fi
  if [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -qF -- "chainlint: error: $named" "$tmp/err"; then
    echo "FAIL: $what: expected one line naming $named"; cat "$tmp/err"; fail=1
  fi
}

mkfifo "$tmp/fifo.yaml"
expect_refused "$tmp/fifo.yaml: cannot read chain file: not a regular file (a FIFO)" \
  "a FIFO chain file" -- "$tmp/fifo.yaml"
ln -s /dev/zero "$tmp/zero.yaml"
expect_refused "$tmp/zero.yaml: cannot read chain file: not a regular file (a character device)" \
  "a chain file that is a symlink to /dev/zero" -- "$tmp/zero.yaml"
head -c 17000000 /dev/zero | tr '\0' '#' >"$tmp/huge.yaml"
expect_refused "$tmp/huge.yaml: cannot read chain file: larger than 16777216 bytes" \
  "a chain file of 17 MB" -- "$tmp/huge.yaml"

printf 'version: 1\nmodel_types: [x]\ndescription: d\ninclude: [huge.yaml]\nops: []\n' >"$tmp/includes.yaml"
expect_refused "$tmp/huge.yaml: cannot read chain file: larger than 16777216 bytes" \
  "an included file of 17 MB" -- "$tmp/includes.yaml"

# Layout files come from the chains directory: one that is far too large is refused too.
mkdir -p "$tmp/chains/layouts"
cp "$tmp/huge.yaml" "$tmp/chains/layouts/huge.yaml"
export CHAINCONV_CHAINS_DIR="$tmp/chains"
expect_refused "$tmp/chains/layouts/huge.yaml: cannot read layout file: larger than 16777216 bytes" \
  "a layout file of 17 MB" -- --config chains/layouts/qwen3_moe.config.json chains/qwen3_moe.yaml
unset CHAINCONV_CHAINS_DIR

mkfifo "$tmp/config.json"
expect_refused "$tmp/config.json: cannot read config: not a regular file (a FIFO)" \
  "a FIFO --config" -- --config "$tmp/config.json" chains/qwen3_moe.yaml
ln -s /dev/urandom "$tmp/random.json"
expect_refused "$tmp/random.json: cannot read config: not a regular file (a character device)" \
  "a --config that is a symlink to /dev/urandom" -- --config "$tmp/random.json" chains/qwen3_moe.yaml
python3 -c "print('{\"model_type\": \"qwen3_moe\", \"x\": ' + '[' * 100000 + ']' * 100000 + '}')" \
  >"$tmp/deep.json"
expect_refused "$tmp/deep.json: the file nests deeper than 64 levels" \
  "a --config nested 100,000 deep" -- --config "$tmp/deep.json" chains/qwen3_moe.yaml

mkdir -p "$tmp/ckpt"
echo '{"model_type": "qwen3_moe"}' >"$tmp/ckpt/config.json"
python3 - "$tmp/ckpt/model.safetensors" <<'PY' || fail=1
import struct, sys
shape = "[" * 100000 + "1" + "]" * 100000
text = ('{"a":{"dtype":"F32","shape":%s,"data_offsets":[0,4]}}' % shape).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + bytes(4))
PY
expect_refused "$tmp/ckpt/model.safetensors: the header nests deeper than 64 levels" \
  "--layout-from a header nested 100,000 deep" -- --layout-from "$tmp/ckpt" chains/qwen3_moe.yaml
rm "$tmp/ckpt/model.safetensors"
mkfifo "$tmp/ckpt/model.safetensors"
expect_refused "$tmp/ckpt/model.safetensors: cannot read: not a regular file (a FIFO)" \
  "--layout-from a FIFO model.safetensors" -- --layout-from "$tmp/ckpt" chains/qwen3_moe.yaml

expect_refused "--expert-offset 9223372036854775806: out of range" \
  "an expert offset that overflows" -- --expert-offset 9223372036854775806 chains/qwen3_moe.yaml
exit $fail
