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
  launcher=()
  # ccache (when installed) makes a fresh worktree's first build cheap; CCACHE_BASEDIR below
  # makes its keys independent of where the checkout lives.
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DSKBUILD_PROJECT_NAME=pyconvnet -DSKBUILD_PROJECT_VERSION=0.1.0 \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python)" >/dev/null
fi
export CCACHE_BASEDIR="$root"
# A failed build must stop here: copying the previous binary would test stale code.
log="$bdir/build.log"
if ! cmake --build "$bdir" -j2 >"$log" 2>&1; then
  grep -Ev '^\[[0-9]+/[0-9]+\]' "$log" >&2
  echo "devbuild: build FAILED (full log: $log)" >&2
  exit 1
fi
grep -Ev '^\[[0-9]+/[0-9]+\]' "$log" || true
so=$(ls "$bdir"/_C*.so)
# Atomic replace: processes that already loaded the old module keep their mapping.
cp "$so" "$root/pyconvnet/.tmp_$name.so"
mv -f "$root/pyconvnet/.tmp_$name.so" "$root/pyconvnet/$(basename "$so")"
echo "built $(basename "$so") into pyconvnet/ (run tests from the repository root)"
