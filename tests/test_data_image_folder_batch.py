"""ImageFolder with its native PNG path (image_folder._NATIVE_PNG) against its Pillow path:
the same items, the same get_batch results as the per-item collation, the same errors,
warnings and skipped files."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from png_cases import CORRUPT_HW, corrupt_files, fallback_cases
from png_encoder import chunk, encode
from pyconvnet import _C
from pyconvnet.data import DataLoader, ImageFolder
from pyconvnet.data import image_folder
from pyconvnet.data.loader import _collate

Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.skipif(not getattr(_C, "has_png_decoder", False),
                                reason="_C was built without zlib (no native PNG decoder)")

HW = (6, 5)


def _rand(shape, seed, high=256):
    return np.random.default_rng(seed).integers(0, high, size=shape)


def _write_folder(root):
    """root/<class>/: PNGs the native decoder takes (by Pillow and by tests/png_encoder.py),
    in root/a_native, and in root/b_other PNGs it leaves to Pillow and a BMP."""
    native, other = root / "a_native", root / "b_other"
    native.mkdir(parents=True)
    other.mkdir()
    for mode, bands in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
        px = _rand(HW + (bands,), seed=bands).astype(np.uint8)
        Image.fromarray(px[..., 0] if bands == 1 else px, mode).save(native / f"pil_{mode}.png")
    im = Image.fromarray(_rand(HW, 9, 16).astype(np.uint8), "P")
    im.putpalette(_rand((16, 3), 10).astype(np.uint8).tobytes())
    im.save(native / "pil_P4.png", bits=4)
    (native / "enc_rgb_paeth.png").write_bytes(encode(_rand(HW + (3,), 11), 2, filters=4, idat_sizes=[7, 7]))
    (native / "enc_grey_avg.PNG").write_bytes(encode(_rand(HW, 12), 0, filters=[3, 1, 2, 4, 0, 3],
                                                     before_idat=[chunk(b"tEXt", b"a\x00b")]))
    (native / "enc_palette_1bit.png").write_bytes(encode(_rand(HW, 13, 2), 3, 1, palette=[[0, 10, 20], [250, 40, 9]]))
    (other / "grey16.png").write_bytes(encode(_rand(HW, 14, 65536), 0, 16))
    (other / "grey2.png").write_bytes(encode(_rand(HW, 15, 4), 0, 2, filters=1))
    (other / "interlaced.png").write_bytes(encode(_rand(HW + (4,), 16), 6, interlace=True))
    (other / "trns.png").write_bytes(encode(_rand(HW + (3,), 17), 2, trns=b"\x00\x01\x00\x02\x00\x03"))
    Image.fromarray(_rand(HW + (3,), 18).astype(np.uint8)).save(other / "photo.bmp")


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    _write_folder(r)
    return r


def _items(ds):
    return [ds[i] for i in range(len(ds))]


def _same_items(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.dtype == xb.dtype == np.float32 and np.array_equal(xa, xb) and ya == yb


def _same_batch(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a[0].dtype == b[0].dtype == np.float32 and a[0].shape == b[0].shape and np.array_equal(a[0], b[0])
    assert a[1].dtype == b[1].dtype == np.int64 and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("channels", [1, 3])
def test_items_and_batches_equal_with_and_without_the_native_path(root, monkeypatch, channels):
    natives = {p.name for p in (root / "a_native").iterdir()}
    ds = ImageFolder(root, size=HW, channels=channels)
    pillow_reads = []
    real = ImageFolder._decode
    monkeypatch.setattr(ImageFolder, "_decode", lambda self, p: pillow_reads.append(os.path.basename(p)) or real(self, p))
    on = _items(ds)
    # the native path really decoded its files: Pillow read only the others
    assert not natives & set(pillow_reads) and len(pillow_reads) == len(ds) - len(natives)
    batch_on = ds.get_batch(np.arange(len(ds)))
    monkeypatch.setattr(image_folder, "_NATIVE_PNG", False)
    _same_items(on, _items(ds))
    _same_batch(batch_on, _collate(ds, np.arange(len(ds))))
    _same_batch(batch_on, ds.get_batch(np.arange(len(ds))))
    loaders = {}
    for native in (True, False):
        monkeypatch.setattr(image_folder, "_NATIVE_PNG", native)
        for workers in (0, 2):
            loaders[native, workers] = [(x.copy(), y.copy()) for x, y in
                                        DataLoader(ds, batch_size=4, seed=3, workers=workers)]
    for got in loaders.values():
        for a, b in zip(got, loaders[False, 0]):
            _same_batch(a, b)


def test_a_size_other_than_the_files_goes_to_pillow_and_matches(root, monkeypatch):
    ds = ImageFolder(root, size=(7, 4), channels=3)
    on = _items(ds)
    monkeypatch.setattr(image_folder, "_NATIVE_PNG", False)
    _same_items(on, _items(ds))


def test_every_variant_left_to_pillow_reads_as_before(tmp_path, monkeypatch):
    (tmp_path / "c").mkdir()
    cases = fallback_cases(tmp_path / "c")
    for size in (HW, (5, 6)):  # at their size (except "another size"), and all resized
        for channels in (1, 3):
            ds = ImageFolder(tmp_path, size=size, channels=channels)
            monkeypatch.setattr(image_folder, "_NATIVE_PNG", True)
            on = _items(ds), ds.get_batch(np.arange(len(ds)))
            monkeypatch.setattr(image_folder, "_NATIVE_PNG", False)
            _same_items(on[0], _items(ds))
            _same_batch(on[1], ds.get_batch(np.arange(len(ds))))
    assert len(ds) == len(cases)


@pytest.mark.parametrize("indices", [[3, 0, 3], [-1, -len("xx")], np.array([5, 1], np.int32), np.array([], np.int64),
                                     [], (2.0, 1)])
def test_get_batch_is_the_per_item_collation(root, indices):
    ds = ImageFolder(root, size=HW)
    _same_batch(ds.get_batch(indices), _collate(ds, indices))


def test_get_batch_index_errors_are_the_per_item_ones(root):
    ds = ImageFolder(root, size=HW)
    for bad in ([0, len(ds)], np.array([-len(ds) - 1]), ["a"]):
        with pytest.raises((IndexError, TypeError, ValueError)) as want:
            _collate(ds, bad)
        with pytest.raises(want.type, match=str(want.value).replace("(", r"\(").replace(")", r"\)")):
            ds.get_batch(bad)


def _add_corrupt(root):
    good = (root / "a_native" / "enc_rgb_paeth.png").read_bytes()
    (root / "a_native" / "cut.png").write_bytes(good[: len(good) // 2])
    (root / "a_native" / "zz_filter.png").write_bytes(encode(np.zeros(HW), 0, data=b"\x07" * (HW[0] * (HW[1] + 1))))
    (root / "b_other" / "garbage.png").write_bytes(b"not a PNG at all")


def _names(ds):
    return [os.path.basename(p) for p, _ in ds.samples]


def test_a_corrupt_png_raises_naming_it(root):
    _add_corrupt(root)
    ds = ImageFolder(root, size=HW)
    names = _names(ds)
    for name, why in (("cut.png", "truncated"), ("zz_filter.png", "filter type 7")):
        with pytest.raises(ValueError, match=rf"cannot read image .*{name}.*{why}"):
            ds[names.index(name)]
    # a batch raises for the first bad file in index order, as the per-item collation does
    first, second = names.index("cut.png"), names.index("zz_filter.png")
    with pytest.raises(ValueError, match=r"cut\.png"):
        ds.get_batch([0, first, second])
    with pytest.raises(ValueError, match=r"zz_filter\.png"):
        ds.get_batch([second, first])
    with pytest.raises(ValueError, match=r"cannot read image .*garbage\.png"):  # not a PNG: Pillow's error
        ds.get_batch([names.index("garbage.png")])
    with pytest.raises(ValueError, match=r"\.png"):
        list(DataLoader(ds, batch_size=4, workers=2, seed=0))


def _skip_run(root, native, monkeypatch, batches):
    monkeypatch.setattr(image_folder, "_NATIVE_PNG", native)
    ds = ImageFolder(root, size=HW, on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [ds.get_batch(b) for b in batches]
        items = [ds[i] for i in range(len(ds))]
    return ds, got, items, [(w.category, str(w.message)) for w in caught]


def test_skip_leaves_corrupt_files_out_as_the_pillow_path_does(root, monkeypatch):
    _add_corrupt(root)
    names = _names(ImageFolder(root, size=HW))
    n = len(names)
    bad = [names.index(k) for k in ("cut.png", "zz_filter.png", "garbage.png")]
    batches = [np.arange(n), np.array(bad), np.array(bad[::-1] + [names.index("pil_L.png")]), np.arange(n)[::-1]]
    ds_on, on, items_on, warned_on = _skip_run(root, True, monkeypatch, batches)
    ds_off, off, items_off, warned_off = _skip_run(root, False, monkeypatch, batches)
    assert on[1] is None and len(on[0][1]) == n - 3 and len(on[2][1]) == 1
    for a, b in zip(on, off):
        _same_batch(a, b)
    assert [i is None for i in items_on] == [i is None for i in items_off] == [k in bad for k in range(n)]
    _same_items([i for i in items_on if i is not None], [i for i in items_off if i is not None])
    assert ds_on.skipped == ds_off.skipped == {str(p) for p, _ in ds_on.samples if os.path.basename(p) in
                                               ("cut.png", "zz_filter.png", "garbage.png")}
    # one RuntimeWarning per file, naming it, in the same order; the reasons differ in wording
    assert [c for c, _ in warned_on] == [c for c, _ in warned_off] == [RuntimeWarning] * 3
    assert [m.split(":")[0] for _, m in warned_on] == [m.split(":")[0] for _, m in warned_off]


def test_the_native_path_refuses_a_bad_idat_crc_that_pillow_ignores(root, monkeypatch):
    good = (root / "a_native" / "enc_rgb_paeth.png").read_bytes()
    at = good.index(b"IDAT") + 12
    (root / "a_native" / "bad_crc.png").write_bytes(good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:])
    ds = ImageFolder(root, size=HW)
    i = _names(ds).index("bad_crc.png")
    with pytest.raises(ValueError, match=r"bad_crc\.png.*IDAT.*CRC"):
        ds[i]
    monkeypatch.setattr(image_folder, "_NATIVE_PNG", False)
    assert ds[i][0].shape == (3,) + HW  # Pillow does not check the CRCs of image data


CORRUPT = corrupt_files()


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_every_kind_of_corrupt_png_raises_or_is_skipped(tmp_path, kind):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "bad.png").write_bytes(CORRUPT[kind][0])
    (tmp_path / "c" / "good.png").write_bytes(encode(_rand(CORRUPT_HW + (3,), 1), 2))
    ds = ImageFolder(tmp_path, size=CORRUPT_HW)
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        ds[0]
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        ds.get_batch([1, 0])
    ds = ImageFolder(tmp_path, size=CORRUPT_HW, on_error="skip")
    with pytest.warns(RuntimeWarning, match=r"skips .*bad\.png"):
        x, y = ds.get_batch([1, 0, 1])
    assert x.shape == (2, 3) + CORRUPT_HW and y.tolist() == [0, 0] and ds[0] is None
    assert [os.path.basename(p) for p in ds.skipped] == ["bad.png"]
