#!/usr/bin/env bash
# Data-path benchmark: `chainconv convert` against `cp -r` of the same checkpoint, both
# directions, page cache warm for both (each is run once untimed first), with peak RSS.
#
#   tools/bench/data_path.sh [BUILD_DIR] [LAYERS] [RUNS]
#
# The checkpoint is Qwen3-30B-A3B-shaped (hidden 2048, 128 experts of 768, bf16, per-expert
# HF layout) cut to LAYERS layers (default 4: about 6 GB). Prints medians of RUNS (default 5).
# cp_sync is `cp -r` followed by `sync`: the floor for a copy that, like convert (which
# fsyncs its result before renaming it into place), waits for the disk; the *_nosync rows
# are convert --no-sync, which leaves writeback to the kernel as cp -r does.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
layers=${2:-4}
runs=${3:-5}
cli=$build/tools/chainconv
[[ -x $cli ]] || { echo "data_path.sh: build first (no $cli)" >&2; exit 2; }

work=$(mktemp -d -p "${TMPDIR:-/tmp}" chainconv-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work/config.json" "$layers" <<'PY'
import json, sys
config = json.load(open("chains/layouts/qwen3_moe.full.config.json"))
config["num_hidden_layers"] = int(sys.argv[2])
config["mlp_only_layers"] = []
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
"$cli" synth qwen3_moe "$work/hf" --config "$work/config.json" --seed 1 >/dev/null
bytes=$(du -sb "$work/hf" | cut -f1)

# run NAME OUTPUT COMMAND...: times one run; appends "seconds peak_rss_kb" to $work/times.NAME,
# then deletes OUTPUT. Every timed step starts from the same state: the inputs (hf, prime) in
# the page cache, the previous step's output deleted and nothing dirty left to write back.
# (Run in a row without deleting, the third 3.7 GB writer is the one that runs the page cache
# full and pays for reclaim: on a 24 GB machine that tripled whichever step came third.)
run() {
  local name=$1 output=$2; shift 2
  sync
  /usr/bin/time -f "%e %M" -o "$work/.t" "$@" >/dev/null 2>&1
  cat "$work/.t" >>"$work/times.$name"
  rm -rf "$output"
  sync
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# The input of --to hf, made once (untimed).
"$cli" convert "$work/hf" "$work/prime" --to prime --quiet
for i in $(seq 0 "$runs"); do
  run cp "$work/cp" cp -r "$work/hf" "$work/cp"
  # What a durable copy costs: convert fsyncs its result before renaming it into place.
  run cp_sync "$work/cp" sh -c 'cp -r "$1" "$2" && sync' sh "$work/hf" "$work/cp"
  run to_prime "$work/out" "$cli" convert "$work/hf" "$work/out" --to prime --quiet
  run to_hf "$work/back" "$cli" convert "$work/prime" "$work/back" --to hf --quiet
  # The same without waiting for the disk (--no-sync), against plain cp -r.
  run to_prime_nosync "$work/out" "$cli" convert "$work/hf" "$work/out" --to prime --quiet --no-sync
  run to_hf_nosync "$work/back" "$cli" convert "$work/prime" "$work/back" --to hf --quiet --no-sync
  if ((i == 0)); then rm -f "$work"/times.*; fi  # warm-up run
done
gb=$(awk -v b="$bytes" 'BEGIN {printf "%.2f", b / 1e9}')
echo "checkpoint: $layers layers, $gb GB, $runs runs (median), page cache warm"
printf "%-16s %9s %9s %10s %12s\n" step seconds "GB/s" "vs cp -r" "peak RSS MB"
cp_s=$(cut -d' ' -f1 "$work/times.cp" | median)
for step in cp cp_sync to_prime to_hf to_prime_nosync to_hf_nosync; do
  s=$(cut -d' ' -f1 "$work/times.$step" | median)
  rss=$(cut -d' ' -f2 "$work/times.$step" | median)
  awk -v n="$step" -v s="$s" -v b="$bytes" -v c="$cp_s" -v r="$rss" \
    'BEGIN {printf "%-16s %9.2f %9.2f %9.2fx %12.0f\n", n, s, b / s / 1e9, c / s, r / 1024}'
done
