"""ImageFolder: a folder of image files, one sub-folder per class, decoded lazily.

Only the file list is held in memory; each `__getitem__` opens, decodes, converts and resizes
one file. PNG files of the dataset's size in the common variants are decoded by pyconvnet's own
decoder (`_C.decode_png_files`, csrc/image/), a whole batch in one call, with the same result
as Pillow: a small PNG costs Pillow 70-140 us of mostly Python-level file and chunk handling,
which on a machine whose cores are busy training is taken from the training step. Every
other file goes through Pillow. Both release the GIL while decoding, so the DataLoader's
threads decode in parallel with each other and with the training step.
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from .. import _C
from .._validate import as_int, as_pair
from .dataset import check_index
from .loader import _collate, _labels

__all__ = ["ImageFolder"]

DEFAULT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
# 16-bit greyscale PNGs open in these modes; Pillow's convert("L") would clip them at 255.
_WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Trying the format the suffix names first spares Pillow's probe of every plugin (about 10% of
# the time to read a small PNG); a file whose content does not match its suffix is probed fully.
_FORMAT_OF_SUFFIX = {".png": ("PNG",), ".jpg": ("JPEG",), ".jpeg": ("JPEG",), ".bmp": ("BMP",)}
# Whether files named *.png go to the native decoder first (it hands back what it does not
# decode exactly as Pillow would). False when _C was built without zlib; tests switch it off
# to compare with the Pillow path.
_NATIVE_PNG = bool(getattr(_C, "has_png_decoder", False))


def _native_name(path):
    """`path` as bytes for the native decoder when it names a PNG file, else None."""
    return os.fsencode(path) if isinstance(path, str) and path[-4:].lower() == ".png" else None


def _pixel_limit(Image):
    """Pillow's decompression-bomb limit for the native decoder (which leaves larger images to
    Pillow, so that Pillow warns or refuses as usual); -1: none."""
    limit = Image.MAX_IMAGE_PIXELS
    return -1 if limit is None else min(int(limit), 2**62)


def _import_pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "ImageFolder decodes images with Pillow, which is not installed: "
            "pip install 'pyconvnet[image]' (or pip install Pillow)"
        ) from None
    return Image


def _normalise_extensions(extensions):
    if isinstance(extensions, str):
        extensions = (extensions,)
    try:
        exts = tuple(extensions)
    except TypeError:
        raise TypeError(f"extensions must be a tuple of file suffixes like ('.png', '.jpg'), got {extensions!r}") from None
    out = []
    for e in exts:
        if not isinstance(e, str) or not e.strip("."):
            raise ValueError(f"extensions must hold file suffixes like '.png', got {e!r}")
        e = e.lower()
        out.append(e if e.startswith(".") else "." + e)
    if not out:
        raise ValueError("extensions must name at least one file suffix")
    return tuple(out)


def _visible(name: str) -> bool:
    # dot-files are editor/OS debris (e.g. macOS "._x.png" resource forks are not images)
    return not name.startswith(".")


def _find_classes(root):
    with os.scandir(root) as it:
        classes = sorted(e.name for e in it if _visible(e.name) and e.is_dir())
    if not classes:
        raise ValueError(f"ImageFolder found no class sub-folders in {root!r}: expected root/<class>/<image files>")
    return classes


def _find_samples(root, classes, extensions):
    samples, empty = [], []
    for idx, cls in enumerate(classes):
        found = []
        walk = []
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, cls), followlinks=True):
            dirnames[:] = [d for d in dirnames if _visible(d)]
            walk.append((dirpath, filenames))
        # folders sorted by path string, then files by name: torchvision's order
        for dirpath, filenames in sorted(walk):
            for f in sorted(filenames):
                if _visible(f) and os.path.splitext(f)[1].lower() in extensions:
                    found.append((os.path.join(dirpath, f), idx))
        if not found:
            empty.append(cls)
        samples.extend(found)
    if empty:
        raise ValueError(f"ImageFolder found no {'/'.join(extensions)} files for the classes {empty} in {root!r}")
    return samples


class ImageFolder:
    """Images in `root/<class name>/**/<file>`, as `(CHW float32 in [0, 1], class index)`.

    Classes are the sorted names of the sub-folders of `root` (as torchvision's ImageFolder);
    files are found recursively, by suffix (case-insensitive); dot-files and dot-folders are
    ignored. Each image is converted to `channels` (1: ITU-R 601-2 luma, as Pillow's "L";
    3: RGB, alpha dropped) and resized to `size=(H, W)` with Pillow's bilinear filter
    (antialiased when shrinking). `size=None` keeps the size of the first file; a file of
    another size then counts as unreadable. An unreadable or corrupt file raises `ValueError`
    naming it, or with `on_error="skip"` is reported once with a `RuntimeWarning` and read as
    `None`, which the DataLoader leaves out of its batch.
    """

    def __init__(self, root, size=None, channels=3, extensions=DEFAULT_EXTENSIONS, on_error="raise"):
        self._Image = _import_pil()
        root = os.fspath(root)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"ImageFolder root {root!r} is not a directory")
        channels = as_int(channels, "channels")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.root = root
        self.channels = channels
        self.extensions = _normalise_extensions(extensions)
        self.on_error = on_error
        self.classes = _find_classes(root)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = _find_samples(root, self.classes, self.extensions)
        self.targets = [t for _, t in self.samples]
        self.skipped = set()  # paths reported as unreadable (on_error="skip")
        self._lock = threading.Lock()
        self.size = None if size is None else as_pair(size, "size", minimum=1)
        self._resize = self.size is not None
        if self.size is None:
            self.size = self._first_size()

    def _first_size(self):
        for path, _ in self.samples:
            try:
                with self._open(path) as im:
                    w, h = im.size
                return (h, w)
            except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for bad files
                self._bad(path, exc)
        raise ValueError(f"ImageFolder found no readable image in {self.root!r}")

    def __len__(self) -> int:
        return len(self.samples)

    def _bad(self, path, exc):
        if self.on_error == "raise":
            raise ValueError(f"cannot read image {path!r}: {exc}") from exc
        with self._lock:
            new = path not in self.skipped
            self.skipped.add(path)
        if new:
            warnings.warn(f"ImageFolder skips {path!r}: {exc}", RuntimeWarning, stacklevel=3)

    def _open(self, path):
        formats = _FORMAT_OF_SUFFIX.get(os.path.splitext(path)[1].lower())
        if formats is not None:
            try:
                return self._Image.open(path, formats=formats)
            except self._Image.UnidentifiedImageError:
                pass
        return self._Image.open(path)

    def _decode(self, path):
        Image = self._Image
        h, w = self.size
        with self._open(path) as im:
            if im.size != (w, h):
                if not self._resize:
                    raise ValueError(f"it is {im.size[1]}x{im.size[0]}, not {h}x{w} like the first file "
                                     "(pass size=(H, W) to resize)")
            if im.mode in _WIDE_GREY:
                scale = np.float32(65535)
                if im.size != (w, h):
                    im = im.convert("I").resize((w, h), Image.Resampling.BILINEAR)
                grey = np.asarray(im)
                arr = grey[None] if self.channels == 1 else np.broadcast_to(grey, (3,) + grey.shape)
            else:
                scale = np.float32(255)
                mode = "L" if self.channels == 1 else "RGB"
                if im.mode != mode:  # convert() to the same mode would copy
                    im = im.convert(mode)
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
                arr = np.asarray(im)
                arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        out = np.empty((self.channels, h, w), np.float32)
        np.divide(arr, scale, out=out)
        if scale == 65535:
            np.clip(out, 0.0, 1.0, out=out)  # mode "I" may hold values outside 16 bits
        return out

    def _read(self, path):
        """One file as CHW float32: natively when the native decoder takes it, else with Pillow."""
        name = _native_name(path) if _NATIVE_PNG else None
        if name is not None:
            h, w = self.size
            out = np.empty((1, self.channels, h, w), np.float32)
            problems = _C.decode_png_files([name], out, _pixel_limit(self._Image))
            if not problems:
                return out[0]
            message = problems[0][1]
            if message is not None:
                raise ValueError(message)
        return self._decode(path)

    def __getitem__(self, index):
        path, label = self.samples[check_index(index, len(self.samples))]
        try:
            image = self._read(path)
        except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for bad files
            self._bad(path, exc)
            return None
        return image, label

    def _picked(self, indices):
        """The samples at `indices`, or None when an index is invalid (the caller then lets
        `_collate` raise its error at the point where it would)."""
        samples = self.samples
        n = len(samples)
        try:
            if isinstance(indices, np.ndarray) and indices.dtype.kind == "i" and indices.ndim == 1:
                if indices.size and (indices.min() < -n or indices.max() >= n):
                    return None
                return [samples[i] for i in indices.tolist()]  # negative indices count from the end
            return [samples[check_index(int(i), n)] for i in indices]
        except Exception:  # noqa: BLE001 - whatever _collate would raise, it raises itself
            return None

    def get_batch(self, indices):
        """`(x, y)` of the samples at `indices`, what the DataLoader's per-item collation gives
        (skipped files left out, None when all are), with the batch's PNG files decoded in one
        native call straight into `x`."""
        picked = self._picked(indices) if _NATIVE_PNG else None
        if picked is None:
            return _collate(self, indices)
        if not picked:
            return None
        h, w = self.size
        x = np.empty((len(picked), self.channels, h, w), np.float32)
        problems = _C.decode_png_files([_native_name(p) for p, _ in picked], x, _pixel_limit(self._Image))
        labels = [label for _, label in picked]
        if problems:
            dropped = set()
            for k, message in problems:  # in index order, as the per-item collation meets them
                path = picked[k][0]
                try:
                    if message is not None:
                        raise ValueError(message)
                    x[k] = self._decode(path)
                except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for bad files
                    self._bad(path, exc)
                    dropped.add(k)
            if dropped:
                kept = [k for k in range(len(picked)) if k not in dropped]
                if not kept:
                    return None
                x = x[kept]
                labels = [labels[k] for k in kept]
        return x, _labels(labels, "ImageFolder.samples")

    def __repr__(self) -> str:
        return (f"ImageFolder({self.root!r}, size={self.size}, channels={self.channels}, "
                f"{len(self.classes)} classes, {len(self.samples)} files)")
