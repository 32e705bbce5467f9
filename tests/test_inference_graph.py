"""InferenceModel on graph Models (pyconvnet.Model): residual, concatenation and product
merges, several inputs and outputs, fusions across the graph, and the serving runtime's
activation slots.

Oracles: a float64 NumPy forward pass written here (no pyconvnet kernels) for small residual
and concatenation graphs, Model.predict for the rest (1e-4 of the output scale, the serving
contract), torch where installed for a residual block with a strided projection."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import pyconvnet
from pyconvnet import InferenceModel, Input, Model, _C, init
from pyconvnet.layers import (
    Add, BatchNorm2d, Concat, Conv2d, Dropout, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, Multiply,
    ReLU, Sigmoid, Softmax, ConvTranspose2d, Upsample,
)

from conftest import call_from_threads, same_for_thread_counts


def assert_close_to(got, want, tol=1e-4):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1e-6)
    err = float(np.abs(got - want).max()) / scale
    assert err <= tol, f"max error {err:.2e} of the output scale {scale:.3g}"


def _bn(c, rng):
    b = BatchNorm2d(c)
    b.running_mean[...] = rng.uniform(-0.3, 0.3, c)
    b.running_var[...] = rng.uniform(0.5, 1.5, c)
    b.weight.data[...] = rng.uniform(0.5, 1.5, c)
    b.bias.data[...] = rng.uniform(-0.3, 0.3, c)
    return b


# ------------------------------------------------------------------ float64 oracle
def _conv64(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, oc, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y if b is None else y + b[None, :, None, None]


def _bn64(x, bn):
    inv = bn.weight.data.astype(np.float64) / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    return (x - bn.running_mean[None, :, None, None]) * inv[None, :, None, None] + bn.bias.data[None, :, None, None]


def _resnet_graph(seed, c=8, width=16, hw=12):
    """Stem conv+bn+relu+maxpool, an identity residual block and a strided one with a 1x1
    projection, global pool, linear; plus the float64 forward of the same weights."""
    init.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = Input((c, hw, hw))
    stem, bn0 = Conv2d(c, width, 3, padding=1), _bn(width, rng)
    a1, ba1, a2, ba2 = Conv2d(width, width, 3, padding=1, bias=False), _bn(width, rng), \
        Conv2d(width, width, 3, padding=1, bias=False), _bn(width, rng)
    b1, bb1, b2, bb2 = Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), _bn(2 * width, rng), \
        Conv2d(2 * width, 2 * width, 1, bias=False), _bn(2 * width, rng)
    proj, bproj = Conv2d(width, 2 * width, 1, stride=2, bias=False), _bn(2 * width, rng)
    fc = Linear(2 * width, 10)
    h = MaxPool2d(2)(ReLU()(bn0(stem(x))))
    h = ReLU()(Add()([ba2(a2(ReLU()(ba1(a1(h))))), h]))
    h = ReLU()(Add()([bb2(b2(ReLU()(bb1(b1(h))))), bproj(proj(h))]))
    out = fc(Flatten()(GlobalAvgPool2d()(h)))
    model = Model(x, out)

    def forward64(xx):
        def conv(layer, v):
            b = None if layer.bias is None else layer.bias.data.astype(np.float64)
            return _conv64(v, layer.weight.data.astype(np.float64), b, layer.stride[0], layer.padding[0])

        relu = lambda v: np.maximum(v, 0)  # noqa: E731
        v = relu(_bn64(conv(stem, xx.astype(np.float64)), bn0))
        n, ch, hh, ww = v.shape
        v = v.reshape(n, ch, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
        v = relu(_bn64(conv(a2, relu(_bn64(conv(a1, v), ba1))), ba2) + v)
        v = relu(_bn64(conv(b2, relu(_bn64(conv(b1, v), bb1))), bb2) + _bn64(conv(proj, v), bproj))
        v = v.mean(axis=(2, 3))
        return v @ fc.weight.data.astype(np.float64).T + fc.bias.data

    return model, forward64


def _inputs(shape, n, seed):
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype(np.float32)


# ------------------------------------------------------------------ residual graphs
@pytest.mark.parametrize("batch", [1, 5])
def test_residual_graph_matches_a_float64_forward(isa, batch):
    model, forward64 = _resnet_graph(1)
    x = _inputs((8, 12, 12), batch, 2)
    im = InferenceModel(model)
    assert_close_to(im.predict(x), forward64(x))
    assert_close_to(im.predict(x), model.predict(x))


def test_residual_adds_are_fused_into_the_convolutions():
    model, _ = _resnet_graph(3, hw=40)  # 10x10 maps in the last block: 1x1 layers run GEMMs
    text = InferenceModel(model).summary()
    # the identity block's add after a 3x3 conv, the projection block's in a 1x1 GEMM epilogue
    assert "Conv2d + BatchNorm2d + Add + ReLU" in text
    assert "add (in the epilogue) + relu" in text
    assert "(1x1: strided gather, then pointwise)" in text  # the 1x1 stride-2 projection
    assert "\nAdd" not in text  # no add left as a step of its own


def test_residual_network_needs_few_activation_slots():
    """Slots are reused once their last reader ran: a chain of any length needs two, and the
    residual graph at most three (the block input stays alive beside the branch)."""
    model, _ = _resnet_graph(4)
    im = InferenceModel(model)
    (net,) = [obj for kind, obj, _, _ in im._compile(((8, 12, 12),)).segments if kind == "native"]
    im.predict(_inputs((8, 12, 12), 1, 0))
    largest = 16 * 12 * 12  # the stem's output per sample
    assert net.arena_floats <= 3 * largest
    chain = pyconvnet.Sequential([Conv2d(3, 8, 3, padding=1), ReLU(), Conv2d(8, 8, 3, padding=1), ReLU(),
                                  Conv2d(8, 8, 3, padding=1), ReLU(), Conv2d(8, 4, 3, padding=1)],
                                 input_shape=(3, 10, 10))
    cim = InferenceModel(chain)
    cim.predict(_inputs((3, 10, 10), 2, 0))
    (cnet,) = [obj for kind, obj, _, _ in cim._compile(((3, 10, 10),)).segments]
    assert cnet.arena_floats <= 2 * 8 * 10 * 10


def test_an_operand_read_twice_is_not_overwritten_by_the_fused_add():
    """conv(x) feeds both an Add and another layer: the add must not be folded into the
    convolution (the other reader needs the convolution's own output)."""
    init.manual_seed(5)
    x = Input((4, 7, 7))
    c = Conv2d(4, 4, 1)(x)  # a 1x1 layer: the accumulating (fusable) kind
    s = Add()([c, x])
    t = Conv2d(4, 4, 3, padding=1)(c)
    out = Add()([s, t])
    model = Model(x, [out, c])
    xx = _inputs((4, 7, 7), 3, 5)
    got, want = InferenceModel(model).predict(xx), model.predict(xx)
    for g, w in zip(got, want):
        assert_close_to(g, w)


def test_in_place_steps_leave_a_value_read_later_intact(isa):
    """ReLU and BatchNorm2d on a convolution's output run in place only where they read a value
    for the last time: here the convolution after them still needs the value unchanged."""
    init.manual_seed(6)
    rng = np.random.default_rng(6)
    x = Input((4, 7, 7))
    conv, bn, after = Conv2d(4, 6, 3, padding=1), _bn(6, rng), Conv2d(6, 5, 3, padding=1)
    c = conv(x)
    out = Concat(axis=1)([ReLU()(c), bn(c), after(c)])
    model = Model(x, out)
    xx = _inputs((4, 7, 7), 3, 6)
    c64 = _conv64(xx.astype(np.float64), conv.weight.data.astype(np.float64), conv.bias.data, 1, 1)
    want = np.concatenate([np.maximum(c64, 0), _bn64(c64, bn),
                           _conv64(c64, after.weight.data.astype(np.float64), after.bias.data, 1, 1)], axis=1)
    assert_close_to(InferenceModel(model).predict(xx), want)


def _conv_plus_skip(c, oc, k, stride, hw, batch, seed, residual_into_conv=False):
    """relu(conv(x) + skip(x)): a k x k convolution (padding k // 2) and a 1x1 skip without bias,
    both with `stride`. The add fuses into the step built last: the skip, or with
    residual_into_conv the k x k convolution. Returns the model, an input batch and the float64
    result."""
    init.manual_seed(seed)
    x = Input((c, hw, hw))
    if residual_into_conv:
        skip, conv = Conv2d(c, oc, 1, stride=stride, bias=False), Conv2d(c, oc, k, stride=stride, padding=k // 2)
        s = skip(x)
        out = Add()([s, conv(x)])
    else:
        conv, skip = Conv2d(c, oc, k, stride=stride, padding=k // 2), Conv2d(c, oc, 1, stride=stride, bias=False)
        out = Add()([conv(x), skip(x)])
    xx = _inputs((c, hw, hw), batch, seed)
    x64 = xx.astype(np.float64)
    want = np.maximum(_conv64(x64, conv.weight.data.astype(np.float64), conv.bias.data, stride, k // 2)
                      + _conv64(x64, skip.weight.data.astype(np.float64), None, stride, 0), 0)
    return Model(x, ReLU()(out)), xx, want


@pytest.mark.parametrize("c,oc,stride,hw,batch", [(33, 24, 1, 15, 1), (33, 200, 1, 16, 1), (33, 200, 2, 19, 3),
                                                 (33, 40, 3, 28, 2), (33, 200, 2, 13, 3), (33, 200, 1, 12, 1),
                                                 (160, 48, 1, 16, 1), (160, 48, 1, 16, 3), (160, 48, 2, 30, 1),
                                                 (160, 48, 2, 30, 2), (160, 48, 2, 20, 2), (300, 24, 1, 20, 1),
                                                 (33, 40, 1, 2, 1)])
def test_pointwise_convolutions_with_residual_against_float64(c, oc, stride, hw, batch):
    """1x1 layers with a residual added inside their kernel, on every path a 1x1 layer takes:
    the GEMM (its epilogue; strided ones gathered first; many output channels split across
    threads at batch 1) and the direct kernels by channel panels (small maps; larger ones with
    128+ input channels at batch 1, the GEMM above; at batch 1 those whose activations
    outweigh their weights split by bands of rows, with sums over 256 input channels in blocks),
    against float64."""
    model, xx, want = _conv_plus_skip(c, oc, 1, stride, hw, batch, 6)
    im = InferenceModel(model)
    assert_close_to(im.predict(xx), want)
    same_for_thread_counts(lambda: im.predict(xx), (1, 2, 3))
    assert "add (in the epilogue)" in im.summary()
    if _C.isa() == "avx512" and c >= 128 and want.shape[2] * want.shape[3] > (64 if stride > 1 else 196):
        assert "(channel panels) up to batch 1, " in im.summary()


@pytest.mark.parametrize("c,oc,stride,hw,batch", [(160, 48, (2, 3), (17, 40), 1), (300, 40, (3, 2), (30, 21), 1),
                                                 (160, 48, (1, 2), (6, 20), 2), (64, 200, (2, 1), (21, 11), 1)])
def test_strided_pointwise_with_unequal_strides_against_float64(c, oc, stride, hw, batch):
    """Strided 1x1 layers with short output rows gather every sh-th row and sw-th column
    before the direct kernels run over the gathered map (in bands of rows at batch 1)."""
    init.manual_seed(31)
    x = Input((c,) + hw)
    conv = Conv2d(c, oc, 1, stride=stride)
    model = Model(x, ReLU()(conv(x)))
    xx = _inputs((c,) + hw, batch, 31)
    sh, sw = stride
    w = conv.weight.data[:, :, 0, 0].astype(np.float64)
    want = np.einsum("nchw,oc->nohw", xx.astype(np.float64)[:, :, ::sh, ::sw], w)
    want = np.maximum(want + conv.bias.data[None, :, None, None], 0)
    im = InferenceModel(model)
    assert_close_to(im.predict(xx), want)
    same_for_thread_counts(lambda: im.predict(xx), (1, 2, 3))


@pytest.mark.parametrize("c,oc,k,stride,hw,batch", [(256, 40, 3, 1, 7, 3), (256, 40, 3, 2, 14, 1),
                                                    (1024, 136, 1, 1, 8, 2), (300, 24, 5, 1, 9, 2)])
def test_small_maps_split_by_channel_panels_against_float64(isa, c, oc, k, stride, hw, batch):
    """Maps of up to 14x14 outputs with 512 KB of weights or more run the direct kernels split
    by output-channel panels (a partial last panel for 40, 136 and 24 channels), with a
    residual added after."""
    model, xx, want = _conv_plus_skip(c, oc, k, stride, hw, batch, 21)
    im = InferenceModel(model)
    assert_close_to(im.predict(xx), want)
    same_for_thread_counts(lambda: im.predict(xx), (1, 2, 3))
    if isa == "avx512":
        assert "(channel panels)" in im.summary()


@pytest.mark.parametrize("c,oc,k,stride,hw,batch", [(256, 40, 3, 1, 7, 3), (256, 40, 3, 2, 14, 1),
                                                    (1024, 136, 1, 1, 8, 2), (300, 24, 5, 1, 9, 2),
                                                    (120, 280, 3, 1, 5, 1), (2048, 64, 1, 2, 13, 1)])
def test_residual_added_inside_channel_panel_convolutions_against_float64(isa, c, oc, k, stride, hw, batch):
    """The residual goes into the channel-panel convolution that is built last (the add fuses
    into the step before it): the micro-kernels add it after the bias and before the ReLU,
    in place in the output (whole panels) or through their tile (a partial panel, edge
    columns). (120 -> 280 3x3 on 5x5: with 128 input channels serving would run Winograd
    F(2x2, 3x3) at batches 1-2, test_residual_after_a_winograd_f2_convolution_against_float64.)"""
    model, xx, want = _conv_plus_skip(c, oc, k, stride, hw, batch, 22, residual_into_conv=True)
    im = InferenceModel(model)
    assert_close_to(im.predict(xx), want)
    same_for_thread_counts(lambda: im.predict(xx), (1, 2, 3))
    last = im.summary().splitlines()[4]
    assert last.startswith("Conv2d + Add + ReLU")
    if "(channel panels)" in last:
        assert "add (in the epilogue)" in last
    if isa == "avx512":
        assert "(channel panels)" in last


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_residual_after_a_winograd_f2_convolution_against_float64(isa, batch):
    """A 3x3 128 -> 136 layer on 7x7 that takes the residual: Winograd F(2x2, 3x3) at batches
    1-2 on the vector tiers, which cannot add it in its kernels, so the step adds it after the
    convolution (and the direct path's kernels do at batch 3)."""
    model, xx, want = _conv_plus_skip(128, 136, 3, 1, 7, batch, 23, residual_into_conv=True)
    im = InferenceModel(model)
    assert_close_to(im.predict(xx), want)
    same_for_thread_counts(lambda: im.predict(xx), (1, 2, 3))
    last = im.summary().splitlines()[4]
    assert last.startswith("Conv2d + Add + ReLU"), last
    assert ("winograd_f2" in last) == (isa != "ref"), last


# ------------------------------------------------------------------ concat, multiply
def test_inception_style_concat_matches_a_float64_forward(isa):
    init.manual_seed(7)
    x = Input((6, 9, 9))
    b1, b2, b3 = Conv2d(6, 5, 1), Conv2d(6, 7, 3, padding=1), Conv2d(6, 3, 5, padding=2)
    out = Concat(axis=1)([ReLU()(b1(x)), ReLU()(b2(x)), b3(x)])
    model = Model(x, out)
    xx = _inputs((6, 9, 9), 4, 7).astype(np.float32)
    x64 = xx.astype(np.float64)
    want = np.concatenate([
        np.maximum(_conv64(x64, b1.weight.data.astype(np.float64), b1.bias.data, 1, 0), 0),
        np.maximum(_conv64(x64, b2.weight.data.astype(np.float64), b2.bias.data, 1, 1), 0),
        _conv64(x64, b3.weight.data.astype(np.float64), b3.bias.data, 1, 2)], axis=1)
    assert_close_to(InferenceModel(model).predict(xx), want)


def test_gating_multiply_and_vector_concat_match_model_predict():
    init.manual_seed(8)
    x = Input((6, 8, 8))
    f = ReLU()(Conv2d(6, 8, 3, padding=1)(x))
    gate = Sigmoid()(Conv2d(6, 8, 1)(x))
    g = Multiply()([f, gate])
    v1 = Flatten()(GlobalAvgPool2d()(g))
    v2 = Linear(6 * 8 * 8, 5)(Flatten()(x))
    out = Softmax()(Linear(13, 4)(Concat()([v1, v2])))
    model = Model(x, out)
    xx = _inputs((6, 8, 8), 3, 8)
    assert_close_to(InferenceModel(model).predict(xx), model.predict(xx))


def test_concat_along_rows_runs_the_layers_own_infer():
    """Concat along H has no native step: it runs in Python between two native segments."""
    init.manual_seed(9)
    x = Input((3, 5, 6))
    a, b = Conv2d(3, 4, 3, padding=1)(x), Conv2d(3, 4, 1)(x)
    out = Conv2d(4, 2, 3)(Concat(axis=2)([a, b]))
    model = Model(x, out)
    xx = _inputs((3, 5, 6), 2, 9)
    im = InferenceModel(model)
    assert_close_to(im.predict(xx), model.predict(xx))
    assert "python (layer.infer)" in im.summary()


# ------------------------------------------------------------------ several inputs and outputs
def _two_in_two_out(seed):
    init.manual_seed(seed)
    a, b = Input((4, 6, 6), name="image"), Input((4, 6, 6), name="mask")
    h = ReLU()(Conv2d(4, 8, 3, padding=1)(a))
    m = Conv2d(4, 8, 1)(b)
    s = Add()([h, m])
    feat = Flatten()(GlobalAvgPool2d()(s))
    logits = Linear(8, 3)(Dropout(0.5)(feat))
    return Model([a, b], [logits, s, a])


def test_several_inputs_and_outputs_return_a_list(isa):
    model = _two_in_two_out(10)
    xa, xb = _inputs((4, 6, 6), 3, 10), _inputs((4, 6, 6), 3, 11)
    im = InferenceModel(model)
    got, want = im.predict([xa, xb]), model.predict([xa, xb])
    assert isinstance(got, list) and len(got) == 3
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert_close_to(g, w)
    assert np.array_equal(got[2], xa)  # an input returned as an output is a copy of it
    # max_batch splits every input alike
    for g, w in zip(InferenceModel(model, max_batch=2).predict([xa, xb]), want):
        assert_close_to(g, w)


def test_input_errors_name_the_problem():
    model = _two_in_two_out(12)
    im = InferenceModel(model)
    xa = _inputs((4, 6, 6), 2, 0)
    with pytest.raises(ValueError, match="list of 2 arrays"):
        im.predict(xa)
    with pytest.raises(ValueError, match="same number of samples"):
        im.predict([xa, xa[:1]])
    with pytest.raises(ValueError, match=r"x\[1\] must have shape \(N, 4, 6, 6\)"):
        im.predict([xa, _inputs((5, 6, 6), 2, 0)])
    with pytest.raises(ValueError, match="at least one sample"):
        im.predict([xa[:0], xa[:0]])


def test_wrong_input_shapes_raise_value_error():
    """Inputs of another shape, or a size too small for the layers, are refused clearly."""
    init.manual_seed(13)
    x = Input((3, 8, 8))
    out = Add()([Conv2d(3, 4, 3)(x), Conv2d(3, 4, 3)(x)])
    im = InferenceModel(Model(x, out))
    with pytest.raises(ValueError, match="x must have shape"):
        im.predict(_inputs((4, 8, 8), 1, 0))
    with pytest.raises(ValueError, match="does not fit this model"):
        im.summary((3, 2, 2))


def test_runtime_rejects_bad_nodes_and_operands():
    net = _C.Network([[4, 5, 5], [4, 5, 6]], False)
    with pytest.raises(ValueError, match="equal shapes"):
        net.add_add([0, 1])
    with pytest.raises(ValueError, match="not a node"):
        net.add_add([0, 7])
    with pytest.raises(ValueError, match=r"equal \(H, W\)"):
        net.add_concat([0, 1])
    with pytest.raises(ValueError, match="at least 2"):
        net.add_multiply([0])
    with pytest.raises(ValueError, match="2 inputs"):
        net.run(np.zeros((1, 4, 5, 5), np.float32))


# ------------------------------------------------------------------ bf16, threads, pickling
def test_bf16_residual_graph_is_close(isa):
    model, forward64 = _resnet_graph(14)
    x = _inputs((8, 12, 12), 2, 14)
    got = InferenceModel(model, precision="bf16").predict(x)
    assert_close_to(got, forward64(x), tol=3e-2)
    assert not np.array_equal(got, InferenceModel(model).predict(x))  # really rounded


def test_graph_results_are_bit_identical_for_any_thread_count():
    model, _ = _resnet_graph(15, width=32, hw=16)
    x = _inputs((8, 16, 16), 3, 15)
    im = InferenceModel(model)
    same_for_thread_counts(lambda: im.predict(x), (1, 2, 3))


def test_many_python_threads_share_one_graph_model():
    model = _two_in_two_out(16)
    im = InferenceModel(model)
    rng = np.random.default_rng(16)
    work = [[(rng.standard_normal((1 + (t + r) % 5, 4, 6, 6)).astype(np.float32),
              rng.standard_normal((1 + (t + r) % 5, 4, 6, 6)).astype(np.float32)) for r in range(3)]
            for t in range(12)]
    got = call_from_threads(lambda pair: im.predict(list(pair)), work)
    fresh = InferenceModel(model)
    for t in range(12):
        for r in range(3):
            for g, w in zip(got[t][r], fresh.predict(list(work[t][r]))):
                assert g.tobytes() == w.tobytes(), f"thread {t} round {r}"


def test_pickled_graph_model_gives_the_same_bits():
    model = _two_in_two_out(17)
    im = InferenceModel(model)
    back = pickle.loads(pickle.dumps(im))
    xs = [_inputs((4, 6, 6), 2, 17), _inputs((4, 6, 6), 2, 18)]
    for g, w in zip(back.predict(xs), im.predict(xs)):
        assert g.tobytes() == w.tobytes()
    assert back.summary() == im.summary()


def test_weights_are_frozen_at_construction():
    model, _ = _resnet_graph(19)
    x = _inputs((8, 12, 12), 1, 19)
    im = InferenceModel(model)
    before = im.predict(x)
    for layer in model.layers:
        if isinstance(layer, Conv2d):
            layer.weight.data *= 2
    assert im.predict(x).tobytes() == before.tobytes()


def test_torch_residual_block_with_projection():
    torch = pytest.importorskip("torch")
    init.manual_seed(20)
    x = Input((16, 14, 14))
    c1, c2, p = Conv2d(16, 32, 3, stride=2, padding=1), Conv2d(32, 32, 3, padding=1), Conv2d(16, 32, 1, stride=2)
    model = Model(x, ReLU()(Add()([c2(ReLU()(c1(x))), p(x)])))
    xx = _inputs((16, 14, 14), 2, 20)
    tx = torch.from_numpy(xx)

    def tconv(layer, v, stride, pad):
        return torch.nn.functional.conv2d(v, torch.from_numpy(layer.weight.data), torch.from_numpy(layer.bias.data),
                                          stride=stride, padding=pad)

    want = torch.relu(tconv(c2, torch.relu(tconv(c1, tx, 2, 1)), 1, 1) + tconv(p, tx, 2, 0)).numpy()
    assert_close_to(InferenceModel(model).predict(xx), want)


def test_summary_rows_follow_the_model_order_with_identities_in_place():
    """Dropout rows stay where the layers are, also around a convolution and the pooling
    fused into it; a graph's summary names what each step reads."""
    init.manual_seed(22)
    chain = pyconvnet.Sequential([Conv2d(3, 8, 3), Dropout(0.5), MaxPool2d(2), Dropout(0.1), Flatten(),
                                  Linear(72, 4), Dropout(0.2)], input_shape=(3, 8, 8))
    lines = InferenceModel(chain).summary().splitlines()[3:-1]
    firsts = [line.split("  ")[0] for line in lines]
    assert firsts == ["Conv2d + MaxPool2d", "Dropout", "Dropout", "Flatten", "Linear", "Dropout"]
    assert "reads" not in InferenceModel(chain).summary()
    model = _two_in_two_out(22)
    text = InferenceModel(model).summary()
    assert "reads" in text.splitlines()[1] and "image" in text and "mask" in text


def test_decoder_layers_without_native_steps_serve_through_their_own_infer():
    """ConvTranspose2d and Upsample (U-Net decoders) run between native segments, exactly."""
    x = Input((3, 8, 8))
    a = Conv2d(3, 4, 3, padding=1)(x)
    up = ConvTranspose2d(4, 4, 2, stride=2)(MaxPool2d(2)(a))
    bil = Upsample(scale_factor=2, mode="bilinear")(MaxPool2d(2)(a))
    m = Model(x, Conv2d(12, 2, 1)(Concat()([a, up, bil])))
    xi = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    served = InferenceModel(m)
    np.testing.assert_allclose(served.predict(xi), m.predict(xi), rtol=0, atol=1e-5)
    text = served.summary()
    assert "ConvTranspose2d" in text and "Upsample" in text and "python (layer.infer)" in text
