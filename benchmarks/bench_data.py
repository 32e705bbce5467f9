"""Training from a folder of PNG files against training from the same images in memory.

Issue 13's targets, measured side by side in one run (2 cores, 2 kernel threads):
- fmnist-cnn trained from a folder of 28x28 PNGs (ImageFolder + DataLoader, 2 worker threads)
  runs at >= 0.9x the speed of training from the same images as an in-memory array;
- the loader alone delivers >= 3x the training throughput;
- peak memory while training from the folder stays under 1.2x that of training on one batch
  held in memory (the model, its activations and the batch buffers), i.e. no whole-dataset
  decode.

    python benchmarks/bench_data.py [--files 20000] [--rounds 4]   # the table with ratios
    pytest benchmarks/bench_data.py --benchmark-only                # loader throughput (small folder)

Rounds alternate folder / memory / loader-alone epochs with a pause between them; speeds are
the median of the rounds (one lucky epoch moves a best-of-2 by 5% on a shared 2-core VM).
Peak memory (VmHWM) is measured in a fresh process per case.
The files are 28x28 greyscale PNGs of make_shapes images written with the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

try:
    import pyconvnet  # noqa: F401
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pyconvnet import datasets, init  # noqa: E402
from pyconvnet.data import DataLoader, ImageFolder  # noqa: E402
from pyconvnet.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU  # noqa: E402
from pyconvnet.model import Sequential  # noqa: E402
from pyconvnet.optim import Adam  # noqa: E402
from pyconvnet.visualize import save_png  # noqa: E402

BATCH = 64
PAUSE_S = 1.0


def fmnist_cnn():
    """benchmarks/bench_model.py's fmnist-cnn."""
    return Sequential([
        Conv2d(1, 32, 5, padding=2), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 5, padding=2), ReLU(), MaxPool2d(2),
        Flatten(), Linear(3136, 1024), ReLU(), Dropout(0.4), Linear(1024, 10),
    ], input_shape=(1, 28, 28))


def write_folder(root, n, seed=0):
    """root/<class>/<index>.png: n 28x28 greyscale PNGs in 8 class folders."""
    for start in range(0, n, 2000):  # a chunk at a time: the generator's arrays stay small
        x, y, _ = datasets.make_shapes(min(2000, n - start), size=28, seed=seed + start)
        for i, (img, label) in enumerate(zip(x, y)):
            d = os.path.join(root, f"{label:02d}")
            os.makedirs(d, exist_ok=True)
            save_png(img[0], os.path.join(d, f"{start + i:06d}.png"))


def folder_loader(root, workers=2, seed=0):
    return DataLoader(ImageFolder(root, channels=1), batch_size=BATCH, shuffle=True, seed=seed, workers=workers)


def in_memory(root):
    """The folder's images decoded once into one array (what training from memory starts from)."""
    ds = ImageFolder(root, channels=1)
    x, y = next(iter(DataLoader(ds, batch_size=len(ds), shuffle=False, workers=0)))
    return x, y


def _epoch_s(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def speed_table(root, rounds):
    x, y = in_memory(root)
    n = len(y)
    init.manual_seed(0)
    model = fmnist_cnn()
    opt = Adam(model.params())
    loader = folder_loader(root)
    model.fit(x[:BATCH * 4], y[:BATCH * 4], epochs=1, batch_size=BATCH, optimizer=opt, verbose=0)  # warm-up
    times = {"folder": [], "memory": [], "loader": []}
    for r in range(rounds):
        for case in ("folder", "memory", "loader"):
            time.sleep(PAUSE_S)
            if case == "folder":
                t = _epoch_s(lambda: model.fit(loader, epochs=1, optimizer=opt, seed=r, verbose=0))
            elif case == "memory":
                t = _epoch_s(lambda: model.fit(x, y, epochs=1, batch_size=BATCH, optimizer=opt, seed=r, verbose=0))
            else:
                t = _epoch_s(lambda: sum(len(b[1]) for b in loader))
            times[case].append(t)
            print(f"  round {r + 1} {case:>6}: {n / t:8.0f} images/s", flush=True)
    return {k: n / float(np.median(v)) for k, v in times.items()}


def _hwm_mb():
    """This process's peak resident set (VmHWM). Not ru_maxrss: on Linux that keeps the
    parent's resident size from before exec, which would hide the child's own peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover - not Linux


def _peak_child(case, root):
    """Run in a fresh process: train one epoch as `case`, return (rss after setup, peak rss) in MB."""
    init.manual_seed(0)
    model = fmnist_cnn()
    opt = Adam(model.params())
    ds = ImageFolder(root, channels=1)
    steps = -(-len(ds) // BATCH)
    if case == "folder":
        data = folder_loader(root)
    elif case == "memory":
        data = in_memory(root)
    else:  # one batch held in memory, trained on for the same number of steps
        xb, yb = next(iter(DataLoader(ds, batch_size=BATCH, workers=0, seed=0)))
        data = None
    setup = _hwm_mb()
    if case == "folder":
        model.fit(data, epochs=1, optimizer=opt, verbose=0)
    elif case == "memory":
        model.fit(data[0], data[1], epochs=1, batch_size=BATCH, optimizer=opt, verbose=0)
    else:
        model.fit((lambda: ((xb, yb) for _ in range(steps)))(), epochs=1, optimizer=opt, verbose=0)
    return setup, _hwm_mb()


def peak_memory(root):
    out = {}
    for case in ("batch", "folder", "memory"):
        res = subprocess.run([sys.executable, os.path.abspath(__file__), "--peak-child", case, root],
                             capture_output=True, text=True, check=True)
        out[case] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peak-child", nargs=2, metavar=("CASE", "ROOT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import pyconvnet

    pyconvnet.set_num_threads(args.threads)
    if args.peak_child:
        print(json.dumps(_peak_child(*args.peak_child)))
        return None
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        write_folder(root, args.files)
        print(f"wrote {args.files} PNG files in {time.perf_counter() - t0:.1f} s; {args.threads} threads, "
              f"batch {BATCH}, DataLoader workers=2", flush=True)
        speeds = speed_table(root, args.rounds)
        mem = peak_memory(root)
    print(f"\nfmnist-cnn, {args.files} files of 28x28 (median of {args.rounds} rounds):")
    print(f"  training from memory  {speeds['memory']:8.0f} images/s")
    print(f"  training from folder  {speeds['folder']:8.0f} images/s   "
          f"{speeds['folder'] / speeds['memory']:.2f}x memory (target >= 0.9x)")
    print(f"  loader alone          {speeds['loader']:8.0f} images/s   "
          f"{speeds['loader'] / speeds['memory']:.2f}x training (target >= 3x)")
    print("  peak RSS (MB), after setup -> peak:")
    for case, label in (("batch", "one batch in memory"), ("folder", "from the folder"),
                        ("memory", "whole array in memory")):
        setup, peak = mem[case]
        print(f"    {label:22} {setup:7.1f} -> {peak:7.1f}")
    print(f"  folder / one batch: {mem['folder'][1] / mem['batch'][1]:.2f}x peak (target < 1.2x); "
          f"whole array / one batch: {mem['memory'][1] / mem['batch'][1]:.2f}x")
    return speeds, mem


# ---------------------------------------------------------------- pytest-benchmark: loader alone

@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    pytest.importorskip("PIL")
    root = tmp_path_factory.mktemp("pngs")
    write_folder(str(root), 1024)
    return str(root)


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_throughput(benchmark, small_folder, workers):
    loader = folder_loader(small_folder, workers=workers)
    benchmark.group = "DataLoader over 1024 28x28 PNG files, batch 64"
    benchmark.extra_info.update(impl=f"pyconvnet workers={workers}", work=1024, unit="images/s")
    n = benchmark(lambda: sum(len(b[1]) for b in loader))
    assert n == 1024


if __name__ == "__main__":
    main()
