import numpy as np
import pytest

from pyconvnet.losses import CrossEntropyLoss, MSELoss, SmoothL1Loss

from gradcheck import check_loss


def _logits(n=5, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2, size=(n, c)).astype(np.float32), rng.integers(0, c, size=n)


def _ce_reference(z, t):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(t)), t].mean()


def test_cross_entropy_value_matches_float64_reference():
    z, t = _logits(7, 5)
    assert CrossEntropyLoss().forward(z, t) == pytest.approx(_ce_reference(z, t), rel=1e-6)


def test_cross_entropy_large_logits_are_stable():
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 3000.0, 0.0]], np.float32)
    t = np.array([0, 2])
    v = CrossEntropyLoss().forward(z, t)
    assert np.isfinite(v) and v == pytest.approx(3000.0 / 2, rel=1e-6)


def test_cross_entropy_gradient_finite_differences():
    z, t = _logits(6, 4, seed=1)
    check_loss(CrossEntropyLoss(), z, t, h=1e-2)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    z, t = _logits(4, 3, seed=2)
    loss = CrossEntropyLoss()
    loss.forward(z, t)
    g = loss.backward()
    e = np.exp(z - z.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    p[np.arange(4), t] -= 1
    np.testing.assert_allclose(g, p / 4, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bad", [-1, 4, 100])
def test_cross_entropy_label_out_of_range(bad):
    z, t = _logits(3, 4)
    t[1] = bad
    with pytest.raises(ValueError, match=rf"class index {bad}.*\[0, 4\)"):
        CrossEntropyLoss().forward(z, t)


def test_cross_entropy_float_labels_type_error():
    z, t = _logits(3, 4)
    with pytest.raises(TypeError, match=r"astype\(np.int64\)"):
        CrossEntropyLoss().forward(z, t.astype(np.float32))


def test_cross_entropy_shape_errors():
    z, t = _logits(3, 4)
    with pytest.raises(ValueError, match="target must have shape"):
        CrossEntropyLoss().forward(z, t[:2])
    with pytest.raises(ValueError, match="pred must be 2-D"):
        CrossEntropyLoss().forward(z[0], t[:1])


def test_backward_before_forward():
    for loss in (CrossEntropyLoss(), MSELoss(), SmoothL1Loss()):
        with pytest.raises(RuntimeError, match="before forward"):
            loss.backward()


def test_mse_value_and_gradient():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(4, 3)).astype(np.float32)
    t = rng.normal(size=(4, 3)).astype(np.float32)
    loss = MSELoss()
    assert loss.forward(p, t) == pytest.approx(np.mean((p.astype(np.float64) - t) ** 2), rel=1e-6)
    np.testing.assert_allclose(loss.backward(), 2 * (p - t) / p.size, rtol=1e-6)
    check_loss(MSELoss(), p, t)


def test_mse_shape_mismatch():
    with pytest.raises(ValueError, match="target must have the shape of pred"):
        MSELoss().forward(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))


@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_gradient(beta):
    rng = np.random.default_rng(4)
    p = rng.normal(0, 1.5, size=(5, 4)).astype(np.float32)
    t = rng.normal(0, 1.5, size=(5, 4)).astype(np.float32)
    d = np.abs(p.astype(np.float64) - t)
    skip = (np.abs(d - beta) < 0.05) | (d < 0.05)  # kinks: |d| = beta (and d = 0 for L1)
    check_loss(SmoothL1Loss(beta), p, t, h=1e-2, skip=skip)


def test_smooth_l1_value():
    p = np.array([0.0, 0.5, 2.0, -3.0], np.float32)
    t = np.zeros(4, np.float32)
    # beta 1: 0, 0.125, 1.5, 2.5 -> mean 1.03125
    assert SmoothL1Loss().forward(p, t) == pytest.approx(1.03125)
    assert SmoothL1Loss(0.0).forward(p, t) == pytest.approx(5.5 / 4)
    with pytest.raises(ValueError, match="beta"):
        SmoothL1Loss(-1.0)


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    z, t = _logits(8, 5, seed=5)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(t))
    ref.backward()
    loss = CrossEntropyLoss()
    assert loss.forward(z, t) == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=1e-5, atol=1e-7)

    rng = np.random.default_rng(6)
    p = rng.normal(size=(6, 3)).astype(np.float32)
    q = rng.normal(size=(6, 3)).astype(np.float32)
    for ours, theirs in ((MSELoss(), torch.nn.MSELoss()), (SmoothL1Loss(0.7), torch.nn.SmoothL1Loss(beta=0.7)),
                         (SmoothL1Loss(0.0), torch.nn.SmoothL1Loss(beta=0.0))):
        pt = torch.tensor(p, requires_grad=True)
        r = theirs(pt, torch.tensor(q))
        r.backward()
        assert ours.forward(p, q) == pytest.approx(r.item(), rel=1e-5)
        np.testing.assert_allclose(ours.backward(), pt.grad.numpy(), rtol=1e-5, atol=1e-7)
