#!/bin/sh
# What `./dev install` puts under a prefix, used as a newcomer would: the build tree is
# installed into a fresh prefix outside it, then the installed chainconv, chainlint and
# Python module run from a clean environment (no CHAINCONV_* variables, no PYTHONPATH but
# the module's directory, the working directory outside the source tree), so they must find
# their chains, schemas and compute plugin relative to themselves.
# Usage: install_test.sh BUILD_DIR [PYTHON]
set -u
build=$1
python=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail=0
say() { echo "FAIL: $*"; fail=1; }
clean() { env -i PATH=/usr/bin:/bin HOME="$tmp" "$@"; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
for f in bin/chainconv bin/chainlint lib/libchainconv.so lib/chainconv/chainconv_compute.so \
         include/chainconv/chainconv.h share/chainconv/chains/qwen3_moe.yaml \
         share/chainconv/chains/layouts/qwen3_moe.yaml share/chainconv/schema/chain.schema.json \
         share/chainconv/schema/layout.schema.json; do
  [ -e "$prefix/$f" ] || say "the install has no $f"
done
# The tools link the LibTorch-free core alone.
if ldd "$prefix/bin/chainconv" "$prefix/bin/chainlint" | grep -q torch; then say "the installed tools link LibTorch"; fi

cd "$tmp"
clean "$prefix/bin/chainconv" --help >out 2>&1 || say "chainconv --help failed"
grep -q "convert" out && grep -q "synth" out || { say "chainconv --help lists no subcommands"; cat out; }

clean "$prefix/bin/chainlint" "$prefix/share/chainconv/chains/qwen3_moe.yaml" \
  "$prefix/share/chainconv/chains/layouts/qwen3_moe.yaml" >out 2>&1 || { say "chainlint on installed files"; cat out; }
[ "$(cat out)" = "2 files, 0 errors, 0 warnings" ] || { say "chainlint's summary"; cat out; }
clean "$prefix/bin/chainlint" --config "$prefix/share/chainconv/chains/layouts/qwen3_moe.config.json" \
  "$prefix/share/chainconv/chains/qwen3_moe.yaml" >out 2>&1 || { say "chainlint --config (installed layouts)"; cat out; }

# The demo finds the installed chains and layouts; nemotron_h computes a value, which needs
# the installed plugin (a copy outside the build tree never loads the build's).
clean "$prefix/bin/chainconv" demo >out 2>&1 || { say "the installed demo failed"; cat out; }
grep -qF "chain $prefix/share/chainconv/chains/qwen3_moe.yaml serves" out || { say "the demo's chain is not the installed one"; head -3 out; }
grep -q "identical to the input" out || say "the demo's roundtrip"
clean "$prefix/bin/chainconv" demo --model-type nemotron_h >out 2>&1 || { say "the installed demo of a computing chain failed"; tail -3 out; }

clean "$prefix/bin/chainconv" synth qwen3_moe work/hf >out 2>&1 || { say "synth"; cat out; }
clean "$prefix/bin/chainconv" convert work/hf work/prime --to prime --verify --quiet >out 2>&1 || { say "convert --verify"; cat out; }
clean "$prefix/bin/chainconv" inspect work/prime >out 2>&1 || say "inspect"
grep -qF "chain: $prefix/share/chainconv/chains/qwen3_moe.yaml" out || { say "inspect's chain"; tail -3 out; }

if [ -n "$python" ]; then
  module=$(cd "$prefix" && ls lib/python3*/dist-packages/chainconv.cpython-*.so 2>/dev/null | head -n 1)
  if [ -z "$module" ]; then
    say "the install has no Python module"
  else
    dir=$(dirname "$module")
    # Under /usr/local the same place is on Debian's python3's own path: nothing to set.
    "$python" -c "import sys; assert '/usr/local/$dir' in sys.path, sys.path" || say "/usr/local/$dir is not on $python's sys.path"
    clean PYTHONPATH="$prefix/$dir" "$python" -c "
import os, sys, chainconv
prefix = sys.argv[1]
assert os.path.realpath(chainconv.__file__).startswith(os.path.realpath(prefix)), chainconv.__file__
chain = chainconv.Chain.for_model_type('qwen3_moe')
assert os.path.samefile(chain.file, prefix + '/share/chainconv/chains/qwen3_moe.yaml'), chain.file
assert os.path.samefile(chainconv.default_chains_dir(), prefix + '/share/chainconv/chains')
print('ok')" "$prefix" >out 2>&1 || { say "importing the installed module from a clean process"; cat out; }
  fi
fi
exit $fail
