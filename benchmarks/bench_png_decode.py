"""Decoding one small PNG file into ImageFolder's CHW float32: Pillow against the native decoder.

CPU time per file (time.process_time: what decoding takes from the training threads on a busy
machine), for ImageFolder's two paths over the same files, alternating, best of the rounds:
- pillow:      ImageFolder._decode, one file at a time (the path before the native decoder);
- native item: ImageFolder[i] through the native decoder, one call per file;
- native batch: ImageFolder.get_batch of 64 files, one native call per batch (the DataLoader's path).
Target (issue 13): <= 15 us per 28x28 file. Every result is checked against Pillow's.

    python benchmarks/bench_png_decode.py [--files 2048] [--rounds 5]
    pytest benchmarks/bench_png_decode.py --benchmark-only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import pytest

try:
    import pyconvnet  # noqa: F401
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pyconvnet import datasets  # noqa: E402
from pyconvnet.data import ImageFolder  # noqa: E402
from pyconvnet.data import image_folder  # noqa: E402
from pyconvnet.visualize import save_png  # noqa: E402

BATCH = 64
CASES = {"28x28 grey": (28, 1), "32x32 RGB": (32, 3), "64x64 RGB": (64, 3)}


def write_folder(root, n, side, channels, seed=0):
    """root/<class>/<i>.png: n make_shapes images of side x side (bench_data.py's files for 28x28
    grey), written with the standard library."""
    x, y, _ = datasets.make_shapes(n, size=side, seed=seed, channels=channels)
    for i, (img, label) in enumerate(zip(x, y)):
        d = os.path.join(root, f"{label:02d}")
        os.makedirs(d, exist_ok=True)
        save_png(img[0] if channels == 1 else img.transpose(1, 2, 0), os.path.join(d, f"{i:05d}.png"))


def _cpu_us_per_file(fn, n):
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / n * 1e6


def measure(ds, rounds):
    n = len(ds)
    idx = np.arange(n)
    batches = [idx[i:i + BATCH] for i in range(0, n, BATCH)]
    paths = [p for p, _ in ds.samples]
    runs = {
        "pillow": lambda: [ds._decode(p) for p in paths],
        "native item": lambda: [ds[i] for i in range(n)],
        "native batch": lambda: [ds.get_batch(b) for b in batches],
    }
    want = np.stack([ds._decode(p) for p in paths])
    assert np.array_equal(ds.get_batch(idx)[0], want) and np.array_equal(np.stack([x for x, _ in runs["native item"]()]), want)
    best = {k: np.inf for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            time.sleep(0.2)
            best[name] = min(best[name], _cpu_us_per_file(fn, n))
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    if not image_folder._NATIVE_PNG:
        sys.exit("this build of _C has no native PNG decoder (built without zlib)")
    print(f"CPU us per file, best of {args.rounds} rounds over {args.files} files (page cache warm):")
    for case, (side, channels) in CASES.items():
        with tempfile.TemporaryDirectory() as root:
            write_folder(root, args.files, side, channels)
            ds = ImageFolder(root, channels=channels)
            size = np.mean([os.path.getsize(p) for p, _ in ds.samples])
            best = measure(ds, args.rounds)
        print(f"  {case:11} ({size:5.0f} B): pillow {best['pillow']:6.1f}   native item {best['native item']:5.1f}   "
              f"native batch {best['native batch']:5.1f}   pillow / native batch {best['pillow'] / best['native batch']:4.1f}x")


# ---------------------------------------------------------------- pytest-benchmark

@pytest.fixture(scope="module")
def grey_folder(tmp_path_factory):
    pytest.importorskip("PIL")
    root = tmp_path_factory.mktemp("pngs")
    write_folder(str(root), 512, 28, 1)
    return ImageFolder(str(root), channels=1)


@pytest.mark.parametrize("path", ["pillow", "native"])
def test_decode_512_grey_files(benchmark, grey_folder, path, monkeypatch):
    monkeypatch.setattr(image_folder, "_NATIVE_PNG", path == "native" and image_folder._NATIVE_PNG)
    idx = np.arange(len(grey_folder))
    batches = [idx[i:i + BATCH] for i in range(0, len(idx), BATCH)]
    benchmark.group = "ImageFolder.get_batch over 512 28x28 grey PNG files, batch 64"
    benchmark.extra_info.update(impl=f"pyconvnet {path}", work=512, unit="files/s")
    n = benchmark(lambda: sum(len(grey_folder.get_batch(b)[1]) for b in batches))
    assert n == 512


if __name__ == "__main__":
    main()
