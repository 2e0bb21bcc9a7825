#!/bin/sh
# chainlint's command line: exit codes (0 clean, 1 findings, 2 unusable input), gcc-style
# lines, --format json, and both layout sources. Run from the repository root.
set -u
lint=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect_status() {  # expect_status WANT DESCRIPTION -- ARGS...
  want=$1; what=$2; shift 3
  "$lint" "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"; fail=1
  fi
}
expect_line() {  # expect_line FILE TEXT
  grep -qF -- "$2" "$1" || { echo "FAIL: expected in $1: $2"; cat "$1"; fail=1; }
}

expect_status 0 "a clean chain" -- chains/qwen3_moe.yaml
expect_status 1 "a bad chain" -- tests/lint/bad/unknown_field.yaml
expect_line "$tmp/out" "tests/lint/bad/unknown_field.yaml:7:52: error: unknown field 'dimm' in the arguments of 'stack'"
expect_status 2 "a missing file" -- tests/lint/bad/does_not_exist.yaml
expect_line "$tmp/err" "chainlint: error: tests/lint/bad/does_not_exist.yaml: cannot read chain file"
expect_status 2 "a missing file among good ones" -- chains/qwen3_moe.yaml tests/lint/bad/does_not_exist.yaml

expect_status 1 "json output" -- --format json tests/lint/bad/several_errors.yaml chains/qwen3_moe.yaml
python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
report = json.load(open(sys.argv[1]))
assert report["errors"] == 4 and report["warnings"] == 0 and report["status"] == 1, report
first = report["findings"][0]
assert first == {"file": "tests/lint/bad/several_errors.yaml", "line": 5, "col": 1, "severity": "error",
                 "check": "schema", "message": "missing field 'description' in a chain file"}, first
PY
expect_status 2 "json output with an unreadable file" -- --format json nowhere.yaml
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['unreadable'][0]['file']=='nowhere.yaml' and r['status']==2" "$tmp/out" || fail=1
expect_status 2 "an unknown format" -- --format xml chains/qwen3_moe.yaml

echo '{"model_type": "qwen3_moe", ' >"$tmp/broken.json"
expect_status 2 "a config that is not JSON" -- --config "$tmp/broken.json" chains/qwen3_moe.yaml
echo '{"model_type": "no_such_model"}' >"$tmp/unknown.json"
expect_status 2 "a config no layout serves" -- --config "$tmp/unknown.json" chains/qwen3_moe.yaml
expect_status 0 "the symbolic checks on a config's layout" -- --config chains/layouts/qwen3_moe.config.json chains/qwen3_moe.yaml
expect_status 0 "the same on the fused layout" -- --config chains/layouts/qwen3_moe.config.json --fused-experts chains/qwen3_moe.yaml
expect_status 2 "a checkpoint directory that does not exist" -- --layout-from "$tmp/nothing" chains/qwen3_moe.yaml

# A checkpoint on disk: config.json and one safetensors file (header + zero bytes), two
# experts of one layer in the per-expert HF layout.
mkdir -p "$tmp/ckpt"
echo '{"model_type": "qwen3_moe"}' >"$tmp/ckpt/config.json"
python3 - "$tmp/ckpt/model.safetensors" <<'PY' || fail=1
import json, struct, sys
shapes = {"model.layers.0.mlp.gate.weight": [2, 4]}
for e in range(2):
    for proj, shape in (("gate_proj", [3, 4]), ("down_proj", [4, 3]), ("up_proj", [3, 4])):
        shapes[f"model.layers.0.mlp.experts.{e}.{proj}.weight"] = shape
header, offset = {}, 0
for key, shape in shapes.items():
    size = 2 * shape[0] * shape[1]
    header[key] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
    offset += size
text = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + bytes(offset))
PY
expect_status 0 "the symbolic checks on a checkpoint's headers" -- --layout-from "$tmp/ckpt" chains/qwen3_moe.yaml
echo '{"model_type": "glm4_moe"}' >"$tmp/ckpt/config.json"
expect_status 1 "a checkpoint of another model type" -- --layout-from "$tmp/ckpt" chains/qwen3_moe.yaml
expect_line "$tmp/out" "model_type 'glm4_moe', which this chain does not serve"
exit $fail
