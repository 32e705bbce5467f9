#!/usr/bin/env bash
# Incremental developer build without pip: compiles _C in build/dev-<name>/ and copies it
# into pyconvnet/ (git-ignored), so `python -m pytest tests/...` from the repository root
# tests the working tree. Several developers can build at once under different names.
set -euo pipefail
name=${1:-default}
root=$(cd "$(dirname "$0")/.." && pwd)
bdir="$root/build/dev-$name"
mkdir -p "$bdir"
if [ ! -f "$bdir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSKBUILD_PROJECT_NAME=pyconvnet -DSKBUILD_PROJECT_VERSION=0.1.0 \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python)" >/dev/null
fi
cmake --build "$bdir" -j2 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
so=$(ls "$bdir"/_C*.so)
# Atomic replace: processes that already loaded the old module keep their mapping.
cp "$so" "$root/pyconvnet/.tmp_$name.so"
mv -f "$root/pyconvnet/.tmp_$name.so" "$root/pyconvnet/$(basename "$so")"
echo "built $(basename "$so") into pyconvnet/ (run tests from the repository root)"
