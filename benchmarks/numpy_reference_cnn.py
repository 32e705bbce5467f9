"""A careful pure-NumPy CNN: the baseline pyconvnet is measured against.

What a competent NumPy user would write: vectorised im2col through
`sliding_window_view` + one `numpy.matmul` (OpenBLAS) per convolution, col2im as kh*kw
strided slice additions, 2x2 max pooling by reshaping, in-place Adam. Float32 throughout.
Only what the benchmark networks need: stride-1 convolutions with symmetric padding,
non-overlapping max pooling, ReLU, flatten, linear, inverted dropout, softmax cross-entropy.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Conv:
    def __init__(self, w, b, pad):
        self.w, self.b, self.pad = w, b, pad  # w (OC, C, KH, KW)
        self.params = [w, b]
        self.grads = [np.zeros_like(w), np.zeros_like(b)]

    def forward(self, x, train=True):
        n, c, h, wd = x.shape
        oc, _, kh, kw = self.w.shape
        p = self.pad
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, OH, OW, KH, KW), a view
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)  # one copy
        y = cols @ self.w.reshape(oc, -1).T
        y += self.b
        if train:
            self.cache = (cols, x.shape, xp.shape, oh, ow)
        return np.ascontiguousarray(y.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2))

    def backward(self, dy):
        cols, xshape, xpshape, oh, ow = self.cache
        n, c, h, wd = xshape
        oc, _, kh, kw = self.w.shape
        dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, oc)
        self.grads[0] += (dy2.T @ cols).reshape(self.w.shape)
        self.grads[1] += dy2.sum(axis=0)
        dcols = (dy2 @ self.w.reshape(oc, -1)).reshape(n, oh, ow, c, kh, kw)
        dxp = np.zeros(xpshape, np.float32)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + oh, j:j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        p = self.pad
        return dxp[:, :, p:p + h, p:p + wd] if p else dxp


class ReLU:
    params, grads = [], []

    def forward(self, x, train=True):
        y = np.maximum(x, 0)
        if train:
            self.y = y
        return y

    def backward(self, dy):
        return dy * (self.y > 0)


class MaxPool2:
    params, grads = [], []

    def forward(self, x, train=True):
        n, c, h, w = x.shape
        xr = x.reshape(n, c, h // 2, 2, w // 2, 2)
        y = xr.max(axis=(3, 5))
        if train:
            self.mask = xr == y[:, :, :, None, :, None]
            self.shape = x.shape
        return y

    def backward(self, dy):
        dx = self.mask * dy[:, :, :, None, :, None]
        return dx.reshape(self.shape)


class Flatten:
    params, grads = [], []

    def forward(self, x, train=True):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Linear:
    def __init__(self, w, b):
        self.w, self.b = w, b  # w (out, in)
        self.params = [w, b]
        self.grads = [np.zeros_like(w), np.zeros_like(b)]

    def forward(self, x, train=True):
        if train:
            self.x = x
        y = x @ self.w.T
        y += self.b
        return y

    def backward(self, dy):
        self.grads[0] += dy.T @ self.x
        self.grads[1] += dy.sum(axis=0)
        return dy @ self.w


class Dropout:
    params, grads = [], []

    def __init__(self, p, seed=0):
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x, train=True):
        if not train or self.p == 0:
            return x
        self.mask = (self.rng.random(x.shape, dtype=np.float32) >= self.p).astype(np.float32) / (1 - self.p)
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


def softmax_cross_entropy(logits, target):
    """Mean loss and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), target]))
    grad = e / s
    grad[np.arange(n), target] -= 1
    grad /= n
    return loss, grad


class Adam:
    def __init__(self, params, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.grads = params, grads
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = [np.empty_like(p) for p in params]

    def step(self):
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = np.sqrt(1 - self.b2**self.t)
        for p, g, m, v, tmp in zip(self.params, self.grads, self.m, self.v, self.tmp):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - self.b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= c2
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= -self.lr / c1
            p += tmp


class Net:
    def __init__(self, layers, lr=1e-3):
        self.layers = layers
        params = [p for layer in layers for p in layer.params]
        grads = [g for layer in layers for g in layer.grads]
        self.grads = grads
        self.opt = Adam(params, grads, lr)

    def predict(self, x):
        for layer in self.layers:
            x = layer.forward(x, train=False)
        return x

    def train_step(self, x, y):
        for g in self.grads:
            g.fill(0)
        h = x
        for layer in self.layers:
            h = layer.forward(h, train=True)
        loss, d = softmax_cross_entropy(h, y)
        for layer in reversed(self.layers):
            d = layer.backward(d)
        self.opt.step()
        return loss


def from_pyconvnet(model) -> Net:
    """The same network with copies of a pyconvnet Sequential's weights."""
    from pyconvnet import layers as L

    out = []
    for layer in model.layers:
        if isinstance(layer, L.Conv2d):
            assert layer.stride == (1, 1) and layer.padding4[0] == layer.padding4[2]
            out.append(Conv(layer.weight.data.copy(), layer.bias.data.copy(), layer.padding4[0]))
        elif isinstance(layer, L.ReLU):
            out.append(ReLU())
        elif isinstance(layer, L.MaxPool2d):
            assert layer.kernel_size == (2, 2) and layer.stride == (2, 2)
            out.append(MaxPool2())
        elif isinstance(layer, L.Flatten):
            out.append(Flatten())
        elif isinstance(layer, L.Linear):
            out.append(Linear(layer.weight.data.copy(), layer.bias.data.copy()))
        elif isinstance(layer, L.Dropout):
            out.append(Dropout(layer.p))
        else:
            raise TypeError(f"no NumPy reference for {type(layer).__name__}")
    return Net(out)
