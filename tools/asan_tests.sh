#!/usr/bin/env bash
# Runs test files against an AddressSanitizer build of _C (out-of-bounds reads/writes abort
# with a report in $ASAN_LOG.<pid>). Usage: tools/asan_tests.sh tests/test_conv2d.py ...
# The build goes to build/dev-asan; the package is copied to a temporary directory so the
# checkout's own _C is untouched. libstdc++ is preloaded after libasan: without it ASan cannot
# intercept C++ exceptions (our ValueErrors) and stops at the first one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir="$root/build/dev-asan"
if [ ! -f "$bdir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=address -fno-omit-frame-pointer" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address" -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF \
    -DSKBUILD_PROJECT_NAME=pyconvnet -DSKBUILD_PROJECT_VERSION=0.1.0 \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python)" >/dev/null
fi
cmake --build "$bdir" -j2 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/pyconvnet" "$work/" && rm -f "$work"/pyconvnet/_C*.so
cp "$bdir"/_C*.so "$work/pyconvnet/"
cp -r "$root/tests" "$work/tests"
args=()
for t in "$@"; do args+=("$work/tests/$(basename "$t")"); done
export ASAN_LOG=${ASAN_LOG:-/tmp/pyconvnet-asan}
cd "$work/tests"
ASAN_OPTIONS="detect_leaks=0:log_path=$ASAN_LOG" \
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
PYTHONPATH="$work" python -m pytest -q -p no:cacheprovider -o testpaths=. --rootdir="$work/tests" "${args[@]}"
