#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU and a CUDA build of PyTorch (CI has none
# and runs none of this). Builds chainconv against the LibTorch bundled with that torch
# (found through torch.utils.cmake_prefix_path), runs the whole ctest suite against it, then
# tests/cuda/test_cuda.py on CUDA tensors: every model both ways, views that stay on the
# device and share storage, no host synchronisation inside a conversion
# (torch.cuda.set_sync_debug_mode("error")), and the dequantizing ops on CUDA equal to the CPU.
#
#   tests/cuda/run.sh            # PYTHON=/path/to/python3 to choose the interpreter
#
# Needs cmake, ninja, a C++17 compiler, yaml-cpp, re2, CLI11, Catch2, nlohmann-json and
# pybind11 (the Debian packages ./dev installs) and pytest for that interpreter.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
if ! "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "tests/cuda/run.sh: $python has no CUDA torch (or no GPU is visible)" >&2
  exit 1
fi
prefix=$("$python" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
dir=${BUILD_DIR:-build-cuda}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCHAINCONV_PYTHON="$(command -v "$python")" >/dev/null
cmake --build "$dir" -j "${JOBS:-$(nproc)}"
ctest --test-dir "$dir" --output-on-failure -j "${JOBS:-$(nproc)}"
PYTHONPATH="$dir/python" CHAINCONV_SOURCE_DIR="$PWD" CHAINCONV_CLI="$PWD/$dir/tools/chainconv" \
  "$python" -m pytest -q -p no:cacheprovider tests/cuda
