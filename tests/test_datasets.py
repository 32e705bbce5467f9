"""pyconvnet.datasets: IDX files (written here), make_shapes, load_digits."""

import gzip
import struct

import numpy as np
import pytest

from pyconvnet import datasets
from conftest import run_python


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.tobytes()


BE = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def write(tmp_path, name, data: bytes, compress=False):
    p = tmp_path / name
    p.write_bytes(gzip.compress(data) if compress else data)
    return p


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_like_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(7,), dtype=np.uint8)
    # Names say nothing about compression: it is detected from the bytes.
    pi = write(tmp_path, "images.idx", idx_bytes(images, 0x08), compress)
    pl = write(tmp_path, "labels.idx", idx_bytes(labels, 0x08), compress)
    x = datasets.load_idx(pi)
    y = datasets.load_idx(str(pl))
    assert x.dtype == np.uint8 and x.shape == (7, 28, 28) and np.array_equal(x, images)
    assert y.dtype == np.uint8 and np.array_equal(y, labels)
    assert (pi.read_bytes()[:2] == b"\x1f\x8b") == compress


@pytest.mark.parametrize("code", sorted(BE))
def test_every_idx_type(tmp_path, code):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(BE[code])
    out = datasets.load_idx(write(tmp_path, "a", idx_bytes(arr, code)))
    assert out.dtype.isnative and out.shape == (2, 3, 4)
    assert np.array_equal(out, arr)


def test_empty_dimension(tmp_path):
    out = datasets.load_idx(write(tmp_path, "a", idx_bytes(np.zeros((0, 28, 28), np.uint8), 0x08)))
    assert out.shape == (0, 28, 28)


GOOD = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5), 0x08)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "data, match",
    [
        (GOOD[:-1], "truncated"),
        (GOOD[:10], "truncated"),
        (GOOD[:2], "too short"),
        (b"", "too short"),
        (GOOD + b"\x00", "longer|after"),
        (b"\x01" + GOOD[1:], "magic"),  # bad magic
        (GOOD[:2] + b"\x07" + GOOD[3:], "type code"),  # unknown dtype code
        (GOOD[:3] + b"\x00" + GOOD[4:], "0 dimensions"),
        (GOOD[:3] + b"\x02" + GOOD[4:], "longer|after"),  # ndim lies (3x4 = 12, 60 bytes present)
        (GOOD[:3] + b"\x04" + GOOD[4:], "truncated|longer|after"),  # ndim lies the other way
        (GOOD[:4] + struct.pack(">I", 4) + GOOD[8:], "truncated"),  # first dim lies upward
        (GOOD[:4] + struct.pack(">I", 0xFFFFFFFF) + GOOD[8:], "truncated"),  # absurd dimension
        (GOOD[:4] + struct.pack(">I", 2) + GOOD[8:], "longer|after"),  # first dim lies downward
        (b"\x00\x00\x0d\x01" + struct.pack(">I", 3) + b"\x00" * 11, "truncated"),  # float32 x3 needs 12
    ],
)
def test_bad_files_raise_value_error(tmp_path, data, match, compress):
    with pytest.raises(ValueError, match=match):
        datasets.load_idx(write(tmp_path, "bad", data, compress))


def test_corrupt_gzip_raises_value_error(tmp_path):
    blob = bytearray(gzip.compress(GOOD))
    p1 = write(tmp_path, "cut.gz", bytes(blob[:-6]))
    with pytest.raises(ValueError):
        datasets.load_idx(p1)
    blob[len(blob) // 2] ^= 0xFF
    p2 = write(tmp_path, "flipped.gz", bytes(blob))
    with pytest.raises(ValueError):
        datasets.load_idx(p2)


def test_huge_claimed_size_in_gzip_does_not_allocate(tmp_path):
    data = b"\x00\x00\x08\x03" + struct.pack(">III", 60000, 60000, 60000) + b"\x01" * 100
    with pytest.raises(ValueError, match="truncated"):
        datasets.load_idx(write(tmp_path, "lie.gz", data, compress=True))


def _zeros_gz(path, header: bytes, zeros: int):
    """A gzip file of `header` then `zeros` zero bytes, written in pieces (a small file)."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        block = bytes(1 << 20)
        for k in range(0, zeros, len(block)):
            f.write(block[: min(len(block), zeros - k)])
    return path


_UNDER_MEMORY_LIMIT = """
import resource, sys
from pyconvnet import datasets
size = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (24 << 20),) * 2)
try:
    datasets.load_idx(sys.argv[1])
except ValueError as e:
    print("ValueError:", e)
"""


def test_gzip_declaring_2_to_the_64_bytes_fails_before_decompressing(tmp_path):
    # 2^32-1 x 2^32-1 x 1 bytes over a 32 MB run of zeros (a 32 KB file): refused from the header.
    p = _zeros_gz(tmp_path / "bomb.gz", struct.pack(">BBBBII", 0, 0, 8, 2, 2**32 - 1, 2**32 - 1), 32 << 20)
    assert p.stat().st_size < 100_000
    out = run_python(["-c", _UNDER_MEMORY_LIMIT, str(p)])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ValueError:") and "is truncated" in out.stdout
    assert "more than a" in out.stdout


def test_gzip_truncated_or_oversized_under_a_memory_limit_gives_a_message(tmp_path):
    # Declares 30 MB (within what a 30 KB gzip could hold), holds 1 MB: with 24 MB to spare the
    # buffer cannot be had, and the error still says what is wrong.
    p = _zeros_gz(tmp_path / "short.gz", struct.pack(">BBBBII", 0, 0, 8, 2, 30_000, 1000), 1 << 20)
    out = run_python(["-c", _UNDER_MEMORY_LIMIT, str(p)])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ValueError:") and len(out.stdout) > 40
    # Declares 1 MB, holds 64 MB: reading stops one byte past the declared size.
    p = _zeros_gz(tmp_path / "long.gz", struct.pack(">BBBBII", 0, 0, 8, 2, 1000, 1000), 64 << 20)
    out = run_python(["-c", _UNDER_MEMORY_LIMIT, str(p)])
    assert out.returncode == 0, out.stderr
    assert "has data after the 1000000 bytes" in out.stdout


def test_missing_file_and_bad_path_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(tmp_path / "nope")
    with pytest.raises(TypeError, match="path"):
        datasets.load_idx(3.5)


# ---------------------------------------------------------------------------------------------
# make_shapes


def test_make_shapes_types_and_ranges():
    x, y, b = datasets.make_shapes(200, size=32, seed=0)
    assert x.shape == (200, 1, 32, 32) and x.dtype == np.float32
    assert y.shape == (200,) and y.dtype == np.int64
    assert b.shape == (200, 4) and b.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert set(np.unique(y)) == set(range(len(datasets.SHAPE_NAMES)))
    assert np.all(b[:, 0] < b[:, 2]) and np.all(b[:, 1] < b[:, 3])
    assert b.min() >= 0 and b.max() <= 1
    widths = b[:, 2] - b[:, 0]
    assert np.allclose(widths, b[:, 3] - b[:, 1], atol=1e-6)  # square boxes
    assert widths.min() >= 0.35 and widths.max() <= 0.81


def test_make_shapes_is_seeded():
    a = datasets.make_shapes(50, seed=3)
    b = datasets.make_shapes(50, seed=3)
    c = datasets.make_shapes(50, seed=4)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_make_shapes_boxes_hold_the_shape():
    x, y, b = datasets.make_shapes(100, size=32, seed=1, noise=0.0)
    for img, box in zip(x[:, 0], b * 32):
        ys, xs = np.nonzero(img > 0)
        assert xs.min() >= np.floor(box[0]) and xs.max() + 1 <= np.ceil(box[2])
        assert ys.min() >= np.floor(box[1]) and ys.max() + 1 <= np.ceil(box[3])
        # ...and fill it: every shape reaches (within 2 pixels: the triangle apex) all four edges.
        assert xs.min() <= box[0] + 2 and xs.max() + 1 >= box[2] - 2
        assert ys.min() <= box[1] + 2 and ys.max() + 1 >= box[3] - 2


def test_make_shapes_classes_are_distinguishable_by_a_template():
    # Same size and place for every image: the class must decide the pixels.
    x, y, _ = datasets.make_shapes(400, size=24, seed=2, noise=0.0)
    fill = (x > 0).mean(axis=(1, 2, 3)) / ((_[:, 2] - _[:, 0]) ** 2)  # fraction of its box covered
    means = [fill[y == k].mean() for k in range(len(datasets.SHAPE_NAMES))]
    assert means[0] > 0.9  # square fills its box
    assert means[3] < 0.7 and means[5] < 0.7  # plus and cross are thin


def test_make_shapes_options():
    x, y, b = datasets.make_shapes(30, size=16, seed=0, channels=3, classes=[4, 6])
    assert x.shape == (30, 3, 16, 16)
    assert set(np.unique(y)) <= {4, 6}
    x0, _, _ = datasets.make_shapes(0)
    assert x0.shape == (0, 1, 32, 32)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(n=-1), ValueError, "n"),
        (dict(n=2.5), TypeError, "n"),
        (dict(n=5, size=4), ValueError, "size"),
        (dict(n=5, channels=2), ValueError, "channels"),
        (dict(n=5, classes=[8]), ValueError, "classes"),
        (dict(n=5, classes=[]), ValueError, "classes"),
        (dict(n=5, classes=["a"]), TypeError, "classes"),
        (dict(n=5, noise=-1), ValueError, "noise"),
        (dict(n=5, seed=-1), ValueError, "seed"),
    ],
)
def test_make_shapes_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        datasets.make_shapes(**kwargs)


def test_load_digits():
    pytest.importorskip("sklearn")
    x, y = datasets.load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1 and set(np.unique(y)) == set(range(10))


def test_load_digits_without_sklearn_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        datasets.load_digits()
