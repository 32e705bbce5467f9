#!/usr/bin/env bash
# Runs the kernel tests against a build of _C with AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   tools/sanitize.sh                      # the kernel test files (KERNEL_TESTS below)
#   tools/sanitize.sh tests/test_pool.py   # chosen files
#
# Exits non-zero when the build fails, when a test fails, or when any sanitizer report appears
# (UBSan halts at its first report; ASan aborts at its first error; both also write their report
# to build/sanitize/reports/). The build lives in build/sanitize/ and the tests run on a copy of
# the package, so the checkout's own _C is never replaced.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir="$root/build/sanitize"
KERNEL_TESTS=(test_conv2d.py test_pool.py test_gemm.py test_gemm_epilogue_k_blocks.py test_linear.py
  test_packed_linear.py test_activation.py test_softmax.py test_dropout.py test_batch_norm_kernels.py
  test_optim.py test_winograd.py test_depthwise_oracle.py test_inference.py test_isa.py test_threads.py
  test_png_decode.py)

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$bdir/CMakeCache.txt" ]; then
  mkdir -p "$bdir"
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF \
    -DSKBUILD_PROJECT_NAME=pyconvnet -DSKBUILD_PROJECT_VERSION=0.1.0 \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python)" >/dev/null
fi
export CCACHE_BASEDIR="$root"
log="$bdir/build.log"
if ! cmake --build "$bdir" -j2 >"$log" 2>&1; then
  grep -Ev '^\[[0-9]+/[0-9]+\]' "$log" >&2
  echo "sanitize: build FAILED (full log: $log)" >&2
  exit 1
fi
so=$(ls "$bdir"/_C*.so)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/pyconvnet" "$work/" && rm -f "$work"/pyconvnet/_C*.so
cp "$so" "$work/pyconvnet/"
cp -r "$root/tests" "$work/tests"
args=()
if [ $# -eq 0 ]; then
  for t in "${KERNEL_TESTS[@]}"; do args+=("$work/tests/$t"); done
else
  for t in "$@"; do args+=("$work/tests/$(basename "$t")"); done
fi

reports="$bdir/reports"
rm -rf "$reports" && mkdir -p "$reports"
# The Python executable is not instrumented: the ASan runtime must be loaded first, and
# libstdc++ right after it, or ASan cannot intercept C++ exceptions (our ValueErrors).
# Leak checking is off: the interpreter keeps many allocations to its exit by design.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so) $(gcc -print-file-name=libstdc++.so)"
status=0
(cd "$work/tests" && LD_PRELOAD="$preload" PYTHONPATH="$work" \
  python -m pytest -q -x -p no:cacheprovider -o testpaths=. --rootdir="$work/tests" "${args[@]}") || status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  for f in "$reports"/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  exit 1
fi
if [ $status -ne 0 ]; then
  echo "sanitize: tests failed (status $status)" >&2
  exit $status
fi
echo "sanitize: clean (${#args[@]} test files, no sanitizer report)"
