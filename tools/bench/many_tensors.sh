#!/usr/bin/env bash
# Many tensors: `chainconv plan` and `convert` on checkpoints with many small tensors, to
# show the work is linear in the tensor count (issue 13: 20,000 tensors in one layer group,
# and 1,000,000 zero-size tensors).
#
#   tools/bench/many_tensors.sh [BUILD_DIR] [RUNS] [ZERO_SIZE_COUNT]
#
# Whole processes, start-up included; medians of RUNS (default 3) in seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${2:-3}
zeros=${3:-1000000}
cli=$build/tools/chainconv
[[ -x $cli ]] || { echo "many_tensors.sh: build first (no $cli)" >&2; exit 2; }
work=$(mktemp -d -p "${TMPDIR:-/tmp}" chainconv-many.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A qwen3_moe checkpoint of one layer holding COUNT tensors of SHAPE (F32) that pass
# through, plus 4 experts the chain stacks.
make_checkpoint() {  # DIR COUNT SHAPE
  /usr/bin/python3 - "$@" <<'PY'
import json, os, struct, sys
out, count, shape = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
os.makedirs(out)
n = 1
for d in shape:
    n *= d
size = 4 * n
tensors, offset = {}, 0
def add(key, shp):
    global offset
    nbytes = 4
    for d in shp:
        nbytes *= d
    tensors[key] = {"dtype": "F32", "shape": shp, "data_offsets": [offset, offset + nbytes]}
    offset += nbytes
for i in range(count):
    add(f"model.layers.{i % 48}.extra.{i}.weight", shape)
for e in range(4):
    for p in ("gate_proj", "up_proj"):
        add(f"model.layers.0.mlp.experts.{e}.{p}.weight", [2, 3])
    add(f"model.layers.0.mlp.experts.{e}.down_proj.weight", [3, 2])
header = json.dumps({"__metadata__": {"format": "pt"}, **tensors}, separators=(",", ":")).encode()
header += b" " * (-len(header) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header)))
    f.write(header)
    f.write(b"\0" * offset)
json.dump({"model_type": "qwen3_moe"}, open(os.path.join(out, "config.json"), "w"))
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {  # NAME COMMAND...
  local name=$1; shift
  local t
  for ((r = 0; r < runs; r++)); do
    rm -rf "$work/dst"
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    awk "BEGIN {print $end - $start}"
  done | median | xargs printf "%-58s %8.3f s\n" "$name"
}

make_checkpoint "$work/group20k" 20000 "[4]"
# One layer group: all 20,000 extra tensors in layer 0.
/usr/bin/python3 - "$work/group20k/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
fixed = {}
for k, v in header.items():
    if k.startswith("model.layers.") and ".extra." in k:
        parts = k.split(".")
        parts[2] = "0"
        k = ".".join(parts)
    fixed[k] = v
text = json.dumps(fixed, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
PY
make_checkpoint "$work/zeros" "$zeros" "[0]"

echo "medians of $runs, whole processes"
time_runs "plan, 20,000 tensors in one layer group" "$cli" plan "$work/group20k" --to prime
time_runs "convert --no-sync, 20,000 tensors in one layer group" \
  "$cli" convert "$work/group20k" "$work/dst" --to prime --no-sync --quiet
time_runs "plan, $zeros zero-size tensors" "$cli" plan "$work/zeros" --to prime
