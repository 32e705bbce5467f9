"""Merge layers Add / Multiply / Concat and pyconvnet.functional add / multiply / concat:
forward and backward against float64 NumPy on every ISA tier, bit-identical for every thread
count, shape errors naming the layer and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F
from pyconvnet import _C
from pyconvnet.layers import Add, Concat, Multiply

from conftest import same_for_thread_counts

# Shapes around the kernels' chunk size (16384 elements) so that several threads split them.
SHAPES = [(1,), (3, 5), (2, 3, 4, 5), (4, 8, 33, 31), (1, 16385)]


def _arrays(shape, k, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(k)]


def _f64(xs):
    return [x.astype(np.float64) for x in xs]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_add_and_multiply_match_float64(isa, shape, k):
    xs = _arrays(shape, k, seed=k)
    ref_sum = np.sum(_f64(xs), axis=0)
    ref_prod = np.prod(_f64(xs), axis=0)
    y = same_for_thread_counts(lambda: F.add(xs))
    np.testing.assert_allclose(y, ref_sum, rtol=1e-6, atol=1e-6)
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(same_for_thread_counts(lambda: F.multiply(xs)), ref_prod, rtol=1e-6, atol=1e-7)

    g = _arrays(shape, 1, seed=99)[0]
    add = Add()
    np.testing.assert_array_equal(add.forward(xs), y)
    for d in add.backward(g):
        np.testing.assert_array_equal(d, g)
    mul = Multiply()
    mul.forward(xs)
    grads = same_for_thread_counts(lambda: tuple(mul.backward(g)))
    for j, d in enumerate(grads):
        others = [x for i, x in enumerate(_f64(xs)) if i != j]
        ref = g.astype(np.float64) * (np.prod(others, axis=0) if others else 1.0)
        np.testing.assert_allclose(d, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape, axis", [((3, 5), 1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 2),
                                         ((4, 8, 33, 31), 1), ((2, 3, 4, 5), 0), ((1, 16385), 1)])
def test_concat_matches_numpy_and_splits_back(isa, shape, axis):
    rng = np.random.default_rng(1)
    xs = []
    for k, extra in enumerate((1, 3, 2)):
        s = list(shape)
        s[axis] = extra + k
        xs.append(rng.standard_normal(s).astype(np.float32))
    want = np.concatenate(xs, axis=axis)
    y = same_for_thread_counts(lambda: F.concat(xs, axis=axis))
    np.testing.assert_array_equal(y, want)
    layer = Concat(axis=axis)
    np.testing.assert_array_equal(layer.forward(xs), want)
    g = rng.standard_normal(want.shape).astype(np.float32)
    parts = same_for_thread_counts(lambda: tuple(layer.backward(g)))
    cuts = np.cumsum([x.shape[axis] for x in xs])[:-1]
    for d, ref, x in zip(parts, np.split(g, cuts, axis=axis), xs):
        assert d.shape == x.shape
        np.testing.assert_array_equal(d, ref)


def test_shape_errors_name_the_layer_and_the_shapes():
    a = np.zeros((2, 3), np.float32)
    b = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"Add 'res': inputs must all have the same shape, got shapes \(2, 3\), \(2, 4\)"):
        Add(name="res").forward([a, b])
    with pytest.raises(ValueError, match=r"Multiply: .*\(2, 3\), \(2, 4\)"):
        Multiply()([a, b])
    with pytest.raises(ValueError, match=r"Concat: inputs must have the same shape except on axis 1"):
        Concat()([np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 5), np.float32)])
    with pytest.raises(ValueError, match="axis=3 is out of range"):
        F.concat([a, a], axis=3)
    with pytest.raises(ValueError, match="add: inputs must all have the same shape"):
        F.add([a, b])
    with pytest.raises(TypeError, match="list of arrays"):
        F.add(a)
    with pytest.raises(ValueError, match="at least one input"):
        F.multiply([])
    with pytest.raises(TypeError, match="integer dtype"):
        F.add([a, np.zeros((2, 3), np.int32)])
    with pytest.raises(TypeError, match="axis must be an int"):
        Concat(axis=1.5)
    with pytest.raises(RuntimeError, match="before forward"):
        Add().backward(a)
    add = Add()
    add.forward([a, a])
    with pytest.raises(ValueError, match="grad_y has shape"):
        add.backward(b)


def test_kernels_check_their_arguments_directly():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        _C.add_forward([a, np.zeros((3, 2), np.float32)])
    with pytest.raises(TypeError, match="float32"):
        _C.multiply_forward([a, a.astype(np.float64)])
    with pytest.raises(TypeError, match="C-contiguous"):
        _C.add_forward([a, np.zeros((3, 2), np.float32).T])
    with pytest.raises(ValueError, match="list"):
        _C.add_forward(a)
    with pytest.raises(ValueError, match="at least one"):
        _C.concat_forward([], 0)
    with pytest.raises(ValueError, match="out of range"):
        _C.concat_forward([a], 2)
    with pytest.raises(ValueError, match="add up to"):
        _C.concat_backward(a, [1, 1], 1)
    with pytest.raises(ValueError, match="grad_y has shape"):
        _C.multiply_backward(np.zeros((3,), np.float32), [a, a])


def test_output_shapes_flops_and_config():
    assert Add().output_shape([(None, 4, 5, 5), (None, 4, 5, 5)]) == (None, 4, 5, 5)
    assert Add().flops([(2, 4), (2, 4), (2, 4)]) == 16
    assert Concat(axis=-1).output_shape([(None, 2, 3), (None, 2, 4)]) == (None, 2, 7)
    assert Concat().flops([(1, 2), (1, 3)]) == 0
    assert Concat(axis=2).get_config() == {"axis": 2}
    assert Add().get_config() == {} and Multiply(name="m").name == "m"
    with pytest.raises(ValueError, match="batch axis"):
        Concat(axis=0).output_shape([(None, 2), (None, 2)])
