"""pyconvnet.data.ImageFolder: class folders, lazy Pillow decoding, conversions, bad files."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from pyconvnet.data import DataLoader, Dataset, ImageFolder
from pyconvnet.visualize import save_png

Image = pytest.importorskip("PIL.Image")


def _rgb(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """root/{cat,ant,bee}: 8-bit RGB, grey, RGBA, palette, 16-bit grey, nested, plus debris."""
    root = tmp_path / "root"
    for c in ("cat", "ant", "bee"):
        (root / c).mkdir(parents=True)
    save_png(_rgb(6, 5, 0), root / "cat" / "b.png")
    save_png(_rgb(6, 5, 1)[:, :, 0], root / "cat" / "a.PNG")
    Image.fromarray(np.dstack([_rgb(6, 5, 2), np.full((6, 5), 7, np.uint8)])).save(root / "ant" / "rgba.png")
    Image.fromarray(_rgb(6, 5, 3)).save(root / "ant" / "photo.bmp")
    (root / "ant" / "deep" / "er").mkdir(parents=True)
    save_png(_rgb(6, 5, 4), root / "ant" / "deep" / "er" / "z.png")
    Image.fromarray((np.arange(30, dtype=np.uint16).reshape(6, 5) * 2000)).save(root / "bee" / "wide.png")
    (root / "bee" / "notes.txt").write_text("not an image")
    save_png(_rgb(6, 5, 5), root / "bee" / ".hidden.png")
    (root / ".cache").mkdir()
    save_png(_rgb(6, 5, 6), root / ".cache" / "x.png")
    (root / "README").write_text("a file next to the class folders")
    return root


def test_classes_samples_and_targets_are_sorted(folder):
    ds = ImageFolder(folder, size=(6, 5))
    assert isinstance(ds, Dataset)
    assert ds.classes == ["ant", "bee", "cat"]
    assert ds.class_to_idx == {"ant": 0, "bee": 1, "cat": 2}
    rel = [(os.path.relpath(p, folder), t) for p, t in ds.samples]
    # torchvision's order: folders sorted by path (top level first), files by name
    assert rel == [(os.path.join("ant", "photo.bmp"), 0), (os.path.join("ant", "rgba.png"), 0),
                   (os.path.join("ant", "deep", "er", "z.png"), 0), (os.path.join("bee", "wide.png"), 1),
                   (os.path.join("cat", "a.PNG"), 2), (os.path.join("cat", "b.png"), 2)]
    assert ds.targets == [0, 0, 0, 1, 2, 2] and len(ds) == 6
    assert ImageFolder(folder, size=(6, 5), extensions=("png",)).samples == \
        [s for s in ds.samples if not s[0].endswith(".bmp")]


def test_items_are_chw_float32_in_unit_range(folder):
    ds = ImageFolder(folder, size=(6, 5))
    by_name = {os.path.basename(p): i for i, (p, _) in enumerate(ds.samples)}

    def item(name):
        x, label = ds[by_name[name]]
        assert x.dtype == np.float32 and x.shape == (3, 6, 5) and type(label) is int
        return x, label

    x, label = item("b.png")
    assert label == 2 and np.array_equal(x, _rgb(6, 5, 0).transpose(2, 0, 1) / np.float32(255))
    x, _ = item("a.PNG")  # grey -> the same value in the three channels
    assert np.array_equal(x, np.broadcast_to(_rgb(6, 5, 1)[:, :, 0] / np.float32(255), (3, 6, 5)))
    x, label = item("rgba.png")  # alpha dropped, not composited
    assert label == 0 and np.array_equal(x, _rgb(6, 5, 2).transpose(2, 0, 1) / np.float32(255))
    x, _ = item("photo.bmp")
    assert np.array_equal(x, _rgb(6, 5, 3).transpose(2, 0, 1) / np.float32(255))
    x, _ = item("wide.png")  # 16-bit grey scaled by 65535, not clipped at 255
    want = np.arange(30, dtype=np.float64).reshape(6, 5) * 2000 / 65535
    np.testing.assert_allclose(x, np.broadcast_to(want, (3, 6, 5)), rtol=0, atol=1e-7)


def test_one_channel_uses_the_luma_formula(folder):
    ds = ImageFolder(folder, size=(6, 5), channels=1)
    x, _ = ds[[os.path.basename(p) for p, _ in ds.samples].index("b.png")]
    rgb = _rgb(6, 5, 0).astype(np.float64)
    luma = (rgb @ [0.299, 0.587, 0.114]) / 255  # ITU-R 601-2
    assert x.shape == (1, 6, 5)
    np.testing.assert_allclose(x[0], luma, rtol=0, atol=1 / 255 + 1e-7)
    x16, _ = ds[[os.path.basename(p) for p, _ in ds.samples].index("wide.png")]
    want = np.arange(30, dtype=np.float64).reshape(1, 6, 5) * 2000 / 65535
    np.testing.assert_allclose(x16, want, rtol=0, atol=1e-7)


def test_resize_takes_height_then_width(tmp_path):
    (tmp_path / "c").mkdir()
    ramp = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (10, 1))  # brighter to the right
    save_png(ramp, tmp_path / "c" / "r.png")
    ds = ImageFolder(tmp_path, size=(4, 20), channels=1)
    x, _ = ds[0]
    assert x.shape == (1, 4, 20)
    with Image.open(tmp_path / "c" / "r.png") as im:
        ref = np.asarray(im.resize((20, 4), Image.Resampling.BILINEAR)) / np.float32(255)
    assert np.array_equal(x[0], ref)
    assert np.all(np.diff(x[0], axis=1) >= 0) and np.all(np.diff(x[0], axis=0) == 0)
    assert ImageFolder(tmp_path, size=7, channels=1)[0][0].shape == (1, 7, 7)


def test_size_none_keeps_the_first_files_size(folder):
    save_png(_rgb(9, 9, 7), folder / "cat" / "c_big.png")
    ds = ImageFolder(folder)
    assert ds.size == (6, 5)
    assert ds[0][0].shape == (3, 6, 5)
    with pytest.raises(ValueError, match=r"c_big\.png.*9x9, not 6x5"):
        ds[len(ds) - 1]


def test_construction_reads_no_pixels(folder, monkeypatch):
    opened = []
    real = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    ImageFolder(folder, size=(6, 5))
    assert opened == []
    ImageFolder(folder)  # size=None reads the first file's header for its size
    assert len(opened) == 1


@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_a_bad_file_raises_naming_it(folder, content):
    good = (folder / "cat" / "b.png").read_bytes()
    data = b"\x00not an image at all" if content == "garbage" else good[: len(good) // 2]
    (folder / "cat" / "broken.png").write_bytes(data)
    ds = ImageFolder(folder, size=(6, 5))
    i = [os.path.basename(p) for p, _ in ds.samples].index("broken.png")
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png"):
        ds[i]
    with pytest.raises(ValueError, match=r"broken\.png"):
        list(DataLoader(ds, batch_size=2, workers=2, seed=0))


def test_skip_warns_once_and_the_loader_leaves_the_file_out(folder):
    (folder / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    ds = ImageFolder(folder, size=(6, 5), on_error="skip")
    i = [os.path.basename(p) for p, _ in ds.samples].index("broken.png")
    with pytest.warns(RuntimeWarning, match=r"skips .*broken\.png"):
        assert ds[i] is None
    assert [os.path.basename(p) for p in ds.skipped] == ["broken.png"]
    loader = DataLoader(ds, batch_size=3, shuffle=False, workers=0)
    sizes = [len(y) for _, y in loader]  # already reported: no second warning (they are errors here)
    assert i == 6 and sizes == [3, 3]  # the last batch held only the bad file
    loader = DataLoader(ds, batch_size=4, shuffle=False, workers=2)
    assert [len(y) for _, y in loader] == [4, 2]  # a short batch where a file was left out


def test_loader_batches_equal_for_any_worker_count(folder):
    ds = ImageFolder(folder, size=(8, 8), channels=3)
    runs = [[(x.copy(), y.copy()) for x, y in DataLoader(ds, batch_size=4, seed=1, workers=w)] for w in (0, 2)]
    for (x0, y0), (x1, y1) in zip(*runs):
        assert x0.shape[1:] == (3, 8, 8) and np.array_equal(x0, x1) and np.array_equal(y0, y1)
    assert [t.name for t in threading.enumerate() if t.name.startswith("pyconvnet-data")] == []


def test_argument_and_folder_errors(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        ImageFolder(folder / "cat")
    (folder / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no .* files for the classes \['empty'\]"):
        ImageFolder(folder, size=4)
    os.rmdir(folder / "empty")
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        ImageFolder(folder, channels=2)
    with pytest.raises(ValueError, match="on_error"):
        ImageFolder(folder, on_error="ignore")
    with pytest.raises(ValueError, match="size"):
        ImageFolder(folder, size=(0, 4))
    with pytest.raises(ValueError, match="extensions"):
        ImageFolder(folder, extensions=("",))
    with pytest.raises(IndexError):
        ImageFolder(folder, size=4)[6]


def test_without_pillow_the_error_names_the_extra(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pyconvnet\[image\]"):
        ImageFolder(folder, size=4)


def test_a_file_whose_suffix_lies_is_still_read(tmp_path):
    (tmp_path / "c").mkdir()
    save_png(_rgb(4, 4, 9), tmp_path / "c" / "really_a_png.jpg")
    x, _ = ImageFolder(tmp_path)[0]
    assert np.array_equal(x, _rgb(4, 4, 9).transpose(2, 0, 1) / np.float32(255))
