"""Naive float64 NumPy oracles for pooling and BatchNorm2d (PyTorch semantics).

Written for clarity, not speed: one Python loop over output positions, each window an
explicit slice clipped to the input. Shapes in the tests are small.
"""

from __future__ import annotations

import math

import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size (dilation 1)."""
    span = n + 2 * p - k
    if span < 0:
        return 0
    o = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside input/left pad
        o -= 1
    return o


def _geometry(x, kernel, stride, padding, ceil_mode):
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    ph, pw = _pair(padding)
    H, W = x.shape[-2:]
    return kh, kw, sh, sw, ph, pw, out_size(H, kh, sh, ph, ceil_mode), out_size(W, kw, sw, pw, ceil_mode)


def _windows(H, W, kh, kw, sh, sw, ph, pw, oh, ow):
    """Yield (oy, ox, y0, y1, x0, x1, hs, he, ws, we): the clipped window and its padded extent."""
    for oy in range(oh):
        hs = oy * sh - ph
        he = min(hs + kh, H + ph)
        for ox in range(ow):
            ws = ox * sw - pw
            we = min(ws + kw, W + pw)
            yield oy, ox, max(hs, 0), min(he, H), max(ws, 0), min(we, W), hs, he, ws, we


def max_pool2d(x, kernel, stride=None, padding=0, ceil_mode=False):
    """-> (y float64, indices int64): first maximum in row-major order; a NaN wins (the last one)."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x, kernel, stride, padding, ceil_mode)
    y = np.empty((N, C, oh, ow))
    idx = np.empty((N, C, oh, ow), dtype=np.int64)
    for oy, ox, y0, y1, x0, x1, *_ in _windows(H, W, kh, kw, sh, sw, ph, pw, oh, ow):
        for n in range(N):
            for c in range(C):
                win = x[n, c, y0:y1, x0:x1]
                flat = win.reshape(-1)
                nan = np.flatnonzero(np.isnan(flat))
                j = nan[-1] if nan.size else int(np.argmax(flat))
                wy, wx = divmod(int(j), x1 - x0)
                y[n, c, oy, ox] = flat[j]
                idx[n, c, oy, ox] = (y0 + wy) * W + (x0 + wx)
    return y, idx


def max_pool2d_backward(grad_y, indices, input_shape):
    g = np.asarray(grad_y, dtype=np.float64)
    N, C, H, W = input_shape
    dx = np.zeros((N, C, H * W))
    for n in range(N):
        for c in range(C):
            np.add.at(dx[n, c], indices[n, c].reshape(-1), g[n, c].reshape(-1))
    return dx.reshape(N, C, H, W)


def avg_pool2d(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x, kernel, stride, padding, ceil_mode)
    y = np.empty((N, C, oh, ow))
    for oy, ox, y0, y1, x0, x1, hs, he, ws, we in _windows(H, W, kh, kw, sh, sw, ph, pw, oh, ow):
        div = (he - hs) * (we - ws) if count_include_pad else (y1 - y0) * (x1 - x0)
        y[:, :, oy, ox] = x[:, :, y0:y1, x0:x1].sum(axis=(2, 3)) / div
    return y


def avg_pool2d_backward(grad_y, input_shape, kernel, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    g = np.asarray(grad_y, dtype=np.float64)
    dx = np.zeros(input_shape)
    H, W = input_shape[2:]
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(dx, kernel, stride, padding, ceil_mode)
    for oy, ox, y0, y1, x0, x1, hs, he, ws, we in _windows(H, W, kh, kw, sh, sw, ph, pw, oh, ow):
        div = (he - hs) * (we - ws) if count_include_pad else (y1 - y0) * (x1 - x0)
        dx[:, :, y0:y1, x0:x1] += (g[:, :, oy, ox] / div)[:, :, None, None]
    return dx


def lp_pool2d(x, norm_type, kernel, stride=None, ceil_mode=False):
    """(sum of x**p over the window clipped to the input) ** (1/p); NaN where PyTorch's is."""
    x = np.asarray(x, dtype=np.float64)
    p = float(norm_type)
    N, C, H, W = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x, kernel, stride, 0, ceil_mode)
    y = np.empty((N, C, oh, ow))
    with np.errstate(invalid="ignore"):
        for oy, ox, y0, y1, x0, x1, *_ in _windows(H, W, kh, kw, sh, sw, ph, pw, oh, ow):
            s = np.power(x[:, :, y0:y1, x0:x1], p).sum(axis=(2, 3))
            y[:, :, oy, ox] = s if p == 1 else np.power(s, 1.0 / p)
    return y


def lp_pool2d_backward(x, grad_y, norm_type, kernel, stride=None, ceil_mode=False):
    """d/dx of sum(lp_pool2d(x) * grad_y): x^(p-1) * S^(1/p - 1) * g, 0 where S == 0 (PyTorch)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad_y, dtype=np.float64)
    p = float(norm_type)
    N, C, H, W = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x, kernel, stride, 0, ceil_mode)
    dx = np.zeros_like(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        for oy, ox, y0, y1, x0, x1, *_ in _windows(H, W, kh, kw, sh, sw, ph, pw, oh, ow):
            win = x[:, :, y0:y1, x0:x1]
            s = np.power(win, p).sum(axis=(2, 3))
            coef = np.where(s == 0, 0.0, g[:, :, oy, ox] * np.power(np.where(s == 0, 1.0, s), 1.0 / p - 1.0))
            dx[:, :, y0:y1, x0:x1] += coef[:, :, None, None] * np.power(win, p - 1.0)
    return dx


def global_avg_pool2d(x):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=(2, 3), keepdims=True)


def global_avg_pool2d_backward(grad_y, input_shape):
    g = np.asarray(grad_y, dtype=np.float64)
    H, W = input_shape[2:]
    return np.broadcast_to(g / (H * W), input_shape).copy()


# --- BatchNorm2d -------------------------------------------------------------------------

def batch_norm2d_train(x, weight, bias, eps):
    """-> (y, mean, invstd, unbiased var), statistics per channel over (N, H, W)."""
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    b = np.zeros(C) if bias is None else np.asarray(bias, dtype=np.float64)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[None, :, None, None]) ** 2).sum(axis=(0, 2, 3)) / m
    invstd = 1.0 / np.sqrt(var + eps)
    y = (x - mean[None, :, None, None]) * (invstd * w)[None, :, None, None] + b[None, :, None, None]
    return y, mean, invstd, var * m / (m - 1)


def batch_norm2d_eval(x, weight, bias, running_mean, running_var, eps):
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    b = np.zeros(C) if bias is None else np.asarray(bias, dtype=np.float64)
    rm = np.asarray(running_mean, dtype=np.float64)
    rv = np.asarray(running_var, dtype=np.float64)
    scale = w / np.sqrt(rv + eps)
    return (x - rm[None, :, None, None]) * scale[None, :, None, None] + b[None, :, None, None]


def batch_norm2d_backward(x, grad_y, weight, mean, invstd):
    """Gradients of the training forward (batch statistics) -> (dx, dweight, dbias)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad_y, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)[None, :, None, None]
    inv = np.asarray(invstd, dtype=np.float64)[None, :, None, None]
    m = x.shape[0] * x.shape[2] * x.shape[3]
    xhat = (x - mean) * inv
    dbias = g.sum(axis=(0, 2, 3))
    dweight = (g * xhat).sum(axis=(0, 2, 3))
    dx = (w[None, :, None, None] * inv / m) * (
        m * g - dbias[None, :, None, None] - xhat * dweight[None, :, None, None]
    )
    return dx, dweight, dbias
