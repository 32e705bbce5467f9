"""Optimisers: hand-computed steps, torch's results, and the fused kernels (csrc/optim/) bit for bit
against the former NumPy implementation (tests/reference/optim_numpy.py), on every ISA and
thread count."""

import tracemalloc

import numpy as np
import pytest

from pyconvnet import _C
from pyconvnet.layers import Parameter
from pyconvnet.optim import SGD, Adam, AdamW
from conftest import same_for_thread_counts, threads
from reference.optim_numpy import NumpyAdam, NumpyAdamW, NumpySGD


def _param(values, grad):
    p = Parameter(np.array(values, np.float32))
    p.grad[...] = grad
    return p


def test_sgd_plain_step_hand_computed():
    p = _param([1.0, 2.0], [0.5, -1.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1], rtol=1e-6)


def test_sgd_momentum_weight_decay_hand_computed():
    p = _param([1.0], [0.5])
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()  # d = 0.5 + 0.1 = 0.6; buf = 0.6; p = 1 - 0.06 = 0.94
    np.testing.assert_allclose(p.data, [0.94], rtol=1e-6)
    opt.step()  # d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; p = 0.94 - 0.1134
    np.testing.assert_allclose(p.data, [0.94 - 0.1134], rtol=1e-6)


def test_sgd_nesterov_hand_computed():
    p = _param([1.0], [1.0])
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True)
    opt.step()  # buf = 1; d = 1 + 0.5 = 1.5; p = 0.85
    np.testing.assert_allclose(p.data, [0.85], rtol=1e-6)
    opt.step()  # buf = 0.5 + 1 = 1.5; d = 1 + 0.75 = 1.75; p = 0.675
    np.testing.assert_allclose(p.data, [0.675], rtol=1e-6)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)


def test_adam_first_steps_hand_computed():
    p = _param([1.0, -1.0], [0.2, -3.0])
    opt = Adam([p], lr=0.01)
    opt.step()  # bias-corrected m/sqrt(v) = g/|g| on the first step
    np.testing.assert_allclose(p.data, [0.99, -0.99], rtol=1e-6)
    p.grad[...] = [0.2, 1.0]
    opt.step()
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    g1, g2 = np.array([0.2, -3.0]), np.array([0.2, 1.0])
    m = (1 - b1) * (b1 * g1 + g2)
    v = (1 - b2) * (b2 * g1**2 + g2**2)
    expect = np.array([0.99, -0.99]) - lr / (1 - b1**2) * m / (np.sqrt(v) / np.sqrt(1 - b2**2) + eps)
    np.testing.assert_allclose(p.data, expect, rtol=1e-5)


def test_adam_weight_decay_is_added_to_gradient_and_adamw_decouples():
    p1 = _param([2.0], [0.0])
    Adam([p1], lr=0.1, weight_decay=0.5).step()  # g = 0 + 0.5 * 2 = 1 -> step of lr
    np.testing.assert_allclose(p1.data, [1.9], rtol=1e-6)
    p2 = _param([2.0], [0.0])
    AdamW([p2], lr=0.1, weight_decay=0.5).step()  # p *= 1 - 0.05; zero gradient -> no Adam move
    np.testing.assert_allclose(p2.data, [1.9], rtol=1e-6)
    p3 = _param([2.0], [1.0])
    AdamW([p3], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p3.data, [2.0 * 0.95 - 0.1], rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
    lambda ps: Adam(ps, lr=0.1),
    lambda ps: AdamW(ps, lr=0.1),
])
def test_frozen_parameters_never_change(make):
    a = _param([1.0, 2.0], [1.0, 1.0])
    b = _param([3.0], [1.0])
    b.trainable = False
    opt = make([a, b])
    for _ in range(3):
        opt.step()
    assert b.data[0] == 3.0
    assert not np.array_equal(a.data, [1.0, 2.0])


def test_zero_grad_and_duplicate_params():
    a = _param([1.0], [5.0])
    opt = SGD([a, a], lr=1.0)
    assert len(opt.params) == 1
    opt.step()
    assert a.data[0] == -4.0  # applied once, not twice
    opt.zero_grad()
    assert a.grad[0] == 0.0


def test_bad_hyperparameters():
    a = _param([1.0], [0.0])
    with pytest.raises(ValueError, match="lr"):
        SGD([a], lr=-1.0)
    with pytest.raises(ValueError, match="beta2"):
        Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty"):
        Adam([])
    with pytest.raises(TypeError, match="Parameters"):
        Adam([np.zeros(3)])


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-3, nesterov=True),
    lambda ps: Adam(ps, lr=1e-3, weight_decay=1e-3),
    lambda ps: AdamW(ps, lr=1e-3),
])
def test_step_allocates_nothing_per_parameter(make):
    p = Parameter(np.ones(200_000, np.float32))
    p.grad[...] = 0.5
    opt = make([p])
    opt.step()  # state allocated on the first step
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 4, f"step allocated {peak} bytes for a {p.data.nbytes}-byte parameter"


def _torch_compare(torch, ours_cls, theirs_cls, kwargs, steps=5, shape=(4, 3)):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=shape).astype(np.float32)
    grads = rng.normal(size=(steps,) + shape).astype(np.float32)
    p = Parameter(w0)
    opt = ours_cls([p], **kwargs)
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = theirs_cls([tp], **kwargs)
    for s in range(steps):
        p.grad[...] = grads[s]
        opt.step()
        tp.grad = torch.tensor(grads[s])
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3)),
])
def test_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    import pyconvnet.optim as ours

    _torch_compare(torch, getattr(ours, name), getattr(torch.optim, name), kwargs)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3)),
])
def test_large_parameters_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    import pyconvnet.optim as ours

    shape = (5, 9999)  # odd length, several parallel chunks and SIMD blocks, a SIMD tail
    _torch_compare(torch, getattr(ours, name), getattr(torch.optim, name), kwargs, steps=3, shape=shape)


# --- fused kernels: bit-exact against the former NumPy updates ---------------------------------

# (ours, NumPy reference, kwargs): every code path of the kernels.
VARIANTS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3)),
    ("Adam", dict(lr=0.1, betas=(0.0, 0.0), eps=0.0)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.0)),
    ("AdamW", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.3)),
]
OURS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}
REFERENCE = {"SGD": NumpySGD, "Adam": NumpyAdam, "AdamW": NumpyAdamW}
VARIANT_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in VARIANTS]
# SIMD tails (1..17, 33), one SIMD block, several parallel chunks of 16384 with an odd tail.
# Around the 8-lane (AVX2) and 16-lane (AVX-512) blocks, the AVX-512 SGD's 32-element steps, and
# several thread chunks.
SHAPES = [(1,), (7,), (8,), (9,), (3, 5), (16,), (17,), (31,), (33,), (47,), (48,), (63,), (65,), (16384 * 3 + 5,)]
STATE_KEYS = ("exp_avg", "exp_avg_sq", "buf")


def _params(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    ps = []
    for s in shapes:
        w = rng.normal(size=s).astype(np.float32)
        w.reshape(-1)[::11] = 0.0  # exact zeros in p (and below in g) take the 0 / eps paths
        ps.append(Parameter(w))
    return ps


def _set_grads(ps, step, seed=1):
    rng = np.random.default_rng([seed, step])
    for p in ps:
        g = (rng.normal(size=p.data.shape) * 10.0 ** rng.integers(-4, 2, size=p.data.shape)).astype(np.float32)
        g.reshape(-1)[step::7] = 0.0
        p.grad[...] = g


def _run(cls, kwargs, steps=4, shapes=SHAPES):
    ps = _params(shapes)
    opt = cls(ps, **kwargs)
    for s in range(steps):
        _set_grads(ps, s)
        opt.step()
    state = [opt.state[id(p)].get(k) for p in ps for k in STATE_KEYS]
    return tuple(p.data.copy() for p in ps) + tuple(a.copy() for a in state if a is not None)


def _assert_same_bits(a, b, what):
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x.dtype == y.dtype == np.float32
        if x.tobytes() != y.tobytes():
            bad = np.flatnonzero(x.view(np.int32).reshape(-1) != y.view(np.int32).reshape(-1))
            raise AssertionError(f"{what}: array {i} differs at {bad.size} elements, first {bad[:5]}: "
                                 f"{x.reshape(-1)[bad[:5]]} vs {y.reshape(-1)[bad[:5]]}")


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=VARIANT_IDS)
def test_kernels_match_former_numpy_updates_bit_for_bit(isa, name, kwargs):
    with np.errstate(invalid="ignore"):  # eps = 0 with g = 0 divides 0 by 0 (NaN, as torch)
        expect = _run(REFERENCE[name], kwargs)
    with threads(2):
        got = _run(OURS[name], kwargs)
    _assert_same_bits(got, expect, f"{name} on {isa} vs NumPy")


@pytest.mark.parametrize("name,kwargs", [VARIANTS[i] for i in (5, 7, 9, 14)],
                         ids=[VARIANT_IDS[i] for i in (5, 7, 9, 14)])
def test_kernels_same_bits_for_thread_counts_and_isas(name, kwargs):
    shapes = [(16384 * 3 + 5,), (3, 11)]  # 3 threads get distinct chunks
    results = []
    isas = list(_C.supported_isas())
    for isa_name in isas:
        before = _C.isa()
        _C.set_isa(isa_name)
        try:
            results.append(same_for_thread_counts(lambda: _run(OURS[name], kwargs, steps=3, shapes=shapes)))
        finally:
            _C.set_isa(before)
    for isa_name, r in zip(isas[1:], results[1:]):
        _assert_same_bits(r, results[0], f"{name}: {isa_name} vs ref")


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
    lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1),
])
def test_frozen_large_parameter_untouched_and_stateless(isa, make):
    a, b = _params([(1001,), (16384 * 2 + 3,)])
    _set_grads([a, b], 0)
    before = b.data.copy()
    b.trainable = False
    opt = make([a, b])
    for _ in range(3):
        opt.step()
    assert b.data.tobytes() == before.tobytes()
    assert id(b) not in opt.state
    b.trainable = True  # unfreezing: its state starts then
    opt.step()
    assert id(b) in opt.state and b.data.tobytes() != before.tobytes()


def test_empty_parameter_is_a_no_op():
    p = Parameter(np.zeros((0, 3), np.float32))
    for opt in (SGD([p], lr=0.1, momentum=0.9), Adam([p]), AdamW([p])):
        opt.step()
        opt.step()
    assert p.data.shape == (0, 3)


def _adam_args(**over):
    n = over.pop("n", 4)
    arrays = {k: np.zeros(n, np.float32) for k in ("param", "grad", "exp_avg", "exp_avg_sq")}
    hyper = dict(beta1=0.9, beta2=0.999, eps=1e-8, step_size=1e-3, bias_correction2_sqrt=0.03)
    for k, v in over.items():
        (arrays if k in arrays else hyper)[k] = v
    return arrays, hyper


@pytest.mark.parametrize("over,exc,match", [
    (dict(exp_avg=np.zeros(4)), TypeError, "exp_avg must have dtype float32, got float64"),
    (dict(grad=[0.0] * 4), TypeError, "grad must be a numpy.ndarray"),
    (dict(param=np.zeros(8, np.float32)[::2]), TypeError, "param must be C-contiguous"),
    (dict(exp_avg_sq=np.zeros(5, np.float32)), ValueError, "exp_avg_sq has 5 elements, param has 4"),
    (dict(grad=np.zeros((2, 2), np.float32)), ValueError, r"grad must be 1-D, got shape \(2, 2\)"),
    (dict(beta1=1.0), ValueError, "invalid beta1: 1"),
    (dict(beta2=-0.1), ValueError, "invalid beta2"),
    (dict(eps=float("nan")), ValueError, "invalid eps"),
    (dict(bias_correction2_sqrt=0.0), ValueError, "invalid bias_correction2_sqrt"),
    (dict(step_size=1e39), ValueError, "step_size must be finite and within float32 range"),
    (dict(weight_decay=0.1, decay=0.9), ValueError, "cannot both be used"),
])
def test_adam_kernel_rejects_bad_arguments(over, exc, match):
    arrays, hyper = _adam_args(**over)
    with pytest.raises(exc, match=match):
        _C.adam_step(*arrays.values(), **hyper)


def test_adam_kernel_rejects_read_only_and_shared_memory():
    arrays, hyper = _adam_args()
    arrays["exp_avg"].flags.writeable = False
    with pytest.raises(ValueError, match="exp_avg must be writeable"):
        _C.adam_step(*arrays.values(), **hyper)
    arrays, hyper = _adam_args()
    ro = arrays["grad"]
    ro.flags.writeable = False  # the gradient is only read
    _C.adam_step(*arrays.values(), **hyper)
    buf = np.zeros(7, np.float32)
    arrays, hyper = _adam_args(param=buf[:4], exp_avg_sq=buf[3:])
    with pytest.raises(ValueError, match="param and exp_avg_sq share memory"):
        _C.adam_step(*arrays.values(), **hyper)


@pytest.mark.parametrize("kwargs,buf,match", [
    (dict(lr=0.1, momentum=0.9), None, "momentum_buffer is required when momentum != 0"),
    (dict(lr=0.1), np.zeros(4, np.float32), "momentum_buffer must be None when momentum is 0"),
    (dict(lr=0.1, momentum=0.9), np.zeros(3, np.float32), "momentum_buffer has 3 elements, param has 4"),
    (dict(lr=0.1, nesterov=True), None, "nesterov=True requires momentum > 0"),
    (dict(lr=-0.1), None, "invalid lr"),
    (dict(lr=0.1, weight_decay=float("inf")), None, "invalid weight_decay"),
])
def test_sgd_kernel_rejects_bad_arguments(kwargs, buf, match):
    p, g = np.zeros(4, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=match):
        _C.sgd_step(p, g, buf, **kwargs)
    with pytest.raises(ValueError, match="param and grad share memory"):
        _C.sgd_step(p, p, None, lr=0.1)


def test_parameter_replaced_by_wrong_dtype_is_reported():
    p = _param([1.0, 2.0], [1.0, 1.0])
    opt = Adam([p])
    p.data = p.data.astype(np.float64)
    with pytest.raises(TypeError, match="Parameter.data must stay a writeable C-contiguous float32"):
        opt.step()
