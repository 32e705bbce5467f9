#!/usr/bin/env python3
"""Mutation check: do the tests catch small, plausible bugs in the kernels and layers?

Each entry of MUTATIONS is one source edit (an exact snippet and its replacement) and the tests
that should fail with it. For every selected entry this script applies the edit to a scratch
copy of the working tree (never to the checkout itself), rebuilds `_C` there when a C++ file
changed, runs the tests with torch hidden (CI has no torch, so it cannot be the oracle that
catches a bug), and reports CAUGHT (some test failed, crashed or timed out) or SURVIVED (all
passed). A snippet that no longer occurs exactly once is reported STALE: update the entry
together with the code it quotes, so the list stays true.

Run it by hand after touching a kernel or a layer (from the repository root):

    python tools/mutation_check.py --list             # the entries, and whether each still applies
    python tools/mutation_check.py                    # every entry with its targeted tests (~20 min)
    python tools/mutation_check.py --only 'winograd*' sgemm-relu-every-k-block
    python tools/mutation_check.py --only conv-dw-scaled --full   # the whole suite per entry

The scratch copy and its CMake build directory live in build/mutation/ (git-ignored) and are
kept between runs: the first run builds `_C` once (a few minutes), later runs recompile only the
files that changed. The copy is the working tree as it is (uncommitted edits included, ignored
files left out), refreshed at the start of every run. Exit status: 0 when every selected
mutation was caught, 1 when one survived, 2 when none survived but an entry is stale, did not
compile, or the unmutated tree fails its own tests.
Standard library only; needs git, cmake, ninja, a C++ compiler, pybind11 and pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

FULL = ("tests",)  # the whole suite (pyproject's testpaths)


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple  # pytest arguments: files or node ids; FULL for the whole suite
    why: str  # the bug it models
    k: str | None = None  # optional pytest -k expression

    @property
    def native(self) -> bool:
        return self.path.startswith("csrc/") or self.path.endswith("CMakeLists.txt")


def M(name, path, old, new, tests, why, k=None):
    return Mutation(name, path, old, new, tuple(tests), why, k)


# Test files used below (seconds on the 2-core dev VM: most are a few seconds).
LCONV = "tests/test_layers_conv.py"
CONV = "tests/test_conv2d.py"
INF = "tests/test_inference.py"
INFG = "tests/test_inference_graph.py"
WINO = "tests/test_winograd.py"
PLIN = "tests/test_packed_linear.py"
GEMM = "tests/test_gemm.py"
POOL = "tests/test_pool.py"
GRAD64 = "tests/test_gradients_float64.py"
INIT = "tests/test_init_bounds.py"
CONVO = "tests/test_layers_conv_oracle.py"

MUTATIONS = [
    # ---------------------------------------------------------------- audit (issue 14): layers
    M("conv-same-pad-top-left", "pyconvnet/functional/conv.py",
      "pad4 = (th // 2, tw // 2, th - th // 2, tw - tw // 2)",
      "pad4 = (th - th // 2, tw - tw // 2, th // 2, tw // 2)",
      [LCONV, CONVO, CONV],
      "padding='same' puts the extra pixel top/left instead of bottom/right (PyTorch)"),
    M("conv-pad-pair-swapped", "pyconvnet/functional/conv.py",
      "    return (ph, pw, ph, pw)\n",
      "    return (pw, ph, pw, ph)\n",
      [LCONV, CONVO, CONV],
      "padding=(h, w) applied as (w, h)"),
    M("conv-dw-scaled", "pyconvnet/layers/conv.py",
      "self._accumulate_grads(dw, db)",
      "self._accumulate_grads(None if dw is None else dw * np.float32(0.999), db)",
      [LCONV, GRAD64],
      "Conv2d weight gradient 0.1% small"),
    M("linear-dw-scaled", "pyconvnet/layers/linear.py",
      "_C.sgemm(g, x, True, False, None, None, False, w.grad, True)",
      "_C.sgemm(g * np.float32(0.999), x, True, False, None, None, False, w.grad, True)",
      ["tests/test_layers_linear.py", GRAD64],
      "Linear weight gradient 0.1% small"),
    M("avgpool-layer-ignores-count-include-pad", "pyconvnet/layers/pool.py",
      "self.ceil_mode,\n                                     self.count_include_pad)",
      "self.ceil_mode,\n                                     True)",
      ["tests/test_layers_pool.py", "tests/test_layers_pool_oracle.py"],
      "AvgPool2d forward always counts the padding (count_include_pad=False ignored)"),
    M("avgpool-layer-backward-ignores-count-include-pad", "pyconvnet/layers/pool.py",
      "self.ceil_mode,\n                                      self.count_include_pad)",
      "self.ceil_mode,\n                                      True)",
      ["tests/test_layers_pool.py", "tests/test_layers_pool_oracle.py"],
      "AvgPool2d backward always counts the padding"),
    M("batchnorm-train-default-eps", "pyconvnet/layers/norm.py",
      "_C.batch_norm2d_forward_train(x, self.weight.data, self.bias.data, self.eps)",
      "_C.batch_norm2d_forward_train(x, self.weight.data, self.bias.data, 1e-5)",
      ["tests/test_layers_norm.py", "tests/test_layers_norm_oracle.py", "tests/test_batch_norm_kernels.py"],
      "BatchNorm2d training uses 1e-5 instead of its eps"),
    M("adam-default-eps", "pyconvnet/optim/adam.py",
      "betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):",
      "betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):",
      ["tests/test_optim.py", "tests/test_optim_reference.py"],
      "Adam's default eps 1e-6 instead of PyTorch's 1e-8"),
    M("conv-init-fan-in-ignores-groups", "pyconvnet/layers/conv.py",
      "fan_in = (self.in_channels // self.groups) * self.kernel_size[0]",
      "fan_in = self.in_channels * self.kernel_size[0]",
      [LCONV, INIT],
      "Conv2d default init: fan-in counts all input channels, not one group's"),
    M("linear-init-bound-halved", "pyconvnet/layers/linear.py",
      "kaiming_uniform_(self.weight.data, fan_in=self.in_features, rng=rng)",
      "kaiming_uniform_(self.weight.data, fan_in=4 * self.in_features, rng=rng)",
      ["tests/test_layers_linear.py", INIT],
      "Linear default init: weight bound half of PyTorch's"),
    # ---------------------------------------------------------------- audit: kernels
    M("sgemm-relu-every-k-block", "csrc/gemm/sgemm.cpp",
      "((last && ep.relu) ? kRelu : 0)",
      "(ep.relu ? kRelu : 0)",
      [GEMM, "tests/test_gemm_epilogue_k_blocks.py"], "fused ReLU applied to partial sums after every K block, not only the last",
      k="relu or epilogue"),
    M("depthwise-stride-dilation-swapped", "csrc/conv/depthwise.cpp",
      "const int64_t iy = oy * s.sh - s.pt + ky * s.dh;\n        if (iy < 0 || iy >= s.h) continue;\n"
      "        const float* irow = xin + iy * s.w;",
      "const int64_t iy = oy * s.dh - s.pt + ky * s.sh;\n        if (iy < 0 || iy >= s.h) continue;\n"
      "        const float* irow = xin + iy * s.w;",
      [CONV, LCONV, "tests/test_depthwise_oracle.py"], "portable depthwise forward: vertical stride and dilation swapped"),
    M("depthwise-backward-dx-stride-dilation-swapped", "csrc/conv/depthwise.cpp",
      "const int64_t iy = oy * s.sh - s.pt + ky * s.dh;\n            if (iy < 0 || iy >= s.h) continue;\n"
      "            float* xrow",
      "const int64_t iy = oy * s.dh - s.pt + ky * s.sh;\n            if (iy < 0 || iy >= s.h) continue;\n"
      "            float* xrow",
      [CONV, LCONV, "tests/test_depthwise_oracle.py", GRAD64], "depthwise input gradient: vertical stride and dilation swapped"),
    M("dropout-scale", "csrc/dropout/dropout.cpp",
      "static_cast<float>(1.0 / (1.0 - p))",
      "static_cast<float>(1.0 / (1.0 - p) * 0.999)",
      ["tests/test_dropout.py"], "kept values scaled by 0.999/(1-p) instead of 1/(1-p)"),
    M("dropout-avx512-threshold-strict", "csrc/dropout/dropout_avx512.cpp",
      "_mm512_cmp_epu32_mask(v, thr, _MM_CMPINT_NLT)",
      "_mm512_cmp_epu32_mask(v, thr, _MM_CMPINT_NLE)",
      ["tests/test_dropout.py"], "AVX-512 dropout drops a value whose hash equals the threshold"),
    # ---------------------------------------------------------------- AVX-512 kernels
    M("sgemm-avx512-edge-mask", "csrc/gemm/ukernel_12x32_avx512.cpp",
      "__mmask16((1u << tail) - 1)",
      "__mmask16((1u << (tail - 1)) - 1)",
      [GEMM], "12x32 micro-kernel column-edge mask one lane short", k="edge"),
    M("depthwise-avx512-stride-dilation-swapped", "csrc/conv/depthwise_avx512.cpp",
      "const int64_t iy0 = oy0 * s.sh - s.pt + ky * s.dh;",
      "const int64_t iy0 = oy0 * s.dh - s.pt + ky * s.sh;",
      [CONV, LCONV, "tests/test_depthwise_oracle.py"], "AVX-512 depthwise forward: vertical stride and dilation swapped"),
    M("direct-conv-avx512-row-buffer-copy-out", "csrc/conv/direct_conv.cpp",
      "static_cast<size_t>(x1 - x0) * sizeof(float));",
      "static_cast<size_t>(x1 - x0 - 1) * sizeof(float));",
      [CONV], "direct conv (AVX-512, planes 4 KB apart): row buffer copy-out drops the last column"),
    M("maxpool-avx512-ties-take-last", "csrc/pool/max_pool2d_avx512.cpp",
      "_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | isnan_v",
      "_mm512_cmp_ps_mask(v, m, _CMP_GE_OQ) | isnan_v",
      [POOL, "tests/test_layers_pool.py"], "AVX-512 max pool index: the last of equal maxima, not the first",
      k="max_pool"),
    M("maxpool-avx512-nan-dropped", "csrc/pool/max_pool2d_avx512.cpp",
      "nan = _mm512_mask_mov_ps(nan, isnan_v, v);",
      "nan = _mm512_mask_mov_ps(nan, 0, v);",
      [POOL], "AVX-512 max pool without indices: NaN no longer propagates", k="max_pool"),
    # ---------------------------------------------------------------- serving (issue 9)
    M("network-conv-pool-group-stride", "csrc/infer/network.cpp",
      "conv_->run(g, x + b * in.size(), buf.data());",
      "conv_->run(g, x + b * out.size(), buf.data());",
      [INF], "fused conv+pool step: groups after the first read the wrong images"),
    # The caller's inputs never get an arena slot (infer/slots.cpp), so an in-place step cannot
    # be given one to write over; the nearest bug is taking over a slot still read later.
    M("network-in-place-over-live-value", "csrc/infer/slots.cpp",
      "if (once && slot_of[src] >= 0 && last_reader[src] == static_cast<int64_t>(i))",
      "if (once && slot_of[src] >= 0)",
      [INF, INFG], "an in-place step (activation, affine, add) overwrites a value a later step "
      "still reads"),
    M("direct-avx512-residual-dropped", "csrc/conv/direct_ukernel_avx512.cpp",
      "v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));",
      "v = _mm512_add_ps(v, _mm512_setzero_ps());",
      [INFG],
      "the AVX-512 direct kernel drops the residual of a channel-panel convolution (channel-major store)",
      k="channel_panel or pointwise"),
    M("direct-panels-partial-sums-dropped", "csrc/conv/direct_panels.cpp",
      "const float* acc_in = k0 == 0 ? nullptr : part;",
      "const float* acc_in = nullptr;",
      [INFG, INF],
      "a blocked 1x1 sum restarts at every block of 256 taps (only the last block counts)"),
    M("network-ping-pong-same-buffer", "csrc/infer/slots.cpp",
      "        free_slot[chosen] = 0;\n",
      "",
      [INF, INFG], "a step writes into the buffer it reads (a new value's slot is left free "
      "for the next step's output)"),
    M("prepared-conv-bias-dropped", "csrc/conv/conv2d_prepared.cpp",
      "const float* b = bias_.empty() ? nullptr : bias_.data();",
      "const float* b = nullptr;",
      [INF, WINO], "prepared (serving) convolution ignores its bias"),
    M("winograd-applies-to-stride-2", "csrc/conv/winograd.cpp",
      "s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1",
      "s.kh == 3 && s.kw == 3 && s.dh == 1",
      [INF, WINO], "Winograd chosen for strided 3x3 convolutions"),
    M("winograd-weight-transform-coefficient", "csrc/conv/winograd_weights.cpp",
      "{1.0 / 15, -2.0 / 15, 4.0 / 15}",
      "{1.0 / 15, 2.0 / 15, 4.0 / 15}",
      [WINO], "a sign flipped in the weight transform G"),
    M("winograd-f2-weight-transform-sign", "csrc/conv/winograd_weights.cpp",
      "{0.5, -0.5, 0.5}",
      "{0.5, 0.5, 0.5}",
      [WINO], "F(2x2, 3x3) weight transform G: a sign flipped"),
    M("winograd-f2-weight-transform-half", "csrc/conv/winograd_weights.cpp",
      "kGF2[4][3] = {{1.0, 0, 0}, {0.5, 0.5, 0.5}",
      "kGF2[4][3] = {{1.0, 0, 0}, {0.5, 0.25, 0.5}",
      [WINO], "F(2x2, 3x3) weight transform G: a coefficient wrong"),
    M("winograd-f2-ref-input-transform", "csrc/conv/winograd_f2_ref.cpp",
      "v[3 * vs] = d1 - d3;",
      "v[3 * vs] = d3 - d1;",
      [WINO], "portable F(2x2, 3x3) input transform B^T: a sign flipped"),
    M("winograd-f2-ref-output-transform", "csrc/conv/winograd_f2_ref.cpp",
      "o[os] = d - m[3 * ms];",
      "o[os] = d + m[3 * ms];",
      [WINO], "portable F(2x2, 3x3) output transform A^T: a sign flipped"),
    M("winograd-f2-avx2-input-transform", "csrc/conv/winograd_f2_avx2.cpp",
      "v[0] = _mm256_sub_ps(d[0], d[2]);",
      "v[0] = _mm256_add_ps(d[0], d[2]);",
      [WINO], "AVX2 F(2x2, 3x3) input transform B^T: a sign flipped"),
    M("winograd-f2-avx2-output-transform", "csrc/conv/winograd_f2_avx2.cpp",
      "o[0] = _mm256_add_ps(m[0], s);",
      "o[0] = _mm256_add_ps(m[0], d);",
      [WINO], "AVX2 F(2x2, 3x3) output transform A^T: a column wrong"),
    M("winograd-f2-avx2-odd-columns", "csrc/conv/winograd_f2_avx2.cpp",
      "d[1] = deinterleave<0xDD>(raw[0], raw[1]);",
      "d[1] = deinterleave<0x88>(raw[0], raw[1]);",
      [WINO], "AVX2 F(2x2, 3x3): tile column 1 read from column 0"),
    M("winograd-f2-avx512-input-transform", "csrc/conv/winograd_f2_avx512.cpp",
      "v[2] = _mm512_sub_ps(d[2], d[1]);",
      "v[2] = _mm512_sub_ps(d[1], d[2]);",
      [WINO, INF], "AVX-512 F(2x2, 3x3) input transform B^T: a sign flipped"),
    M("winograd-f2-avx512-output-transform", "csrc/conv/winograd_f2_avx512.cpp",
      "o[1] = _mm512_sub_ps(d, m[3]);",
      "o[1] = _mm512_add_ps(d, m[3]);",
      [WINO, INF], "AVX-512 F(2x2, 3x3) output transform A^T: a sign flipped"),
    M("winograd-f2-avx512-floats-past-a-piece", "csrc/conv/winograd_f2_avx512.cpp",
      "ext_off[p] = x0 + span - 2 * p;",
      "ext_off[p] = x0 + span - 2 * p + 1;",
      [WINO], "AVX-512 F(2x2, 3x3): the last tile of a piece reads the wrong 2 columns past it"),
    M("winograd-f2-driver-tile-side", "csrc/conv/winograd.cpp",
      "const int64_t out = winograd_out(u.variant()), points = winograd_points(u.variant());",
      "const int64_t out = 4, points = winograd_points(u.variant());",
      [WINO], "the driver tiles F(2x2, 3x3) maps 4 apart"),
    M("serving-small-batch-rule-at-every-batch", "csrc/conv/conv_plan.cpp",
      "(r.max_batch == 0 || s.n <= r.max_batch)",
      "(r.max_batch == 0 || s.n > 0)",
      [INF, "tests/test_conv_plan.py"], "a rule for batches of 1-2 (F(2x2, 3x3)) held at every batch"),
    M("serving-small-path-at-every-batch", "csrc/infer/serving_conv.cpp",
      "if (small_ && n <= small_batch_) {",
      "if (small_) {",
      [INF], "the small-batch algorithm (F(2x2, 3x3)) runs larger batches too"),
    M("winograd-ref-input-transform", "csrc/conv/winograd_ref.cpp",
      "v[4 * vs] = e - 0.5f * f;",
      "v[4 * vs] = e + 0.5f * f;",
      [WINO], "portable Winograd input transform B^T: a sign flipped"),
    M("winograd-avx512-output-transform", "csrc/conv/winograd_avx512.cpp",
      "_mm512_set1_ps(0.125f)",
      "_mm512_set1_ps(0.25f)",
      [WINO, INF], "AVX-512 Winograd output transform A^T: a coefficient wrong"),
    M("gemv-avx512-k-block-accumulation", "csrc/linear/gemv_store_avx512.h",
      "__m512 v = first ? acc[i][q] : _mm512_add_ps(_mm512_maskz_loadu_ps(mk, yi), acc[i][q]);",
      "__m512 v = acc[i][q];",
      [PLIN, INF], "AVX-512 GEMV keeps only the last K block's sum"),
    M("gemv-ref-k-block-accumulation", "csrc/linear/gemv_ref.cpp",
      "tot[i][j] = pc == 0 ? acc[i][j] : tot[i][j] + acc[i][j];",
      "tot[i][j] = acc[i][j];",
      [PLIN], "portable GEMV keeps only the last K block's sum"),
    M("packed-linear-row-block-offset", "csrc/linear/packed_linear.cpp",
      "static_cast<const float*>(args.x) + i0 * args.ldx)",
      "static_cast<const float*>(args.x) + i0)",
      [PLIN, INF], "PackedLinear 12x32 direct path: row blocks after the first read the wrong rows"),
    M("bf16-round-ties-away", "csrc/common/bf16.cpp",
      "(b + 0x7FFFu + ((b >> 16) & 1u)) >> 16",
      "(b + 0x8000u) >> 16",
      [PLIN, INF], "bfloat16 rounding ties away from zero instead of to even", k="bf16"),
    M("pool-last-chunk-dropped", "csrc/common/threading.cpp",
      "      if (lo >= hi) return -1;",
      "      if (lo + 1 >= hi) return -1;",
      [INF, "tests/test_threads.py"], "the serving pool never runs the last chunk of a thread's run"),
    M("pool-no-stealing", "csrc/common/threading.cpp",
      "    for (int i = 0; i < team; ++i) {\n      const int h = (home + i) % team;",
      "    for (int i = 0; i < 1; ++i) {\n      const int h = (home + i) % team;",
      [INF, INFG], "a thread runs only its own chunks: a worker that joins late leaves its chunks undone"),
    M("direct-panels-band-rows", "csrc/conv/direct_panels.cpp",
      "row1 = band_begin(s.oh, band + 1, bands);",
      "row1 = band_begin(s.oh, band + 1, bands) - (band + 1 < bands);",
      [INFG], "a band of rows at batch 1 stops a row short of the next band"),
    M("strided-gather-column-stride", "csrc/conv/strided_gather.cpp",
      "gp[oy * s.ow + ox] = xp[oy * s.sh * s.w + ox * s.sw];",
      "gp[oy * s.ow + ox] = xp[oy * s.sh * s.w + ox * s.sh];",
      [INFG], "a strided 1x1 layer gathers its columns with the row stride"),
    M("winograd-band-tiles", "csrc/conv/winograd.cpp",
      "const int64_t t1 = bands > 1 ? b0 + len * (j + 1) / band_blocks : std::min(total, t0 + tb);",
      "const int64_t t1 = bands > 1 ? b0 + len * (j + 1) / band_blocks - (j == 0) : std::min(total, t0 + tb);",
      [WINO, INF], "at batch 1 the first block of each band of tiles leaves out its last tile"),
    # ---------------------------------------------------------------- serving, Python side
    M("inference-bn-fold-eps", "pyconvnet/inference.py",
      "np.sqrt(bn.running_var.astype(np.float64) + bn.eps)",
      "np.sqrt(bn.running_var.astype(np.float64) + 1e-5)",
      [INF], "BatchNorm2d folded into the convolution with 1e-5 instead of its eps"),
    M("inference-bn-affine-eps", "pyconvnet/inference.py",
      "np.sqrt(layer.running_var.astype(np.float64) + layer.eps)",
      "np.sqrt(layer.running_var.astype(np.float64) + 1e-5)",
      [INF], "a BatchNorm2d not after a convolution served with 1e-5 instead of its eps"),
    M("inference-conv-activation-dropped", "pyconvnet/inference.py",
      "groups=layer.groups, act=act))",
      "groups=layer.groups, act=None))",
      [INF], "the activation after a Conv2d is fused away (consumed, never applied)"),
    M("inference-linear-activation-dropped", "pyconvnet/inference.py",
      'entries.append(_Entry("linear", names, refs, n_in + last, packed=packed, act=act,',
      'entries.append(_Entry("linear", names, refs, n_in + last, packed=packed, act=None,',
      [INF], "the activation after a Linear is fused away (consumed, never applied)"),
    # ---------------------------------------------------------------- a header: 26 files recompile
    M("parallel-for-static-part-gap", "csrc/common/threading.h",
      "const int64_t lo = units * t / parts, hi = units * (t + 1) / parts;",
      "const int64_t lo = (units * t + parts - 1) / parts, hi = units * (t + 1) / parts;",
      ["tests/test_threads.py", INF, GEMM], "parallel_for's static chunks leave a gap when "
      "the units do not divide evenly",
      k="thread or identical"),
]


# ------------------------------------------------------------------------------ mechanics


def repo_root() -> Path:
    here = Path(__file__).resolve().parent
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip())


SCRATCH_KEEP = {"__pycache__", ".hypothesis", ".pytest_cache"}


def sync_tree(root: Path, tree: Path) -> None:
    """Make `tree` a copy of the working tree (tracked and untracked, not ignored, files).

    Only files whose bytes differ are written, with a fresh mtime, so the scratch build
    recompiles exactly what changed since the last run (including a file a killed run left
    mutated)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, check=True, capture_output=True)
    wanted = set()
    for rel in out.stdout.decode().split("\0"):
        if not rel:
            continue
        src = root / rel
        if not src.is_file():  # deleted but still in the index
            continue
        wanted.add(rel)
        dst = tree / rel
        data = src.read_bytes()
        if dst.is_file() and not dst.is_symlink() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink():
            dst.unlink()
        dst.write_bytes(data)
        shutil.copymode(src, dst)
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d not in SCRATCH_KEEP]
        for f in filenames:
            rel = os.path.relpath(os.path.join(dirpath, f), tree)
            if rel in wanted or (rel.startswith("pyconvnet" + os.sep) and f.endswith(".so")):
                continue
            os.unlink(os.path.join(dirpath, f))


def build(tree: Path, bdir: Path) -> tuple[bool, str]:
    """Configure (once) and build `_C` from `tree` in `bdir`; copy it into tree/pyconvnet/."""
    if not (bdir / "CMakeCache.txt").is_file():
        import pybind11  # noqa: F401  (only to find its CMake files, as tools/devbuild.sh does)

        bdir.mkdir(parents=True, exist_ok=True)
        cfg = ["cmake", "-S", str(tree), "-B", str(bdir), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
               "-DSKBUILD_PROJECT_NAME=pyconvnet", "-DSKBUILD_PROJECT_VERSION=0.1.0",
               f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", f"-DPython_EXECUTABLE={sys.executable}",
               # pybind11 would link the module with LTO: seconds per mutation, same kernels
               "-DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF"]
        r = subprocess.run(cfg, capture_output=True, text=True)
        if r.returncode:
            return False, r.stdout + r.stderr
    r = subprocess.run(["cmake", "--build", str(bdir), "-j", str(os.cpu_count() or 2)],
                       capture_output=True, text=True)
    if r.returncode:
        return False, r.stdout + r.stderr
    (so,) = bdir.glob("_C*.so")
    tmp = tree / "pyconvnet" / ".tmp_mutation.so"
    shutil.copyfile(so, tmp)
    os.replace(tmp, tree / "pyconvnet" / so.name)
    return True, ""


@dataclass
class TestRun:
    code: int | None  # pytest's exit status; None: timed out; negative: killed by a signal
    failed: int
    total: int
    seconds: float
    first_failures: list


def run_tests(tree: Path, shim: Path, tests, k, timeout: float) -> TestRun:
    with tempfile.TemporaryDirectory(prefix="mutation-junit-") as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider",
               f"--junitxml={xml}"]
        if k:
            cmd += ["-k", k]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(shim)  # torch hidden; `-m` puts the scratch tree first
        env.pop("PYCONVNET_ISA", None)  # the default tier, as in CI
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        except BaseException:  # Ctrl-C: the child is in its own session, stop it too
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        seconds = time.monotonic() - t0
        failed = total = 0
        firsts = []
        if xml.is_file():
            for case in ET.parse(xml).getroot().iter("testcase"):
                total += 1
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                    if len(firsts) < 3:
                        firsts.append(f"{case.get('classname')}::{case.get('name')}")
        return TestRun(code, failed, total, seconds, firsts)


@dataclass
class Result:
    mutation: Mutation
    status: str  # CAUGHT, SURVIVED, STALE, NO-BUILD, ERROR
    detail: str
    seconds: float


def judge(m: Mutation, run: TestRun, build_s: float) -> Result:
    t = build_s + run.seconds
    if run.code is None:
        return Result(m, "CAUGHT", f"timed out after {run.seconds:.0f} s", t)
    if run.code < 0:
        return Result(m, "CAUGHT", f"crashed (signal {-run.code})", t)
    if run.code == 0:
        return Result(m, "SURVIVED", f"0 failed of {run.total}", t)
    if run.code == 1 and run.failed:
        return Result(m, "CAUGHT", f"{run.failed} failed of {run.total}", t)
    if run.failed:  # e.g. a crash during collection of one file
        return Result(m, "CAUGHT", f"{run.failed} failed of {run.total} (pytest exit {run.code})", t)
    return Result(m, "ERROR", f"pytest exit {run.code}, no test failed (bad selection?)", t)


@contextlib.contextmanager
def scratch_lock(scratch: Path):
    import fcntl

    scratch.mkdir(parents=True, exist_ok=True)
    with open(scratch / "lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"another mutation check is running on {scratch} (use --scratch DIR)")
        yield


def occurrences(tree: Path, m: Mutation) -> int:
    p = tree / m.path
    return p.read_text().count(m.old) if p.is_file() else 0


def select(names) -> list:
    if not names:
        return list(MUTATIONS)
    chosen = []
    for pat in names:
        hits = [m for m in MUTATIONS if fnmatch.fnmatchcase(m.name, pat)]
        if not hits:
            sys.exit(f"no mutation named {pat!r} (see --list)")
        chosen += [m for m in hits if m not in chosen]
    return chosen


def print_list(root: Path) -> None:
    for m in MUTATIONS:
        n = occurrences(root, m)
        state = "ok" if n == 1 else f"STALE (snippet found {n} times)"
        sel = " ".join(m.tests) + (f" -k '{m.k}'" if m.k else "")
        print(f"{m.name}  [{state}]\n    {m.path}: {m.why}\n    tests: {sel}")


def table(results, total_s) -> str:
    w = max(len(r.mutation.name) for r in results)
    lines = [f"{'mutation':<{w}}  {'result':<8}  {'tests':<26}  time", "-" * (w + 48)]
    for r in results:
        lines.append(f"{r.mutation.name:<{w}}  {r.status:<8}  {r.detail:<26}  {r.seconds:5.0f} s")
    counts = {s: sum(r.status == s for r in results) for s in
              ("CAUGHT", "SURVIVED", "STALE", "NO-BUILD", "ERROR")}
    lines.append("-" * (w + 48))
    lines.append(", ".join(f"{v} {k.lower()}" for k, v in counts.items() if v) +
                 f"; {total_s / 60:.1f} min in all")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--list", action="store_true", help="list the mutations and whether each applies")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="run only these (shell patterns allowed)")
    ap.add_argument("--full", action="store_true", help="run the whole test suite for each mutation")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per test run before a mutation counts as caught by a hang")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the run of the selected tests on the unmutated tree (about 3 min "
                         "for every entry; without it a failure already there counts as CAUGHT)")
    ap.add_argument("--scratch", type=Path, help="scratch directory (default: build/mutation)")
    args = ap.parse_args(argv)

    root = repo_root()
    if args.list:
        print_list(root)
        return 0
    chosen = select(args.only)
    scratch = (args.scratch or root / "build" / "mutation").resolve()
    tree, bdir, shim = scratch / "tree", scratch / "cmake", scratch / "shim"
    t_start = time.monotonic()
    with scratch_lock(scratch):
        shim.mkdir(parents=True, exist_ok=True)
        # None in sys.modules: `import torch` raises ModuleNotFoundError and find_spec("torch")
        # is None, as when torch is not installed (a torch.py raising on import would still be
        # found, and tests probing with find_spec would think torch installed). The subprocesses
        # tests start inherit PYTHONPATH, so torch is hidden there too.
        (shim / "torch.py").unlink(missing_ok=True)
        (shim / "sitecustomize.py").write_text(
            "import sys\nsys.modules['torch'] = None  # hidden by tools/mutation_check.py\n")
        print(f"syncing the working tree into {tree} ...", flush=True)
        sync_tree(root, tree)
        results, live = [], []
        for m in chosen:
            n = occurrences(tree, m)
            if n != 1:
                results.append(Result(m, "STALE", f"snippet found {n} times", 0.0))
            else:
                live.append(m)
        # Python edits first (on the unmutated _C), then C++ grouped by file (fewer rebuilds).
        live.sort(key=lambda m: (m.native, m.path if m.native else ""))
        print("building _C (unmutated) ...", flush=True)
        t0 = time.monotonic()
        ok, log = build(tree, bdir)
        if not ok:
            print(log[-4000:])
            print("the unmutated tree does not build")
            return 2
        print(f"  {time.monotonic() - t0:.0f} s", flush=True)
        base_tests = list(FULL) if args.full else sorted({t for m in live for t in m.tests})
        if live and not args.no_baseline:
            print(f"baseline: {' '.join(base_tests)} ...", flush=True)
            base = run_tests(tree, shim, base_tests, None, args.timeout)
            print(f"  {base.total - base.failed} passed, {base.failed} failed, {base.seconds:.0f} s",
                  flush=True)
            if base.code != 0:
                print("the unmutated tree fails these tests (first: "
                      f"{', '.join(base.first_failures) or 'see pytest'}); fix that first")
                return 2
        built_clean = True
        for i, m in enumerate(live, 1):
            path = tree / m.path
            original = path.read_text()
            label = f"[{i:2}/{len(live)}] {m.name}"
            print(f"{label} ...", end=" ", flush=True)
            try:
                build_s = 0.0
                if m.native or not built_clean:
                    # a C++ edit needs its own _C; a Python edit the unmutated one
                    if m.native:
                        path.write_text(original.replace(m.old, m.new))
                    t0 = time.monotonic()
                    ok, log = build(tree, bdir)
                    build_s = time.monotonic() - t0
                    built_clean = not m.native
                    if not ok:
                        results.append(Result(m, "NO-BUILD", "the mutated code does not compile", build_s))
                        print("NO-BUILD", flush=True)
                        continue
                path.write_text(original.replace(m.old, m.new))
                tests = list(FULL) if args.full else list(m.tests)
                run = run_tests(tree, shim, tests, None if args.full else m.k, args.timeout)
                r = judge(m, run, build_s)
                results.append(r)
                extra = f"  e.g. {run.first_failures[0]}" if run.first_failures else ""
                print(f"{r.status} ({r.detail}, build {build_s:.0f} s + tests {run.seconds:.0f} s){extra}",
                      flush=True)
            finally:
                path.write_text(original)
        print()
        print(table(results, time.monotonic() - t_start))
    statuses = {r.status for r in results}
    if "SURVIVED" in statuses:
        return 1
    return 0 if statuses <= {"CAUGHT"} else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted (the working tree was never touched; the scratch copy is restored)")
        sys.exit(130)
