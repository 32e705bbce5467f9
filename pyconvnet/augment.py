"""Data augmentation on NCHW float batches.

Every transform is a callable ``t(x, rng)``: ``x`` is an ``(N, C, H, W)`` batch of real floats
(converted once to float32), ``rng`` a :class:`numpy.random.Generator`. It returns a **new**
float32 batch (the input is never modified) and draws its random parameters **per image** from
``rng``, so the same seed reproduces a run. Every transform keeps the shape of the batch, apart
from :class:`RandomCrop` whose output is ``size`` (equal to the input size in the usual
"pad, then crop back" use).

Everything is vectorised across the batch (flips and crops by fancy indexing, rotation by one
bilinear gather), so augmentation costs a small fraction of a training step::

    from pyconvnet import augment
    aug = augment.Compose([augment.RandomCrop(28, padding=2), augment.RandomHorizontalFlip()])
    model.fit(x, y, epochs=5, augment=aug, seed=0)

Geometry conventions: ``W`` is the last axis; a horizontal flip reverses ``W``; a translation
by ``(dy, dx)`` moves content down/right (``out[y, x] = in[y - dy, x - dx]``); a rotation by a
positive angle is counter-clockwise on screen (as ``np.rot90`` and torchvision), about the
image centre ``((H - 1) / 2, (W - 1) / 2)``. Pixels that come from outside the image are 0.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import as_float_array, as_float_scalar, as_pair, as_probability

__all__ = [
    "Compose",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomCrop",
    "Grayscale",
    "ColorJitter",
    "RandomTranslate",
    "RandomRotation",
]

# ITU-R 601-2 luma weights (what PIL and torchvision use for RGB -> L).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _check_batch(x) -> np.ndarray:
    return as_float_array(x, "x", ndim=4, what="(an NCHW batch of images)")


class Transform:
    """Base class: subclasses implement ``_apply(x, rng)`` on a validated float32 batch."""

    def __call__(self, x, rng) -> np.ndarray:
        x = _check_batch(x)
        rng = _check_rng(rng)
        return self._apply(x, rng)

    def _apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{type(self).__name__}({args})"

    def _repr_args(self) -> dict:
        return {}


class Compose(Transform):
    """Apply ``transforms`` one after the other (each gets the same ``rng``)."""

    def __init__(self, transforms):
        try:
            transforms = list(transforms)
        except TypeError:
            raise TypeError(
                f"transforms must be a list of callables t(x, rng), got {type(transforms).__name__}"
            ) from None
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be a callable t(x, rng), got {type(t).__name__}")
        self.transforms = transforms

    def _apply(self, x, rng):
        out = x
        for t in self.transforms:
            out = t(out, rng)
        if out is x:  # an empty Compose still returns a new batch
            out = x.copy()
        return out

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class _RandomFlip(Transform):
    _axis = -1

    def __init__(self, p: float = 0.5):
        self.p = as_probability(p, "p")

    def _apply(self, x, rng):
        flip = np.flatnonzero(rng.random(x.shape[0]) < self.p)
        out = x.copy()
        if flip.size:
            src = x[flip]
            out[flip] = src[..., ::-1] if self._axis == -1 else src[..., ::-1, :]
        return out

    def _repr_args(self):
        return {"p": self.p}


class RandomHorizontalFlip(_RandomFlip):
    """Reverse the width axis of each image with probability ``p``."""

    _axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Reverse the height axis of each image with probability ``p``."""

    _axis = -2


def _crop_at(padded: np.ndarray, oy: np.ndarray, ox: np.ndarray, h: int, w: int) -> np.ndarray:
    """``out[n] = padded[n, :, oy[n]:oy[n]+h, ox[n]:ox[n]+w]`` for all n, in one gather."""
    n = padded.shape[0]
    # Windows view (N, C, Hp-h+1, Wp-w+1, h, w) costs nothing; the fancy index on axes 0, 2, 3
    # (separated by a slice) puts the batch axis first: result (N, C, h, w), one copy.
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    return np.ascontiguousarray(windows[np.arange(n), :, oy, ox])


def _zero_pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=np.float32)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


class RandomCrop(Transform):
    """Zero-pad each side by ``padding``, then cut a ``size`` window at a random position.

    ``size`` is an int (square) or ``(h, w)``; ``padding`` an int or ``(ph, pw)`` (pixels added
    on top and bottom / left and right). The output is ``(N, C, h, w)``; with ``size`` equal to
    the image size (the usual ``RandomCrop(32, padding=4)``) the batch keeps its shape.
    """

    def __init__(self, size, padding=0):
        self.size = as_pair(size, "size", minimum=1)
        self.padding = as_pair(padding, "padding", minimum=0)

    def _apply(self, x, rng):
        n, _, h, w = x.shape
        ch, cw = self.size
        ph, pw = self.padding
        hp, wp = h + 2 * ph, w + 2 * pw
        if ch > hp or cw > wp:
            raise ValueError(
                f"size {self.size} is larger than the padded image ({hp}, {wp}) "
                f"(input {h}x{w}, padding {self.padding})"
            )
        oy = rng.integers(0, hp - ch + 1, size=n)
        ox = rng.integers(0, wp - cw + 1, size=n)
        return _crop_at(_zero_pad(x, ph, pw), oy, ox, ch, cw)

    def _repr_args(self):
        return {"size": self.size, "padding": self.padding}


class RandomTranslate(Transform):
    """Shift each image by a random whole number of pixels, filling with zeros.

    ``max_shift`` is an int or ``(max_dy, max_dx)``: ``dy`` is drawn uniformly from
    ``[-max_dy, max_dy]`` and ``dx`` from ``[-max_dx, max_dx]`` (integers, both ends included);
    ``out[y, x] = in[y - dy, x - dx]``.
    """

    def __init__(self, max_shift):
        self.max_shift = as_pair(max_shift, "max_shift", minimum=0)

    def _apply(self, x, rng):
        n, _, h, w = x.shape
        sy, sx = self.max_shift
        dy = rng.integers(-sy, sy + 1, size=n)
        dx = rng.integers(-sx, sx + 1, size=n)
        # Shifts larger than the image simply give an empty (all-zero) image.
        py, px = min(sy, h), min(sx, w)
        dy = np.clip(dy, -py, py)
        dx = np.clip(dx, -px, px)
        return _crop_at(_zero_pad(x, py, px), py - dy, px - dx, h, w)

    def _repr_args(self):
        return {"max_shift": self.max_shift}


def _gray(x: np.ndarray) -> np.ndarray:
    """Luminance (N, 1, H, W) of a 1- or 3-channel batch."""
    if x.shape[1] == 1:
        return x
    return np.einsum("nchw,c->nhw", x, _LUMA, optimize=False)[:, None]


def _check_color_channels(x: np.ndarray, who: str) -> None:
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{who} needs 1-channel (gray) or 3-channel (RGB) images, got x with shape {x.shape}")


class Grayscale(Transform):
    """Replace RGB by its luminance ``0.299 R + 0.587 G + 0.114 B`` in every channel.

    The output keeps the channel count (3 equal channels); a 1-channel batch is returned
    unchanged (as a copy). Deterministic: ``rng`` is checked but not used.
    """

    def _apply(self, x, rng):
        _check_color_channels(x, "Grayscale")
        if x.shape[1] == 1:
            return x.copy()
        return np.ascontiguousarray(np.broadcast_to(_gray(x), x.shape))


def _factor_range(v, name: str) -> tuple[float, float]:
    v = as_float_scalar(v, name)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return (max(0.0, 1.0 - v), 1.0 + v)


class ColorJitter(Transform):
    """Random brightness, contrast and saturation, one factor of each per image.

    As torchvision: a factor is drawn uniformly from ``[max(0, 1 - v), 1 + v]`` for
    ``v = brightness, contrast, saturation`` (0 disables that adjustment) and the image becomes
    ``blend(img, ref, f) = f * img + (1 - f) * ref`` with ``ref`` = 0 (brightness), the mean
    luminance of the image (contrast) or its per-pixel luminance (saturation; a no-op on
    1-channel images). The adjustments run in that fixed order, each followed by clipping to
    ``[0, 1]`` (images are expected in ``[0, 1]``; pass ``clip=False`` for standardised data).
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, *, clip: bool = True):
        self.brightness = as_float_scalar(brightness, "brightness")
        self.contrast = as_float_scalar(contrast, "contrast")
        self.saturation = as_float_scalar(saturation, "saturation")
        self._ranges = {
            "brightness": _factor_range(brightness, "brightness"),
            "contrast": _factor_range(contrast, "contrast"),
            "saturation": _factor_range(saturation, "saturation"),
        }
        if not isinstance(clip, (bool, np.bool_)):
            raise TypeError(f"clip must be a bool, got {type(clip).__name__}")
        self.clip = bool(clip)

    def _factors(self, name: str, n: int, rng: np.random.Generator):
        lo, hi = self._ranges[name]
        if lo == hi == 1.0:
            return None
        return rng.uniform(lo, hi, size=n).astype(np.float32).reshape(n, 1, 1, 1)

    def _apply(self, x, rng):
        _check_color_channels(x, "ColorJitter")
        n = x.shape[0]
        fb = self._factors("brightness", n, rng)
        fc = self._factors("contrast", n, rng)
        fs = self._factors("saturation", n, rng)
        out = x.copy()
        if fb is not None:
            out *= fb
            self._clip(out)
        if fc is not None:
            mean = _gray(out).mean(axis=(1, 2, 3), keepdims=True, dtype=np.float32)
            out *= fc
            out += (1.0 - fc) * mean
            self._clip(out)
        if fs is not None and x.shape[1] == 3:
            gray = _gray(out)
            out *= fs
            out += (1.0 - fs) * gray
            self._clip(out)
        return out

    def _clip(self, out):
        if self.clip:
            np.clip(out, 0.0, 1.0, out=out)

    def _repr_args(self):
        return {"brightness": self.brightness, "contrast": self.contrast, "saturation": self.saturation}


class RandomRotation(Transform):
    """Rotate each image by a random angle about its centre (bilinear, zero fill).

    ``degrees`` is a number ``d`` (angle uniform in ``[-d, d]``) or a pair ``(lo, hi)``.
    Positive angles turn the content counter-clockwise on screen. Output pixel ``(y, x)`` takes
    the bilinear interpolation of the input at the inversely rotated position; neighbours outside
    the image count as 0, so edges fade out as with ``grid_sample(padding_mode="zeros")``.
    """

    def __init__(self, degrees):
        if isinstance(degrees, (tuple, list)):
            if len(degrees) != 2:
                raise ValueError(f"degrees must be a number or a pair (lo, hi), got {degrees!r}")
            lo = as_float_scalar(degrees[0], "degrees")
            hi = as_float_scalar(degrees[1], "degrees")
        else:
            d = as_float_scalar(degrees, "degrees")
            if d < 0:
                raise ValueError(f"degrees must be >= 0 when given as one number, got {d}")
            lo, hi = -d, d
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ValueError(f"degrees must be finite with lo <= hi, got {degrees!r}")
        self.degrees = (lo, hi)

    def _apply(self, x, rng):
        n, c, h, w = x.shape
        theta = np.deg2rad(rng.uniform(self.degrees[0], self.degrees[1], size=n))
        return _rotate(x, theta)

    def _repr_args(self):
        return {"degrees": self.degrees}


def _rotate(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Rotate image n of ``x`` by ``theta[n]`` radians (counter-clockwise), bilinear, zero fill.

    One vectorised gather for the whole batch: the source is zero-padded by 2 pixels so that
    every clipped corner index lands either on a real pixel or on the zero border, which
    removes all per-corner validity masks.
    """
    n, c, h, w = x.shape
    cos = np.cos(theta).astype(np.float32)
    sin = np.sin(theta).astype(np.float32)
    # Snap the tiny residues of cos/sin at multiples of 90 degrees so those rotations are exact.
    cos[np.abs(cos) < 1e-6] = 0.0
    sin[np.abs(sin) < 1e-6] = 0.0
    cy, cx = np.float32((h - 1) / 2.0), np.float32((w - 1) / 2.0)
    u = (np.arange(w, dtype=np.float32) - cx)[None, None, :]  # right of the centre
    v = (cy - np.arange(h, dtype=np.float32))[None, :, None]  # above the centre
    cos = cos[:, None, None]
    sin = sin[:, None, None]
    # Source position = inverse rotation of the output position (frame with v pointing up).
    xs = u * cos + v * sin
    xs += cx
    ys = u * sin - v * cos
    ys += cy
    x0 = np.floor(xs)
    y0 = np.floor(ys)
    fx = xs - x0  # (N, H, W) bilinear weights
    fy = ys - y0
    pad = 2
    hp, wp = h + 2 * pad, w + 2 * pad
    # Corners left of -1 or right of w are zero either way: clip into the zero border.
    np.clip(x0, -pad, w, out=x0)
    np.clip(y0, -pad, h, out=y0)
    idx = (y0 + pad).astype(np.intp) * wp
    idx += (x0 + pad).astype(np.intp)
    idx += (np.arange(n, dtype=np.intp) * (hp * wp))[:, None, None]
    # Channels last, so one gather fetches the C values of a pixel together.
    src = np.zeros((n, hp, wp, c), dtype=np.float32)
    src[:, pad : pad + h, pad : pad + w, :] = x.transpose(0, 2, 3, 1)
    src = src.reshape(-1, c) if c > 1 else src.reshape(-1)
    g00 = np.take(src, idx, axis=0)
    g01 = np.take(src, idx + 1, axis=0)
    idx += wp
    g10 = np.take(src, idx, axis=0)
    g11 = np.take(src, idx + 1, axis=0)
    if c > 1:
        fx = fx[..., None]
        fy = fy[..., None]
    # Interpolate along x on the top and bottom rows, then along y (all in place).
    g01 -= g00
    g01 *= fx
    g00 += g01
    g11 -= g10
    g11 *= fx
    g10 += g11
    g10 -= g00
    g10 *= fy
    g00 += g10
    if c == 1:
        return g00.reshape(n, 1, h, w)
    return np.ascontiguousarray(g00.transpose(0, 3, 1, 2))
