"""Graph models (pyconvnet.Model): building from Input and layer calls, names, running with
several inputs and outputs, gradients through merges and shared layers (float64 oracle),
torch conformance of a residual block, training a small ResNet and a two-output model."""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet
from pyconvnet import Input, Model, Sequential
from pyconvnet.datasets import make_shapes
from pyconvnet.layers import (
    Add, BatchNorm2d, Concat, Conv2d, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, Multiply, ReLU, Tanh,
)
from pyconvnet.optim import Adam

from conftest import same_for_thread_counts


# ----------------------------------------------------------------------------- building
def test_layer_calls_on_nodes_build_a_model_with_unique_names():
    x = Input((3, 8, 8))
    h = Conv2d(3, 4, 3, padding=1)(x)
    assert h.shape == (4, 8, 8) and h.parents == (x,)
    y = ReLU()(Conv2d(4, 4, 1, name="proj")(ReLU()(h)))
    m = Model(x, y)
    assert m.layer_names == ["conv2d_1", "relu_1", "proj", "relu_2"]
    assert m.input_names == ["input_1"] and m.output_names == ["relu_2"]
    assert m.input_shape == (3, 8, 8)
    assert m.get_layer("proj") is m.layers[2] and m.get_layer(-1) is m.layers[3]
    assert isinstance(Sequential([ReLU()]), Model)
    # calling a layer on an array keeps its meaning
    a = np.ones((1, 3, 8, 8), np.float32)
    assert Conv2d(3, 2, 3)(a).shape == (1, 2, 6, 6)


def test_building_errors_are_clear():
    x = Input((3, 8, 8))
    with pytest.raises(ValueError, match=r"Conv2d 'c' cannot take input of per-sample shape \(3, 8, 8\).*in_channels"):
        Conv2d(1, 2, 3, name="c")(x)
    with pytest.raises(ValueError, match=r"Add: inputs must all have the same shape"):
        Add()([x, Conv2d(3, 2, 1)(x)])
    with pytest.raises(TypeError, match="takes one node"):
        ReLU()([x, x])
    with pytest.raises(TypeError, match="takes a list of nodes"):
        Add()(x)
    other = Input((3, 8, 8))
    with pytest.raises(ValueError, match="not in inputs"):
        Model(x, Add()([x, other]))
    with pytest.raises(ValueError, match="unique.*'dup'"):
        Model(x, ReLU(name="dup")(ReLU(name="dup")(x)))
    with pytest.raises(TypeError, match="outputs must be a node"):
        Model(x, np.zeros(3))
    with pytest.raises(ValueError, match="not a pyconvnet.Input"):
        Model(ReLU()(x), ReLU()(x))
    with pytest.raises(ValueError, match="shape must hold positive sizes"):
        Input((3, 0))
    with pytest.raises(TypeError, match="name must be a str"):
        ReLU(name=3)


def _two_io_model():
    pyconvnet.manual_seed(0)
    a = Input((4,), name="a")
    b = Input((3,), name="b")
    shared = Linear(4, 4, name="shared")
    h1 = shared(a)
    h2 = shared(Tanh()(h1))
    m = Multiply()([h1, h2])
    c = Concat()([m, b])
    out1 = Linear(7, 2, name="out1")(c)
    out2 = Add(name="out2")([h1, m])
    return Model([a, b], [out1, out2])


def test_several_inputs_and_outputs_run_as_lists_or_dicts():
    m = _two_io_model()
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    p = m.predict([xa, xb], batch_size=2)
    assert isinstance(p, list) and [y.shape for y in p] == [(5, 2), (5, 4)]
    q = m.predict({"b": xb, "a": xa})
    for u, v in zip(p, q):
        np.testing.assert_array_equal(u, v)
    f = m.eval().forward([xa, xb])
    for u, v in zip(p, f):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="2 inputs"):
        m.predict([xa])
    with pytest.raises(ValueError, match=r"input 'b' takes samples of shape \(3,\)"):
        m.predict([xa, xa])
    with pytest.raises(ValueError, match="same number of samples"):
        m.predict([xa, xb[:3]])
    with pytest.raises(ValueError, match="missing"):
        m.predict({"a": xa})
    with pytest.raises(TypeError, match="list of arrays or a dict"):
        m.predict(xa)
    assert m.output_names == ["out1", "out2"]


# ------------------------------------------------------------ gradients (float64 oracle)
def _oracle(params, xa, xb):
    """float64 forward of _two_io_model, written from the layer definitions."""
    w, b = params["shared.weight"], params["shared.bias"]
    h1 = xa @ w.T + b
    h2 = np.tanh(h1) @ w.T + b
    m = h1 * h2
    c = np.concatenate([m, xb], axis=1)
    return c @ params["out1.weight"].T + params["out1.bias"], h1 + m


def test_gradients_through_merges_and_a_shared_layer_match_float64_differences():
    m = _two_io_model()
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)
    r1, r2 = rng.standard_normal((3, 2)), rng.standard_normal((3, 4))
    params = {k: v.astype(np.float64) for k, v in m.state_dict().items()}
    o1, o2 = m.forward([xa, xb])
    e1, e2 = _oracle(params, xa.astype(np.float64), xb.astype(np.float64))
    np.testing.assert_allclose(o1, e1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o2, e2, rtol=1e-5, atol=1e-5)
    m.zero_grad()
    dxa, dxb = m.backward([r1.astype(np.float32), r2.astype(np.float32)])

    def loss(p, a, b):
        y1, y2 = _oracle(p, a, b)
        return float(np.sum(y1 * r1) + np.sum(y2 * r2))

    def numeric(arr, f, h=1e-6):
        g = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + h
            up = f()
            arr[i] = old - h
            down = f()
            arr[i] = old
            g[i] = (up - down) / (2 * h)
        return g

    a64, b64 = xa.astype(np.float64), xb.astype(np.float64)
    checks = [("x a", dxa, numeric(a64, lambda: loss(params, a64, b64))),
              ("x b", dxb, numeric(b64, lambda: loss(params, a64, b64)))]
    grads = {"shared.weight": m.get_layer("shared").weight.grad, "shared.bias": m.get_layer("shared").bias.grad,
             "out1.weight": m.get_layer("out1").weight.grad, "out1.bias": m.get_layer("out1").bias.grad}
    for key, g in grads.items():
        checks.append((key, g, numeric(params[key], lambda: loss(params, a64, b64))))
    for what, analytic, num in checks:
        scale = np.abs(num).max()
        assert np.abs(analytic - num).max() <= 1e-5 * scale + 1e-6, what
    # the shared layer's gradient sums both uses: a second backward doubles it
    before = m.get_layer("shared").weight.grad.copy()
    m.backward([r1.astype(np.float32), r2.astype(np.float32)])
    np.testing.assert_allclose(m.get_layer("shared").weight.grad, 2 * before, rtol=1e-6)
    assert len(m.params()) == 4  # shared weights listed once


def test_gradients_are_bit_identical_for_every_thread_count():
    m = _two_io_model()
    rng = np.random.default_rng(2)
    xa, xb = rng.standard_normal((64, 4)).astype(np.float32), rng.standard_normal((64, 3)).astype(np.float32)

    def run():
        m.zero_grad()
        o1, o2 = m.forward([xa, xb])
        dxa, dxb = m.backward([np.ones_like(o1), np.ones_like(o2)])
        return (o1, o2, dxa, dxb) + tuple(p.grad.copy() for p in m.params())

    same_for_thread_counts(run)


def test_fused_and_unfused_paths_give_the_same_values():
    """A Conv2d whose only consumer is a ReLU runs with the ReLU in its epilogue; exposing the
    conv output as a second output forces the plain path."""
    pyconvnet.manual_seed(4)
    x = Input((2, 6, 6))
    conv = Conv2d(2, 3, 3, padding=1)
    relu = ReLU()
    pool = MaxPool2d(2)
    c = conv(x)
    y = Linear(27, 2)(Flatten()(pool(relu(c))))
    fused, plain = Model(x, y), Model(x, [y, c])
    assert fused._graph().relu_after and not plain._graph().relu_after
    xs = np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(np.float32)
    yf = fused.forward(xs)
    fused.zero_grad()
    gf = fused.backward(np.ones_like(yf))
    wf = conv.weight.grad.copy()
    yp, cp = plain.forward(xs)
    plain.zero_grad()
    gp = plain.backward([np.ones_like(yp), np.zeros_like(cp)])
    np.testing.assert_array_equal(yf, yp)
    np.testing.assert_array_equal(gf, gp)
    np.testing.assert_array_equal(wf, conv.weight.grad)


# ----------------------------------------------------------------------------- state
def test_state_dict_freeze_and_summary_use_layer_names():
    m = _two_io_model()
    sd = m.state_dict()
    assert list(sd) == ["shared.weight", "shared.bias", "out1.weight", "out1.bias"]
    with pytest.raises(ValueError, match=r"missing keys: 'out1.bias'"):
        m.load_state_dict({k: v for k, v in sd.items() if k != "out1.bias"})
    m.freeze(layers="shared")
    assert [p.trainable for p in m.params()] == [False, False, True, True]
    m.unfreeze("shared").freeze(until="out1")
    assert [p.trainable for p in m.params()] == [False, False, True, True]
    m.unfreeze().freeze(layers=[-1, 0])
    assert [p.trainable for p in m.params()] == [False, False, True, True]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        m.freeze(layers="nope")
    m.unfreeze()
    text = m.summary()
    assert "shared[1] (Linear)" in text and "Connected to" in text
    line = next(s for s in text.splitlines() if s.startswith("out1 (Linear)"))
    assert line.split()[2:] == ["(None,", "2)", "16", "30", "concat_1"]
    assert m.flops() == sum(layer.flops((None, 4)) for layer in [m.get_layer("shared")] * 2) + \
        m.get_layer("out1").flops((None, 7)) + 4 + 4 + 4 * 4  # multiply, add, tanh (4 per element)


# --------------------------------------------------------------------- torch conformance
def test_residual_block_matches_torch():
    torch = pytest.importorskip("torch")
    pyconvnet.manual_seed(5)
    x = Input((4, 7, 7))
    c1, b1, c2, b2 = Conv2d(4, 4, 3, padding=1, bias=False), BatchNorm2d(4), Conv2d(4, 4, 3, padding=1, bias=False), \
        BatchNorm2d(4)
    y = ReLU()(Add()([b2(c2(ReLU()(b1(c1(x))))), x]))
    m = Model(x, y)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4)
            self.c2, self.b2 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4)

        def forward(self, t):
            return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(t))))) + t)

    tb = Block().double()
    with torch.no_grad():
        for ours, theirs in ((c1, tb.c1), (c2, tb.c2)):
            theirs.weight.copy_(torch.from_numpy(ours.weight.data.astype(np.float64)))
    xs = np.random.default_rng(0).standard_normal((3, 4, 7, 7)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((3, 4, 7, 7)).astype(np.float32)
    out = m.forward(xs)
    m.zero_grad()
    dx = m.backward(g)
    t = torch.from_numpy(xs.astype(np.float64)).requires_grad_()
    ref = tb(t)
    ref.backward(torch.from_numpy(g.astype(np.float64)))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-3, atol=1e-3)
    for ours, theirs in ((c1.weight, tb.c1.weight), (c2.weight, tb.c2.weight), (b1.weight, tb.b1.weight),
                         (b2.bias, tb.b2.bias)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(b1.running_var, tb.b1.running_var.numpy(), rtol=1e-5)


# ----------------------------------------------------------------------------- training
def _shapes(n, seed, classes=(0, 1, 3, 4), size=16):
    x, y, _ = make_shapes(n, size=size, seed=seed, classes=list(classes))
    remap = np.full(8, -1)
    remap[list(classes)] = np.arange(len(classes))
    return x, remap[y]


def _resnet(width=8, classes=4):
    x = Input((1, 16, 16))
    h = ReLU()(BatchNorm2d(width)(Conv2d(1, width, 3, padding=1, bias=False)(x)))
    for _ in range(2):
        r = ReLU()(BatchNorm2d(width)(Conv2d(width, width, 3, padding=1, bias=False)(h)))
        r = BatchNorm2d(width)(Conv2d(width, width, 3, padding=1, bias=False)(r))
        h = ReLU()(Add()([h, r]))
    y = Linear(width, classes)(Flatten()(GlobalAvgPool2d()(MaxPool2d(2)(h))))
    return Model(x, y)


def test_small_resnet_learns_generated_shapes():
    pyconvnet.manual_seed(0)
    x, y = _shapes(640, seed=1)
    xt, yt = _shapes(200, seed=2)
    m = _resnet()
    hist = m.fit(x, y, epochs=4, batch_size=32, optimizer=Adam(m.params(), lr=1e-2), seed=0, verbose=0,
                 validation_data=(xt, yt))
    acc = m.evaluate(xt, yt)["accuracy"]
    assert acc > 0.75, f"accuracy {acc:.3f} (chance 0.25), history {hist.history}"
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_two_output_model_trains_with_loss_weights():
    pyconvnet.manual_seed(1)
    x = Input((6,))
    h = ReLU()(Linear(6, 16)(x))
    cls = Linear(16, 3, name="cls")(h)
    reg = Linear(16, 1, name="reg")(h)
    m = Model(x, [cls, reg])
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((400, 6)).astype(np.float32)
    labels = np.argmax(xs[:, :3], axis=1)
    target = xs[:, 3:4] * 2 - xs[:, 4:5]
    from pyconvnet.losses import MSELoss

    frozen_reg = m.get_layer("reg").weight.data.copy()
    hist = m.fit(xs, {"cls": labels, "reg": target}, epochs=2, batch_size=40, loss={"reg": MSELoss()},
                 loss_weights={"cls": 1.0, "reg": 0.0}, verbose=0, seed=0)
    # a zero weight leaves its head's own parameters without gradient
    np.testing.assert_array_equal(m.get_layer("reg").weight.data, frozen_reg)
    assert set(hist.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    hist = m.fit(xs, [labels, target], epochs=30, batch_size=40, loss=[None, MSELoss()],
                 loss_weights=[1.0, 0.5], optimizer=Adam(m.params(), lr=1e-2), verbose=0, seed=0)
    res = m.evaluate(xs, [labels, target])
    assert res["cls_accuracy"] > 0.9 and res["reg_loss"] < 0.1, res
    assert res["loss"] == pytest.approx(res["cls_loss"] + 0.5 * res["reg_loss"])
    assert hist.history["loss"][-1] == pytest.approx(hist.history["cls_loss"][-1] + 0.5 * hist.history["reg_loss"][-1])
    with pytest.raises(ValueError, match="output names"):
        m.fit(xs, {"cls": labels}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="loss_weights must be finite"):
        m.fit(xs, [labels, target], epochs=1, loss=[None, MSELoss()], loss_weights=[1, -1], verbose=0)


def test_inputs_as_outputs_unused_inputs_and_threads():
    import threading

    a, b = Input((3,), name="a"), Input((2,), name="b")
    lin = Linear(3, 3)
    m = Model([a, b], [a, lin(a), lin(lin(a))])  # b is unused, a is an output itself
    xa = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    xb = np.zeros((50, 2), np.float32)
    ident, once, twice = m.predict([xa, xb], batch_size=7)
    np.testing.assert_array_equal(ident, xa)
    np.testing.assert_array_equal(twice, lin.infer(lin.infer(xa)))
    outs = m.forward([xa, xb])
    m.zero_grad()
    da, db = m.backward([np.ones_like(o) for o in outs])
    assert db is None  # nothing flows to an unused input
    w = lin.weight.data.astype(np.float64)
    # d/da of sum(a) + sum(W a + c) + sum(W (W a + c) + c) per sample
    want = 1 + w.sum(axis=0) + (w.T @ w.sum(axis=0))
    np.testing.assert_allclose(da, np.broadcast_to(want, da.shape), rtol=1e-5)
    results = [None] * 4

    def worker(k):
        results[k] = m.predict([xa, xb], batch_size=5 + k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        for u, v in zip(r, (ident, once, twice)):
            np.testing.assert_array_equal(u, v)
