"""Float64 NumPy oracle for 2-D convolution and its gradients, independent of pyconvnet.

Nothing here imports pyconvnet: the padding placement, the forward sum and the three gradient
formulas are written out from their definitions, so a bug in the implementation's padding
normalisation or kernels cannot also be in the oracle.

Definitions (NCHW input x, OIHW weight w, G groups, C/G input and O/G output channels each):
    xp = x zero-padded by (top, bottom) rows and (left, right) columns
    y[n, o, i, j] = b[o] + sum_{c, ky, kx} w[o, c, ky, kx] * xp[n, g*C/G + c, i*sh + ky*dh, j*sw + kx*dw]
with g = o // (O/G). For a loss L with dL/dy = dy:
    db[o]            = sum_{n, i, j} dy[n, o, i, j]
    dw[o, c, ky, kx] = sum_{n, i, j} dy[n, o, i, j] * xp[n, g*C/G + c, i*sh + ky*dh, j*sw + kx*dw]
    dxp[n, g*C/G + c, i*sh + ky*dh, j*sw + kx*dw] += sum_o dy[n, o, i, j] * w[o, c, ky, kx]
and dx is dxp with the padding cut off.
"""

from __future__ import annotations

import numpy as np


def same_padding(kernel, dilation):
    """PyTorch's documented 'same' rule, per axis: total = d*(k-1), before = total // 2, after the rest.

    Returns (top, left, bottom, right).
    """
    total_h = dilation[0] * (kernel[0] - 1)
    total_w = dilation[1] * (kernel[1] - 1)
    top, left = total_h // 2, total_w // 2
    return top, left, total_h - top, total_w - left


def _geometry(x_shape, w_shape, stride, pad4, dilation):
    _, _, h, w = x_shape
    _, _, kh, kw = w_shape
    t, l, b, r = pad4
    oh = (h + t + b - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + l + r - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return oh, ow


def _tap(xp, ky, kx, oh, ow, stride, dilation):
    """The (N, C, oh, ow) slice of the padded input that kernel tap (ky, kx) multiplies."""
    y0, x0 = ky * dilation[0], kx * dilation[1]
    return xp[:, :, y0:y0 + stride[0] * (oh - 1) + 1:stride[0], x0:x0 + stride[1] * (ow - 1) + 1:stride[1]]


def conv2d(x, w, b=None, stride=(1, 1), pad4=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Forward convolution in float64; pad4 = (top, left, bottom, right)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    assert c == cg * groups and o % groups == 0
    og = o // groups
    oh, ow = _geometry(x.shape, w.shape, stride, pad4, dilation)
    t, l, bt, r = pad4
    xp = np.pad(x, ((0, 0), (0, 0), (t, bt), (l, r)))
    y = np.zeros((n, o, oh, ow))
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        for ky in range(kh):
            for kx in range(kw):
                patch = _tap(xg, ky, kx, oh, ow, stride, dilation)
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, ky, kx])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv2d_grads(x, w, dy, stride=(1, 1), pad4=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """(dx, dw, db) in float64 for upstream gradient dy, from the formulas in the module docstring."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    oh, ow = dy.shape[2:]
    assert (oh, ow) == _geometry(x.shape, w.shape, stride, pad4, dilation)
    t, l, bt, r = pad4
    xp = np.pad(x, ((0, 0), (0, 0), (t, bt), (l, r)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        dxg = dxp[:, g * cg:(g + 1) * cg]
        dyg = dy[:, g * og:(g + 1) * og]
        for ky in range(kh):
            for kx in range(kw):
                dw[g * og:(g + 1) * og, :, ky, kx] = np.einsum(
                    "nohw,nchw->oc", dyg, _tap(xg, ky, kx, oh, ow, stride, dilation))
                # _tap returns a view, so += scatters into dxp
                _tap(dxg, ky, kx, oh, ow, stride, dilation)[...] += np.einsum(
                    "nohw,oc->nchw", dyg, w[g * og:(g + 1) * og, :, ky, kx])
    dx = dxp[:, :, t:t + h, l:l + wd]
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db


def assert_close_to_scale(actual, expected, rtol, what):
    """max |actual - expected| <= rtol * max |expected|: float32 kernels are ~1e-6 relative to the
    result's scale, so rtol 1e-5 leaves a margin yet fails a 0.1 % scaling error."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected)))
    err = float(np.max(np.abs(actual - expected)))
    assert err <= rtol * scale, f"{what}: max error {err:.3g} > {rtol:g} * scale {scale:.3g} (ratio {err / scale:.3g})"
