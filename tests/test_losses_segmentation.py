"""Per-pixel CrossEntropyLoss (weight, ignore_index) and DiceLoss: float64 oracles, finite
differences and torch conformance."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_loss
from pyconvnet.losses import CrossEntropyLoss, DiceLoss


def _seg(n=2, c=3, h=4, w=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2, size=(n, c, h, w)).astype(np.float32), rng.integers(0, c, size=(n, h, w))


# --- float64 oracles (no shared code with pyconvnet.losses) -----------------------------------

def ce_oracle(z, t, weight=None, ignore_index=-100):
    """sum over counted pixels of w[t] * -log softmax(z)[t], divided by the sum of those w[t]."""
    z = z.astype(np.float64)
    c = z.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    num = den = 0.0
    for idx in np.ndindex(t.shape):
        label = int(t[idx])
        if label == ignore_index:
            continue
        logits = z[(idx[0], slice(None)) + idx[1:]]
        m = logits.max()
        logp = logits[label] - m - np.log(np.sum(np.exp(logits - m)))
        num += -w[label] * logp
        den += w[label]
    return num / den if den else float("nan")


def dice_oracle(z, t, smooth):
    z = z.astype(np.float64)
    c = z.shape[1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    scores = []
    for k in range(c):
        pk = p[:, k]
        gk = (t == k).astype(np.float64)
        scores.append((2 * np.sum(pk * gk) + smooth) / (np.sum(pk) + np.sum(gk) + smooth))
    return 1.0 - np.mean(scores)


# --- CrossEntropyLoss on (N, C, H, W) ---------------------------------------------------------

@pytest.mark.parametrize("weight", [None, [0.2, 1.0, 3.0]])
@pytest.mark.parametrize("ignore", [False, True])
def test_per_pixel_cross_entropy_matches_oracle(weight, ignore):
    z, t = _seg(seed=1)
    if ignore:
        t[0, 1, :3] = -100
        t[1, 2, 2] = -100
    got = CrossEntropyLoss(weight=weight).forward(z, t)
    assert got == pytest.approx(ce_oracle(z, t, weight), rel=1e-6)


def test_custom_ignore_index_and_two_dim_logits():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(6, 4)).astype(np.float32)
    t = np.array([0, 3, 255, 1, 255, 2])
    loss = CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5, 1.5]), ignore_index=255)
    assert loss.forward(z, t) == pytest.approx(ce_oracle(z, t, [1.0, 2.0, 0.5, 1.5], 255), rel=1e-6)
    g = loss.backward()
    assert np.all(g[[2, 4]] == 0)  # ignored samples get no gradient


def test_unweighted_per_pixel_equals_the_flattened_two_dim_loss():
    z, t = _seg(seed=3)
    rows = z.transpose(0, 2, 3, 1).reshape(-1, z.shape[1])
    a, b = CrossEntropyLoss(), CrossEntropyLoss()
    assert a.forward(z, t) == pytest.approx(b.forward(rows, t.reshape(-1)), rel=1e-7)
    ga = a.backward().transpose(0, 2, 3, 1).reshape(rows.shape)
    np.testing.assert_allclose(ga, b.backward(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("weight, ignore_index", [(None, -100), ([0.5, 2.0, 1.0], -100), ([0.5, 2.0, 1.0], 1)])
def test_per_pixel_cross_entropy_gradient_finite_differences(weight, ignore_index):
    z, t = _seg(1, 3, 3, 4, seed=4)
    check_loss(CrossEntropyLoss(weight=weight, ignore_index=ignore_index), z, t, h=1e-2)


def test_everything_ignored_gives_nan_and_zero_gradient():
    z, t = _seg(seed=5)
    t[:] = -100
    loss = CrossEntropyLoss()
    assert np.isnan(loss.forward(z, t))
    np.testing.assert_array_equal(loss.backward(), np.zeros_like(z))


def test_cross_entropy_argument_errors():
    z, t = _seg()
    with pytest.raises(ValueError, match="target must have shape"):
        CrossEntropyLoss().forward(z, t[:, :3])
    with pytest.raises(ValueError, match="weight has 2 entries"):
        CrossEntropyLoss(weight=[1.0, 2.0]).forward(z, t)
    with pytest.raises(ValueError, match="weight must be finite"):
        CrossEntropyLoss(weight=[1.0, np.nan, 1.0])
    with pytest.raises(TypeError, match="ignore_index"):
        CrossEntropyLoss(ignore_index=1.5)
    with pytest.raises(ValueError, match="pred must be 2-D or 4-D"):
        CrossEntropyLoss().forward(z[0], t[0])
    t[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"class index 3.*\[0, 3\)"):
        CrossEntropyLoss().forward(z, t)
    t[0, 0, 0] = -100  # ignored: fine
    CrossEntropyLoss().forward(z, t)
    with pytest.raises(ValueError, match="class index -100"):
        CrossEntropyLoss(ignore_index=0).forward(z, t)


def test_cross_entropy_config():
    assert CrossEntropyLoss().get_config() == {"weight": None, "ignore_index": -100}
    assert CrossEntropyLoss([1, 2], 3).get_config() == {"weight": [1.0, 2.0], "ignore_index": 3}


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4, 5)])
def test_cross_entropy_matches_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    z = rng.normal(0, 2, size=shape).astype(np.float32)
    t = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    t.reshape(-1)[::3] = 7  # ignored
    weight = rng.uniform(0.1, 2.0, size=shape[1]).astype(np.float32)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(t), weight=torch.tensor(weight), ignore_index=7)
    ref.backward()
    loss = CrossEntropyLoss(weight=weight, ignore_index=7)
    assert loss.forward(z, t) == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=1e-5, atol=1e-7)


# --- DiceLoss ---------------------------------------------------------------------------------

@pytest.mark.parametrize("smooth", [0.0, 1.0, 5.0])
def test_dice_matches_oracle(smooth):
    z, t = _seg(seed=7)
    assert DiceLoss(smooth).forward(z, t) == pytest.approx(dice_oracle(z, t, smooth), rel=1e-6)
    assert DiceLoss(smooth).value(z, t) == pytest.approx(dice_oracle(z, t, smooth), rel=1e-6)


def test_dice_hand_made():
    # 2 classes, 1 image of 2 pixels, targets [0, 1]; logits make p = [[0.5, 0.5], [0.5, 0.5]].
    # I_0 = 0.5, S_0 = 1 + 1 = 2; same for class 1. smooth 0: dice = 2 * 0.5 / 2 = 0.5 -> loss 0.5.
    z = np.zeros((1, 2, 1, 2), np.float32)
    t = np.array([[[0, 1]]])
    assert DiceLoss(0.0).forward(z, t) == pytest.approx(0.5)
    # smooth 1: dice = (1 + 1) / (2 + 1) = 2/3 per class -> loss 1/3.
    assert DiceLoss(1.0).forward(z, t) == pytest.approx(1 / 3)


def test_dice_confident_correct_prediction_is_near_zero():
    _, t = _seg(seed=8)
    z = np.where(np.arange(3)[None, :, None, None] == t[:, None], 30.0, -30.0).astype(np.float32)
    assert DiceLoss(0.0).forward(z, t) == pytest.approx(0.0, abs=1e-6)
    wrong = np.roll(z, 1, axis=1)
    assert DiceLoss(0.0).forward(wrong, t) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_gradient_finite_differences(smooth):
    z, t = _seg(1, 3, 3, 3, seed=9)
    check_loss(DiceLoss(smooth), z, t, h=1e-2)


def test_dice_gradient_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    z, t = _seg(2, 4, 5, 3, seed=10)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(zt, dim=1)
    g = torch.nn.functional.one_hot(torch.tensor(t), 4).permute(0, 3, 1, 2).double()
    dice = (2 * (p * g).sum(dim=(0, 2, 3)) + 1.0) / (p.sum(dim=(0, 2, 3)) + g.sum(dim=(0, 2, 3)) + 1.0)
    ref = 1 - dice.mean()
    ref.backward()
    loss = DiceLoss()
    assert loss.forward(z, t) == pytest.approx(ref.item(), rel=1e-6)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=1e-4, atol=1e-8)


def test_dice_argument_errors():
    z, t = _seg()
    with pytest.raises(ValueError, match="smooth"):
        DiceLoss(-1.0)
    with pytest.raises(TypeError, match="smooth"):
        DiceLoss("1")
    with pytest.raises(ValueError, match="target must have shape"):
        DiceLoss().forward(z, t[:1])
    t[1, 0, 0] = 3
    with pytest.raises(ValueError, match=r"class index 3"):
        DiceLoss().forward(z, t)
    with pytest.raises(TypeError, match="target"):
        DiceLoss().forward(z, t.astype(np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        DiceLoss().backward()
