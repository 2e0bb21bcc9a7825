#!/bin/sh
# chainlint's command line: exit codes (0 clean, 1 findings, 2 unusable input), gcc-style
# lines and the summary line, --format json, layout files, --chains-dir, and both layout
# sources. Run from the repository root.
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
[ "$(cat "$tmp/out")" = "1 file, 0 errors, 0 warnings" ] || { echo "FAIL: summary on success"; cat "$tmp/out"; fail=1; }
expect_status 0 "a clean chain, quietly" -- --quiet chains/qwen3_moe.yaml
[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] || { echo "FAIL: --quiet printed"; cat "$tmp/out" "$tmp/err"; fail=1; }
expect_status 0 "chains, pieces and layouts together" -- chains/qwen3_moe.yaml chains/common/moe.yaml chains/layouts/qwen3_moe.yaml chains/layouts/common/blocks.yaml
[ "$(cat "$tmp/out")" = "4 files, 0 errors, 0 warnings" ] || { echo "FAIL: summary of 4"; cat "$tmp/out"; fail=1; }
expect_status 1 "a bad chain" -- tests/lint/bad/unknown_field.yaml
expect_line "$tmp/out" "tests/lint/bad/unknown_field.yaml:7:52: error: unknown field 'dimm' in the arguments of 'stack'"
[ "$(tail -n 1 "$tmp/out")" = "1 file, 1 error, 0 warnings" ] || { echo "FAIL: summary on failure"; cat "$tmp/out"; fail=1; }
expect_status 1 "a bad layout" -- tests/lint/bad_layouts/unknown_field.yaml chains/layouts/qwen3_moe.yaml
expect_line "$tmp/out" "tests/lint/bad_layouts/unknown_field.yaml:7:33: error: unknown field 'dtyp' in a tensor"
[ "$(tail -n 1 "$tmp/out")" = "2 files, 1 error, 0 warnings" ] || { echo "FAIL: summary of a bad layout"; cat "$tmp/out"; fail=1; }
# A layout of one's own, outside chains/: recognised by its fields, and evaluated on the
# config beside it.
mkdir -p "$tmp/mine"
printf 'model_types: [mine]\ndtype: BF16\ntensors:\n  - {key: w, shape: [hidden_size]}\n' >"$tmp/mine/mine.yaml"
expect_status 0 "a layout with no config beside it" -- "$tmp/mine/mine.yaml"
expect_line "$tmp/out" "$tmp/mine/mine.yaml:1:15: note: no mine.config.json beside the layout: not evaluated [layout]"
expect_line "$tmp/out" "1 file, 0 errors, 0 warnings, 1 note"
echo '{"model_type": "mine", "hidden_size": 4}' >"$tmp/mine/mine.config.json"
expect_status 0 "a layout evaluated on its config" -- "$tmp/mine/mine.yaml"
echo '{"model_type": "mine"}' >"$tmp/mine/mine.config.json"
expect_status 1 "a layout that fails on its config" -- "$tmp/mine/mine.yaml"
expect_line "$tmp/out" "$tmp/mine/mine.yaml:4:22: error: on $tmp/mine/mine.config.json: config.json has no field 'hidden_size'"
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

# A finding quoting bytes that are not UTF-8 (a field name, a file name) still gives JSON.
printf 'version: 1\nmodel_types: [x]\ndescription: d\nops:\n  - rename: {from: a, to: b, bogus\377: 1}\n' >"$tmp/bad$(printf '\376').yaml"
expect_status 1 "json with invalid UTF-8" -- --format json "$tmp/bad$(printf '\376').yaml"
python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
report = json.load(open(sys.argv[1], encoding="utf-8"))
f = report["findings"][0]
assert report["status"] == 1 and report["files"] == 1, report
assert f["message"] == "unknown field 'bogus\ufffd' in the arguments of 'rename' (expected one of: from, to)", f
assert f["file"].endswith("/bad\ufffd.yaml"), f
PY

echo '{"model_type": "qwen3_moe", ' >"$tmp/broken.json"
expect_status 2 "a config that is not JSON" -- --config "$tmp/broken.json" chains/qwen3_moe.yaml
echo '{"model_type": "no_such_model"}' >"$tmp/unknown.json"
expect_status 2 "a config no layout serves" -- --config "$tmp/unknown.json" chains/qwen3_moe.yaml
expect_status 0 "the symbolic checks on a config's layout" -- --config chains/layouts/qwen3_moe.config.json chains/qwen3_moe.yaml
expect_status 0 "the same on the fused layout" -- --config chains/layouts/qwen3_moe.config.json --fused-experts chains/qwen3_moe.yaml

# --chains-dir: a model type of one's own, its layout under DIR/layouts/.
mkdir -p "$tmp/own/layouts"
cp -r chains/common "$tmp/own/common"
cp -r chains/layouts/common "$tmp/own/layouts/common"
sed 's/model_types: \[qwen3_moe\]/model_types: [own_moe]/' chains/qwen3_moe.yaml >"$tmp/own/own_moe.yaml"
sed 's/model_types: \[qwen3_moe\]/model_types: [own_moe]/' chains/layouts/qwen3_moe.yaml >"$tmp/own/layouts/own_moe.yaml"
sed 's/"qwen3_moe"/"own_moe"/' chains/layouts/qwen3_moe.config.json >"$tmp/own/layouts/own_moe.config.json"
expect_status 2 "a config whose layout is only in a --chains-dir" -- --config "$tmp/own/layouts/own_moe.config.json" "$tmp/own/own_moe.yaml"
expect_line "$tmp/err" "no layout for model_type 'own_moe' (searched '$PWD/chains/layouts'; known: afmoe,"
expect_line "$tmp/err" "add a directory whose layouts/ has one with --chains-dir DIR"
expect_status 0 "the same with --chains-dir" -- --chains-dir "$tmp/own" --config "$tmp/own/layouts/own_moe.config.json" "$tmp/own/own_moe.yaml"
expect_status 2 "a --chains-dir that does not exist" -- --chains-dir "$tmp/nowhere" chains/qwen3_moe.yaml
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
# Chain parameters: --set and --hf-experts are checked against each chain's declarations and
# used on the layout.
expect_status 0 "--hf-experts on a layout" -- --config chains/layouts/qwen3_moe.config.json --hf-experts fused chains/qwen3_moe.yaml
expect_status 0 "--set of a declared parameter" -- --set hf_experts=per_expert chains/qwen3_5_moe.yaml
expect_status 1 "--set of an undeclared parameter" -- --set dequantize=true chains/qwen3_moe.yaml
expect_line "$tmp/out" "chains/qwen3_moe.yaml:1:1: error: the chain has no parameter 'dequantize' (its parameters: hf_experts) [params]"
expect_status 1 "--hf-experts a chain does not offer" -- --hf-experts per_expert chains/gpt_oss.yaml
expect_line "$tmp/out" "is string: expected one of: fused, found 'per_expert' [params]"
expect_status 2 "a malformed --set" -- --set hf_experts chains/qwen3_moe.yaml
expect_line "$tmp/err" "--set hf_experts: expected NAME=VALUE"
exit $fail
