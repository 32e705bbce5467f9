"""Naive float64 oracles for convolution, linear and GEMM (written for clarity, not speed)."""

from __future__ import annotations

import numpy as np


def _pad(x, pad4):
    t, l, b, r = pad4
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))


def conv2d(x, w, bias=None, stride=(1, 1), pad4=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    sh, sw = stride
    dh, dw = dilation
    xp = _pad(x, pad4)
    hp, wp = xp.shape[2:]
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    ocg = oc // groups
    y = np.zeros((n, oc, oh, ow))
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * ocg:(g + 1) * ocg]
        for ky in range(kh):
            for kx in range(kw):
                patch = xg[:, :, ky * dh: ky * dh + sh * (oh - 1) + 1: sh, kx * dw: kx * dw + sw * (ow - 1) + 1: sw]
                y[:, g * ocg:(g + 1) * ocg] += np.einsum("nchw,oc->nohw", patch, wg[:, :, ky, kx])
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y


def conv2d_backward(x, w, gy, stride=(1, 1), pad4=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """(dx, dw, db) of sum(conv2d(x, w, b) * gy)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    gy = np.asarray(gy, np.float64)
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    sh, sw = stride
    dh, dw = dilation
    t, l, b, r = pad4
    xp = _pad(x, pad4)
    dxp = np.zeros_like(xp)
    dwt = np.zeros_like(w)
    oh, ow = gy.shape[2:]
    ocg = oc // groups
    for g in range(groups):
        cs, os_ = slice(g * cg, (g + 1) * cg), slice(g * ocg, (g + 1) * ocg)
        for ky in range(kh):
            for kx in range(kw):
                ys = slice(ky * dh, ky * dh + sh * (oh - 1) + 1, sh)
                xs = slice(kx * dw, kx * dw + sw * (ow - 1) + 1, sw)
                patch = xp[:, cs, ys, xs]
                dwt[os_, :, ky, kx] += np.einsum("nchw,nohw->oc", patch, gy[:, os_])
                dxp[:, cs, ys, xs] += np.einsum("nohw,oc->nchw", gy[:, os_], w[os_, :, ky, kx])
    dx = dxp[:, :, t:t + h, l:l + wd]
    db = gy.sum(axis=(0, 2, 3))
    return dx, dwt, db


def linear(x, w, b=None):
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64).T
    if b is not None:
        y = y + np.asarray(b, np.float64)
    return y
