#!/usr/bin/env bash
# Incremental developer build without pip: compiles _C into build/dev-<name>/ and lays out
# build/dev-<name>/site/pyconvnet (symlinks to the sources + the fresh _C), so that
#   PYTHONPATH=build/dev-<name>/site python -m pytest tests/...
# tests the working tree. Several developers can use different names at once.
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
site="$bdir/site/pyconvnet"
rm -rf "$bdir/site"
mkdir -p "$site"
for entry in "$root"/pyconvnet/*; do
  base=$(basename "$entry")
  case "$base" in _C*.so|__pycache__) continue ;; esac
  ln -s "$entry" "$site/$base"
done
cp "$so" "$site/"
echo "PYTHONPATH=$bdir/site"
