"""Datasets: IDX files (MNIST, Fashion-MNIST), generated shapes, scikit-learn's 8x8 digits.

Nothing here downloads anything. :func:`load_idx` reads files you already have::

    from pyconvnet import datasets
    x = datasets.load_idx("train-images-idx3-ubyte.gz")      # uint8, (60000, 28, 28)
    y = datasets.load_idx("train-labels-idx1-ubyte.gz")      # uint8, (60000,)
    x = x.astype(np.float32)[:, None] / 255                  # NCHW float32 in [0, 1]
    y = y.astype(np.int64)

:func:`make_shapes` generates a small classification + localisation problem in memory, and
:func:`make_scenes` a detection + segmentation one (several objects per image).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from ._validate import as_int

__all__ = ["load_idx", "make_shapes", "make_scenes", "load_digits", "SHAPE_NAMES", "SCENE_CLASSES"]

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# Deflate's largest expansion is about 1032:1 (a 258-byte match coded in 2 bits): a gzip file
# of S bytes cannot decompress to more than this many times S, whatever its header claims.
_MAX_DEFLATE_RATIO = 1032


def _read_exact(f, n: int, path) -> np.ndarray:
    """Read exactly ``n`` bytes into one buffer, in bounded chunks, then require end of file.

    The buffer is allocated once for the size the caller has already bounded; a decompressed
    stream longer than ``n`` is stopped at the first byte past it.
    """
    try:
        buf = np.empty(n, np.uint8)
    except MemoryError:
        raise ValueError(
            f"{os.fspath(path)!r}: the IDX header announces {n} bytes of data, more than this "
            f"process can allocate (a wrong header, or a file too large for memory)"
        ) from None
    view = memoryview(buf)
    got = 0
    while got < n:
        k = f.readinto(view[got:got + min(_CHUNK, n - got)])
        if not k:
            raise ValueError(
                f"{os.fspath(path)!r} is truncated: the IDX header announces {n} bytes of data, "
                f"the file holds {got}"
            )
        got += k
    if f.read(1):
        raise ValueError(
            f"{os.fspath(path)!r} has data after the {n} bytes announced by its IDX header "
            f"(wrong dimensions in the header, or not an IDX file)"
        )
    return buf


def _read_header(f, path):
    head = f.read(4)
    if len(head) < 4:
        raise ValueError(f"{os.fspath(path)!r} is too short to be an IDX file ({len(head)} bytes)")
    if head[0] != 0 or head[1] != 0:
        raise ValueError(
            f"{os.fspath(path)!r} is not an IDX file: magic number 0x{head.hex()} "
            f"does not start with two zero bytes (expected e.g. 0x00000803 for images)"
        )
    code, ndim = head[2], head[3]
    if code not in _IDX_DTYPES:
        raise ValueError(
            f"{os.fspath(path)!r}: unknown IDX data type code 0x{code:02x} in magic number "
            f"0x{head.hex()} (expected one of {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)})"
        )
    if ndim == 0:
        raise ValueError(f"{os.fspath(path)!r}: IDX magic number 0x{head.hex()} declares 0 dimensions")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise ValueError(f"{os.fspath(path)!r} is truncated inside its IDX header ({ndim} dimensions announced)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    return _IDX_DTYPES[code], dims


def load_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), gzip-compressed or plain.

    Compression is detected from the file's first bytes, not its name. The magic number
    (``0x00000803`` for MNIST images, ``0x00000801`` for labels: two zero bytes, a type code,
    the number of dimensions), the dimensions and the payload length are all checked: a
    truncated file, one with trailing data, or one whose header does not match its data raises
    ``ValueError``. A gzip file is checked against its header before it is decompressed (a header
    asking for more than the compressed size could hold is refused at once) and is streamed into
    one buffer of the declared size, stopping one byte past it.

    Returns the array with the header's shape and its native dtype: ``uint8`` for MNIST
    (``0x08``), so convert images with ``x.astype(np.float32)[:, None] / 255`` (NCHW in [0, 1])
    and labels with ``y.astype(np.int64)``. Other IDX types (int8, int16, int32, float32,
    float64) are returned in native byte order.
    """
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        file_size = os.fstat(raw.fileno()).st_size
        try:
            f = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
            dtype, dims = _read_header(f, path)
            n = dtype.itemsize
            for d in dims:
                n *= d
            if not is_gzip and n != file_size - 4 - 4 * len(dims):
                have = file_size - 4 - 4 * len(dims)
                what = "truncated" if have < n else "longer than its header says"
                raise ValueError(
                    f"{path!r} is {what}: IDX header shape {dims} of {dtype.name} needs {n} bytes "
                    f"of data, the file holds {have}"
                )
            if is_gzip and n > _MAX_DEFLATE_RATIO * file_size:
                raise ValueError(
                    f"{path!r} is truncated: IDX header shape {dims} of {dtype.name} needs {n} bytes "
                    f"of data, more than a {file_size}-byte gzip file can hold "
                    f"(deflate expands at most {_MAX_DEFLATE_RATIO}:1)"
                )
            data = _read_exact(f, n, path)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            if isinstance(exc, FileNotFoundError):  # pragma: no cover - open() raised it already
                raise
            raise ValueError(f"{path!r} is a corrupt gzip file: {exc}") from None
        except Exception as exc:
            if isinstance(exc, ValueError):
                raise
            raise ValueError(f"{path!r} could not be read as an IDX file: {exc}") from None
    arr = np.frombuffer(data, dtype=dtype).reshape(dims)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


# ---------------------------------------------------------------------------------------------
# Generated shapes

SHAPE_NAMES = ("square", "circle", "triangle", "plus", "ring", "cross", "frame", "diamond")
"""Class names of :func:`make_shapes`; label ``k`` is ``SHAPE_NAMES[k]``."""


def _shape_mask(kind: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Boolean masks (n, S, S) of one shape class; dx, dy are pixel-centre offsets from the
    shape centre (n, S, S) and r the half extent (n, 1, 1). Every shape fills its box
    [cx - r, cx + r] x [cy - r, cy + r] from edge to edge."""
    ax, ay = np.abs(dx), np.abs(dy)
    inside = (ax <= r) & (ay <= r)
    t = 0.3 * r  # stroke half-width of the line shapes
    if kind == 0:  # filled square
        return inside
    if kind == 1:  # disc
        return dx * dx + dy * dy <= r * r
    if kind == 2:  # triangle, apex up, base at the bottom
        return inside & (ax <= (dy + r) * 0.5)
    if kind == 3:  # plus
        return inside & ((ax <= t) | (ay <= t))
    if kind == 4:  # ring
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    if kind == 5:  # diagonal cross (X)
        return inside & (np.abs(ax - ay) <= t)
    if kind == 6:  # hollow square
        return inside & ((ax >= 0.6 * r) | (ay >= 0.6 * r))
    if kind == 7:  # diamond
        return ax + ay <= r
    raise AssertionError(kind)  # pragma: no cover


def make_shapes(n, size=32, seed=0, *, channels=1, classes=None, noise=0.05):
    """Generate ``n`` images of simple shapes with class labels and bounding boxes.

    Each image holds one shape of a random class among :data:`SHAPE_NAMES` (square, circle,
    triangle, plus, ring, cross, frame, diamond) with a random size (half extent 18-40 % of the
    image) and position (entirely inside the image), a random brightness in [0.6, 1] (a random
    colour when ``channels=3``) and Gaussian pixel noise of std ``noise``, clipped to [0, 1].
    The same ``seed`` gives the same data.

    Parameters: ``n`` images, ``size`` pixels square (>= 8), ``channels`` 1 or 3, ``classes`` an
    optional list of class indices to draw from (labels keep their global index, e.g.
    ``classes=[4, 5]`` gives labels 4 and 5 only).

    Returns ``(images, labels, boxes)``:
    ``images`` float32 ``(n, channels, size, size)`` in [0, 1];
    ``labels`` int64 ``(n,)``;
    ``boxes`` float32 ``(n, 4)`` as ``(x0, y0, x1, y1)`` **normalised to [0, 1]** by the image
    size (x to the right, y down; multiply by ``size`` for pixels, where pixel ``(i, j)`` covers
    ``[j, j + 1] x [i, i + 1]``).
    """
    n = as_int(n, "n", minimum=0)
    size = as_int(size, "size", minimum=8)
    seed = as_int(seed, "seed", minimum=0)
    channels = as_int(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if classes is None:
        classes = np.arange(len(SHAPE_NAMES))
    else:
        try:
            classes = np.array([as_int(c, "classes") for c in classes], dtype=np.int64)
        except TypeError:
            raise TypeError(f"classes must be a list of class indices, got {classes!r}") from None
        if classes.size == 0 or classes.min() < 0 or classes.max() >= len(SHAPE_NAMES):
            raise ValueError(
                f"classes must be a non-empty list of indices in [0, {len(SHAPE_NAMES) - 1}], "
                f"got {classes.tolist()}"
            )
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < 1:
        raise ValueError(f"noise must be a number in [0, 1), got {noise!r}")

    rng = np.random.default_rng(seed)
    labels = classes[rng.integers(0, len(classes), size=n)].astype(np.int64)
    r = rng.uniform(0.18, 0.40, size=n) * size  # half extent in pixels
    cx = rng.uniform(r, size - r)
    cy = rng.uniform(r, size - r)
    if channels == 1:
        color = rng.uniform(0.6, 1.0, size=(n, 1))
    else:
        color = rng.uniform(0.0, 1.0, size=(n, 3))
        color[np.arange(n), rng.integers(0, 3, size=n)] = 1.0  # one strong component: visible
        color *= rng.uniform(0.6, 1.0, size=(n, 1))
    images = rng.normal(0.0, noise, size=(n, channels, size, size)).astype(np.float32) if noise else (
        np.zeros((n, channels, size, size), dtype=np.float32)
    )

    centres = np.arange(size, dtype=np.float64) + 0.5
    for kind in np.unique(labels):
        sel = np.flatnonzero(labels == kind)
        dx = centres[None, None, :] - cx[sel, None, None]
        dy = centres[None, :, None] - cy[sel, None, None]
        mask = _shape_mask(int(kind), dx, dy, r[sel, None, None])
        images[sel] += (mask[:, None] * color[sel, :, None, None]).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)

    boxes = np.stack([cx - r, cy - r, cx + r, cy + r], axis=1) / size
    return images, labels, boxes.astype(np.float32)


SCENE_CLASSES = ("background", "square", "circle", "triangle")


def _scene_shape(label: int, side: int) -> np.ndarray:
    """Boolean (side, side) mask of one scene object, sampled at pixel centres; it touches
    all four edges of its square (square, disc, triangle with its apex up)."""
    c = (np.arange(side) + 0.5) / side  # pixel centres in (0, 1)
    u, v = c[None, :], c[:, None]  # u: x to the right, v: y down
    if label == 1:
        return np.ones((side, side), bool)
    if label == 2:
        return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    return np.abs(u - 0.5) <= v / 2


def make_scenes(n, size=64, max_objects=4, seed=None):
    """Generate ``n`` scenes of non-overlapping shapes for detection and segmentation.

    Each image holds 1 to ``max_objects`` objects (fewer when the image is too full to place
    another): squares, discs and triangles (labels 1, 2, 3; :data:`SCENE_CLASSES` names them,
    0 is the background), each of a random side between ``size // 8`` and ``size // 3`` pixels
    (at least 5), at a random position. Objects never overlap or touch: a gap of at least one
    pixel separates their squares. Every object has a random colour with one channel at full
    strength, over a dark background of a random colour (each channel in [0, 0.35]); Gaussian
    noise (std 0.05) is added to every pixel and the result clipped to [0, 1]. The colour says
    nothing about the class: only the shape does. The same ``seed`` gives the same scenes;
    ``seed=None`` draws fresh ones.

    Returns ``(images, masks, boxes, labels)``:
    ``images`` float32 ``(n, 3, size, size)`` in [0, 1];
    ``masks`` int64 ``(n, size, size)``, the label of the object covering each pixel (0 for
    the background);
    ``boxes`` a list of ``n`` float32 arrays ``(K_i, 4)`` of ``(x1, y1, x2, y2)`` in pixels, the
    tight box of each object's pixels (pixel ``(row, col)`` covers ``[col, col + 1] x
    [row, row + 1]``, so ``x1`` = first column, ``x2`` = last column + 1);
    ``labels`` a list of ``n`` int64 arrays ``(K_i,)`` with values in 1..3.
    """
    n = as_int(n, "n", minimum=0)
    size = as_int(size, "size", minimum=16)
    max_objects = as_int(max_objects, "max_objects", minimum=1)
    if seed is not None:
        seed = as_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    lo = max(5, size // 8)
    hi = max(lo, size // 3)
    images = np.empty((n, 3, size, size), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    all_boxes, all_labels = [], []
    for i in range(n):
        images[i] = rng.uniform(0.0, 0.35, size=(3, 1, 1))
        wanted = int(rng.integers(1, max_objects + 1))
        placed = []  # (x0, y0, side) of each object's square
        boxes, labels = [], []
        for _ in range(wanted):
            for _attempt in range(30):
                side = int(rng.integers(lo, hi + 1))
                x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
                # Squares at least one pixel apart: their masks can never touch.
                if all(x0 > px + ps or px > x0 + side or y0 > py + ps or py > y0 + side
                       for px, py, ps in placed):
                    break
            else:
                continue  # no room left for this object
            placed.append((x0, y0, side))
            label = int(rng.integers(1, len(SCENE_CLASSES)))
            shape = _scene_shape(label, side)
            masks[i, y0:y0 + side, x0:x0 + side][shape] = label
            colour = rng.uniform(0.3, 1.0, size=3)
            colour[rng.integers(0, 3)] = 1.0
            images[i, :, y0:y0 + side, x0:x0 + side][:, shape] = colour[:, None]
            rows, cols = np.nonzero(shape)
            boxes.append((x0 + cols.min(), y0 + rows.min(), x0 + cols.max() + 1, y0 + rows.max() + 1))
            labels.append(label)
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int64))
    images += rng.normal(0.0, 0.05, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return images, masks, all_boxes, all_labels


def load_digits():
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, no download).

    Returns ``(images, labels)``: float32 ``(1797, 1, 8, 8)`` scaled to [0, 1] (the raw values
    are 0..16) and int64 ``(1797,)``. Needs scikit-learn (``pip install scikit-learn``).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError(
            "pyconvnet.datasets.load_digits needs scikit-learn, which ships the data: "
            "pip install scikit-learn"
        ) from None
    bunch = _sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None]
    return np.ascontiguousarray(images), np.asarray(bunch.target, dtype=np.int64)
