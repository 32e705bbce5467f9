"""The convolution plan (csrc/conv/conv_plan.cpp): one rule table decides every pass; the docs
show that table as the code prints it; serving runs what the plan says; each rule picks what
its words say on shapes chosen for it."""

import importlib.util
import pathlib

import numpy as np
import pytest

from pyconvnet import _C
from pyconvnet.inference import InferenceModel
from pyconvnet.layers import Conv2d
from pyconvnet.model import Sequential

ROOT = pathlib.Path(__file__).resolve().parent.parent
PASSES = ("forward", "serve_fp32", "serve_bf16", "grad_input", "grad_weight")


def _tool():
    spec = importlib.util.spec_from_file_location("conv_plan_table", ROOT / "tools" / "conv_plan_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_show_the_table_the_code_prints():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert _tool().documented(text) == _C.conv_plan_table(), (
        "docs/ARCHITECTURE.md is out of date: run python tools/conv_plan_table.py --write")


def test_table_lists_every_pass_with_an_otherwise():
    rows = [r.split(" | ") for r in _C.conv_plan_table().splitlines()[2:]]
    for p in PASSES:
        mine = [r for r in rows if r[0] == f"| {p}"]
        assert mine and mine[-1][2] == "otherwise", p


def _algo(x, w, stride=1, pad=(0, 0, 0, 0), dil=1, groups=1, pass_="forward"):
    return _C.conv_algorithm(x, w, stride, pad, dil, groups, pass_)


@pytest.mark.parametrize("x,w,kw,pass_,want", [
    ((1, 8, 16, 16), (8, 1, 3, 3), {"groups": 8}, "forward", "depthwise"),
    ((1, 8, 16, 16), (16, 1, 3, 3), {"groups": 8}, "grad_input", "depthwise"),
    ((1, 8, 16, 16), (16, 1, 3, 3), {"groups": 8}, "grad_weight", "depthwise"),
    ((1, 8, 16, 16), (32, 8, 3, 3), {}, "forward", "direct"),
    ((1, 64, 8, 8), (64, 64, 1, 1), {}, "forward", "pointwise_gemm"),
    ((1, 64, 8, 8), (64, 64, 1, 1), {}, "grad_input", "pointwise_gemm"),
    ((1, 64, 8, 8), (64, 64, 1, 1), {}, "grad_weight", "pointwise_gemm"),
    ((1, 32, 8, 8), (32, 32, 3, 3), {"pad": (1, 1, 1, 1)}, "grad_input", "transposed_conv"),
    ((1, 32, 9, 9), (32, 32, 3, 3), {"stride": 2}, "grad_input", "col2im_gemm"),
    ((1, 3, 9, 9), (8, 3, 3, 3), {}, "grad_input", "col2im_gemm"),
    ((1, 32, 8, 8), (8, 32, 3, 3), {}, "grad_weight", "hwc_in_place"),
    ((1, 24, 8, 8), (8, 24, 3, 3), {}, "grad_weight", "hwc_gemm"),
    ((1, 3, 8, 8), (8, 3, 3, 3), {}, "grad_weight", "im2col_gemm"),
])
def test_rules_pick_what_they_say(isa, x, w, kw, pass_, want):
    assert _algo(x, w, pass_=pass_, **kw) == want


def test_tier_dependent_rules(isa):
    # 3 -> 8 channels, 5x5: no direct (4+ inputs, 16+ outputs); stride 1 along x
    got = _algo((1, 3, 12, 12), (8, 3, 5, 5))
    assert got == ("im2col_in_place" if isa == "avx512" else "im2col_gemm")
    # a 3x3 layer where Winograd pays on the vector tiers (tests/test_winograd.py holds the rule's cases)
    serve = _algo((1, 64, 16, 16), (64, 64, 3, 3), pad=(1, 1, 1, 1), pass_="serve_fp32")
    assert serve == ("direct" if isa == "ref" else "winograd")
    assert _algo((1, 64, 16, 16), (64, 64, 3, 3), pad=(1, 1, 1, 1)) == "direct"


@pytest.mark.parametrize("c,oc,size,want", [
    (512, 512, 7, "winograd_f2"), (256, 256, 7, "winograd_f2"), (128, 136, 10, "winograd_f2"),
    (130, 128, 4, "winograd_f2"),
    (256, 256, 14, "winograd"),  # F(4x4, 3x3) fills its vectors on 14x14
    (126, 256, 7, None),  # under 128 channels
    (512, 512, 3, None),  # under 16 outputs per channel
])
def test_winograd_f2_serves_small_maps_at_batches_of_1_and_2(isa, c, oc, size, want):
    """The serving rule for F(2x2, 3x3) (conv_plan.cpp): 128+ channels, maps where its 2x2
    tiles take fewer GEMM vectors than F(4x4, 3x3)'s 4x4 tiles, vector tiers, batches 1-2; a
    batch of 3 takes the next rule, as the training forward pass does at any batch."""
    x = lambda n: (n, c, size, size)  # noqa: E731
    pad = (1, 1, 1, 1)
    small = [_algo(x(n), (oc, c, 3, 3), pad=pad, pass_="serve_fp32") for n in (1, 2)]
    beyond = _algo(x(3), (oc, c, 3, 3), pad=pad, pass_="serve_fp32")
    assert small[0] == small[1]
    assert beyond != "winograd_f2"
    if isa == "ref":
        assert "winograd" not in small[0]
    elif want == "winograd_f2":
        assert small[0] == "winograd_f2"
    elif want is not None:
        assert small[0] == want
    else:
        assert small[0] != "winograd_f2"
    assert _algo(x(1), (oc, c, 3, 3), pad=pad) == "direct"  # training: never Winograd
    # strided, dilated, grouped or with padding as wide as the kernel: not Winograd
    assert _algo(x(1), (oc, c, 3, 3), stride=2, pad=pad, pass_="serve_fp32") != "winograd_f2"
    assert _algo(x(1), (oc, c, 3, 3), pad=(3, 3, 3, 3), pass_="serve_fp32") != "winograd_f2"
    assert _algo(x(1), (oc, c // 2, 3, 3), pad=pad, groups=2, pass_="serve_fp32") != "winograd_f2"
    assert _algo(x(1), (oc, c, 3, 3), pad=(2, 2, 2, 2), dil=2, pass_="serve_fp32") != "winograd_f2"


def test_bad_pass_and_shape_are_value_errors():
    with pytest.raises(ValueError, match="pass must be one of"):
        _algo((1, 3, 8, 8), (8, 3, 3, 3), pass_="backward")
    with pytest.raises(ValueError, match="kernel larger than the input"):
        _algo((1, 3, 2, 2), (8, 3, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        _algo((1, 3, 8, 8), (8, 3, 3, 3), groups=2**63)


@pytest.mark.parametrize("cin,cout,k,size,stride,groups", [
    (3, 8, 3, 12, 1, 1), (16, 32, 3, 10, 1, 1), (64, 64, 3, 16, 1, 1), (32, 32, 1, 8, 1, 1),
    (8, 8, 3, 9, 1, 8), (8, 32, 5, 14, 2, 1),
])
def test_serving_runs_the_plans_choice(isa, cin, cout, k, size, stride, groups):
    layer = Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups)
    model = Sequential([layer], input_shape=(cin, size, size))
    model.eval()
    summary = InferenceModel(model).summary()
    p = k // 2
    want = _algo((1, cin, size, size), (cout, cin // groups, k, k), stride, (p, p, p, p), 1, groups, "serve_fp32")
    assert f"conv {want} " in summary, summary


def test_forced_algorithm_names_are_the_plans():
    """Every name the serving summary can print is an algorithm of the table."""
    names = {r.split(" | ")[1] for r in _C.conv_plan_table().splitlines()[2:]} - {"as forward"}
    rng = np.random.default_rng(0)
    layer = Conv2d(4, 16, 3, padding=1)
    model = Sequential([layer], input_shape=(4, 8, 8))
    model.eval()
    im = InferenceModel(model)
    im.predict(rng.standard_normal((2, 4, 8, 8)).astype(np.float32))
    line = next(line for line in im.summary().splitlines() if "Conv2d" in line)
    assert any(f"conv {n} " in line for n in names), line
