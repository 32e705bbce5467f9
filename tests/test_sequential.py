
import numpy as np
import pytest

from pyconvnet import init
from pyconvnet.layers import (BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Softmax, Tanh)
from pyconvnet.model import Sequential

from conftest import call_from_threads
from gradcheck import check_layer


def small_cnn(seed=0, classes=3):
    init.manual_seed(seed)
    return Sequential([
        Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2),
        Flatten(), Linear(4 * 4 * 4, 8), ReLU(), Dropout(0.3), Linear(8, classes),
    ])


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_forward_backward_chain_and_gradcheck():
    init.manual_seed(1)
    model = Sequential([Conv2d(2, 3, 3), Tanh(), Flatten(), Linear(3 * 3 * 3, 4), Softmax()])
    x = _x((2, 2, 5, 5))
    y = model.forward(x)
    h = x
    for layer in model:
        h = layer.infer(h)
    np.testing.assert_array_equal(y, h)
    # finite differences through the whole stack (smooth layers: no kinks to step over)
    check_layer(model, x)


def test_container_protocol_slicing_shares_layers():
    model = small_cnn()
    assert len(model) == 9
    assert isinstance(model[0], Conv2d) and model[-1] is model.layers[-1]
    head = model[:4]
    assert isinstance(head, Sequential) and len(head) == 4 and head[0] is model[0]
    tail = model[4:]
    assert list(tail.state_dict()) == ["1.weight", "1.bias", "4.weight", "4.bias"]
    tail[1].weight.data[0, 0] = 42.0
    assert model[5].weight.data[0, 0] == 42.0
    x = _x((2, 1, 8, 8))
    np.testing.assert_allclose(model.predict(x), tail.predict(head.predict(x)), rtol=1e-6)
    extra = Linear(3, 2)
    assert model.append(extra) is model and len(model) == 10
    assert model.pop() is extra and len(model) == 9
    with pytest.raises(TypeError, match="Layer instances"):
        Sequential([Linear(2, 2), "relu"])
    with pytest.raises(TypeError, match="Layer instances"):
        model.append(lambda v: v)


def test_train_eval_flags():
    model = small_cnn()
    assert model.training and all(layer.training for layer in model)
    model.eval()
    assert not model.training and not any(layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)


def test_predict_is_eval_mode_restores_mode_and_caches_nothing():
    model = small_cnn()
    x = _x((10, 1, 8, 8))
    assert model.training
    p1 = model.predict(x, batch_size=3)
    assert model.training and all(layer.training for layer in model)
    assert all(layer._cache is None for layer in model)
    model.eval()
    ref = model.forward(x)  # eval-mode forward: dropout off, running statistics
    np.testing.assert_allclose(p1, ref, rtol=1e-6, atol=1e-7)
    assert not model.training
    model.train()
    np.testing.assert_array_equal(model.predict(x, batch_size=256), model.predict(x, batch_size=4))
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=0)
    with pytest.raises(ValueError, match="1 channels"):
        model.predict(_x((2, 3, 8, 8)))
    with pytest.raises(TypeError, match="astype"):
        model.predict(np.zeros((2, 1, 8, 8), np.int32))


def test_concurrent_predict_equals_serial():
    model = small_cnn(seed=3)
    # make BatchNorm's running statistics non-trivial
    model.forward(_x((16, 1, 8, 8), seed=9))
    inputs = [_x((37, 1, 8, 8), seed=s) for s in range(6)]
    serial = [model.predict(x, batch_size=8) for x in inputs]
    got = call_from_threads(lambda x: model.predict(x, batch_size=8), [[x] * 5 for x in inputs])
    for i, (rounds, s) in enumerate(zip(got, serial)):
        for out in rounds:
            np.testing.assert_array_equal(out, s, err_msg=f"thread {i}: result differs from serial predict")


def test_evaluate():
    model = small_cnn()
    x = _x((20, 1, 8, 8))
    y = np.arange(20) % 3
    out = model.predict(x)
    e = out - out.max(1, keepdims=True)
    logp = e - np.log(np.exp(e).sum(1, keepdims=True))
    res = model.evaluate(x, y, batch_size=7)
    assert res["loss"] == pytest.approx(-logp[np.arange(20), y].mean(), rel=1e-5)
    assert res["accuracy"] == pytest.approx(np.mean(out.argmax(1) == y))
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate(x, y[:5])
    with pytest.raises(ValueError, match="class index 3"):
        model.evaluate(x, np.full(20, 3))


def test_state_dict_keys_copies_and_load():
    model = small_cnn()
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "5.weight", "5.bias", "8.weight", "8.bias"]
    assert sd["0.weight"].shape == (4, 1, 3, 3) and sd["5.weight"].shape == (8, 64)
    assert not np.shares_memory(sd["0.weight"], model[0].weight.data)
    other = small_cnn(seed=5)
    live = other[0].weight.data
    res = other.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert other[0].weight.data is live  # copied into the live arrays
    x = _x((4, 1, 8, 8))
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_load_state_dict_errors_name_the_keys():
    model = small_cnn()
    sd = model.state_dict()
    before = model[0].weight.data.copy()
    bad = dict(sd)
    del bad["5.bias"]
    bad["9.weight"] = np.zeros(3, np.float32)
    bad["0.weight"] = np.zeros((4, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"missing keys: '5.bias'.*unexpected keys: '9.weight'"):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model[0].weight.data, before)  # nothing changed on error
    wrong = dict(sd)
    wrong["8.weight"] = np.zeros((3, 9), np.float32)
    with pytest.raises(ValueError, match=r"wrong shape for '8.weight': got \(3, 9\), the model has \(3, 8\)"):
        model.load_state_dict(wrong)
    with pytest.raises(ValueError, match="wrong shape"):
        model.load_state_dict(wrong, strict=False)
    partial = {"0.weight": np.ones((4, 1, 3, 3)), "extra": np.zeros(1)}
    res = model.load_state_dict(partial, strict=False)
    assert "extra" in res.unexpected_keys and "0.bias" in res.missing_keys
    assert model[0].weight.data.dtype == np.float32 and (model[0].weight.data == 1).all()


def test_freeze_unfreeze():
    model = small_cnn()
    model.freeze(until=2)
    flags = [p.trainable for p in model.params()]
    assert flags == [False, False, False, False, True, True, True, True]
    model.unfreeze()
    assert all(p.trainable for p in model.params())
    model.freeze()
    assert not any(p.trainable for p in model.params())
    model.unfreeze()


def test_summary_lists_shapes_params_flops_and_totals():
    model = small_cnn()
    with_unknown = model.summary()
    assert "?" in with_unknown  # no input shape seen yet
    text = model.summary((1, 8, 8))
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text and "FLOPs" in text
    assert "(None, 4, 8, 8)" in text and "(None, 64)" in text and "(None, 3)" in text
    total = sum(p.size for p in model.params())
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total:,}" in text
    model.freeze(until=1)
    text = model.summary((1, 8, 8))
    assert f"Non-trainable params: {4 * 9 + 4:,}" in text
    assert "(frozen)" in text
    flops = model.flops((None, 1, 8, 8))
    assert f"({flops:,})" in text
    assert flops > 2 * 9 * 4 * 64  # at least the convolution's multiply-adds
    with pytest.raises(ValueError, match="layer 0"):
        model.summary((3, 8, 8))
    model.forward(_x((2, 1, 8, 8)))
    assert "(None, 1, 8, 8)" in model.summary()


def test_output_shape_matches_forward():
    model = small_cnn()
    x = _x((5, 1, 8, 8))
    assert model.output_shape(x.shape) == model.forward(x).shape


def test_backward_errors():
    model = small_cnn()
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((2, 3), np.float32))
    model.forward(_x((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="grad_y has shape"):
        model.backward(np.zeros((2, 4), np.float32))


def test_config_roundtrip():
    model = small_cnn()
    clone = Sequential.from_config(model.get_config())
    clone.load_state_dict(model.state_dict())
    x = _x((3, 1, 8, 8))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="unknown layer class 'Evil'"):
        Sequential.from_config({"layers": [{"class_name": "Evil", "config": {}}]})


def test_conv_and_linear_fuse_a_following_relu_with_the_same_results(monkeypatch):
    """Sequential runs Conv2d/Linear + ReLU as one kernel call; values, gradients and the
    ReLU's cached output must equal the layer-by-layer computation."""
    from pyconvnet import _C

    init.manual_seed(3)
    model = Sequential([Conv2d(2, 4, 3, padding=1), ReLU(), Flatten(), Linear(4 * 5 * 5, 6), ReLU(), Linear(6, 3)])
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 5)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((3, 3)).astype(np.float32)

    relu_calls = []
    real_relu = _C.relu_forward
    monkeypatch.setattr(_C, "relu_forward", lambda a: relu_calls.append(1) or real_relu(a))
    fused_out = model.forward(x)
    assert relu_calls == [], "the ReLUs should have run in the Conv2d/Linear epilogues"
    monkeypatch.undo()
    fused_gx = model.backward(g)
    fused_grads = [p.grad.copy() for p in model.params()]
    np.testing.assert_array_equal(model.predict(x), fused_out)

    model.zero_grad()
    h = x
    for layer in model:  # unfused: each layer on its own
        h = layer.forward(h)
    np.testing.assert_array_equal(h, fused_out)
    gx = g
    for layer in reversed(list(model)):
        gx = layer.backward(gx)
    np.testing.assert_array_equal(gx, fused_gx)
    for p, q in zip(model.params(), fused_grads):
        np.testing.assert_array_equal(p.grad, q)
    assert (model[1]._cache[1] >= 0).all()


@pytest.mark.parametrize("pool", [(2, 2, 0), (3, 2, 1), (3, 1, 1)], ids=["2x2s2", "3x3s2p1-overlap", "3x3s1p1"])
def test_relu_then_maxpool_backward_masks_the_pooled_gradient(monkeypatch, pool):
    """Sequential backpropagates ReLU -> MaxPool2d by masking the pooled gradient; the input
    gradient and all parameter gradients must equal the layer-by-layer computation."""
    from pyconvnet import _C

    init.manual_seed(4)
    k, s, p = pool
    _, c, oh, ow = MaxPool2d(k, s, p).output_shape((1, 3, 8, 8))
    model = Sequential([Conv2d(2, 3, 3, padding=1), ReLU(), MaxPool2d(k, s, p), Flatten(), Linear(c * oh * ow, 2)])
    x = np.random.default_rng(0).standard_normal((4, 2, 8, 8)).astype(np.float32)
    x[0, 0, :4] = -5.0  # whole windows at zero after the ReLU (the pooled value is 0: masked)
    g = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)

    shapes = []
    real = _C.relu_backward
    monkeypatch.setattr(_C, "relu_backward", lambda gy, y: shapes.append(gy.shape) or real(gy, y))
    model.forward(x)
    fused_gx = model.backward(g)
    fused_grads = [q.grad.copy() for q in model.params()]
    pooled = model.layers[2].output_shape((4, 3, 8, 8))
    assert shapes == [pooled], "the ReLU mask should be applied to the pooled gradient only"
    monkeypatch.undo()

    model.zero_grad()
    h = x
    for layer in model:
        h = layer.forward(h)
    gx = g
    for layer in reversed(list(model)):
        gx = layer.backward(gx)
    np.testing.assert_array_equal(gx, fused_gx)
    for q, r in zip(model.params(), fused_grads):
        np.testing.assert_array_equal(q.grad, r)
