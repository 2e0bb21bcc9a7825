#!/usr/bin/env bash
# Whole-process times of the commands people run in editors, hooks and scripts: chainconv
# --help, chainlint on one chain, plan and inspect on the tiny demo checkpoint, and
# chainlint with the full-size Qwen3-30B layout. Median of REPS runs each, start-up
# included, with `true` (a process that does nothing) timed alongside as the floor.
#   tools/bench/startup.sh [BUILD_DIR] [REPS]
set -euo pipefail
build=${1:-build}
reps=${2:-11}
cli=$build/tools/chainconv
lint=$build/tools/chainlint/chainlint
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cli" synth qwen3_moe "$work/hf" --seed 1 >/dev/null

median_ms() {  # median_ms CMD...: the median wall time of REPS runs, in milliseconds
  local times=()
  for ((i = 0; i < reps; ++i)); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    times+=($(((end - start) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

printf '%-60s %10s\n' "command (median of $reps, whole process)" "ms"
row() { printf '%-60s %10s\n' "$1" "$(median_ms "${@:2}")"; }
row "true (the floor: starting a process)" true
row "chainconv --help" "$cli" --help
row "chainlint chains/qwen3_moe.yaml" "$lint" chains/qwen3_moe.yaml
row "chainconv plan (tiny demo checkpoint)" "$cli" plan "$work/hf" --to prime
row "chainconv inspect (tiny demo checkpoint)" "$cli" inspect "$work/hf"
row "chainlint --config qwen3_moe.full.config.json (18,867 keys)" \
  "$lint" --config chains/layouts/qwen3_moe.full.config.json chains/qwen3_moe.yaml
