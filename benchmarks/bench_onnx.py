"""ONNX import benchmark: load time of ResNet-50, and the imported ResNet-50 / ResNet-18 run by
pyconvnet beside ONNX Runtime on the same file.

    python benchmarks/bench_onnx.py                      # defaults: 2 threads, 7 rounds
    python benchmarks/bench_onnx.py --rounds 11 --threads 2

The networks are built by hand in torch (torchvision's layout: 7x7 stem, max pool, basic or
bottleneck residual blocks, global average pool, fully connected), with random weights and
BatchNorm statistics, put in eval mode and exported with torch.onnx.export (opset 17, batch
dynamic). Each system runs the same file: pyconvnet through `pyconvnet.onnx.load` and
InferenceModel when it accepts the imported graph (else Model.predict), ONNX Runtime with
intra_op_num_threads = --threads. Systems alternate within every round with a short pause
between them, each making --calls calls back to back: the first after the pause is the cold
time (both runtimes' worker threads have gone to sleep; on a 2-vCPU VM this first call varies
1-1.8x from round to round for both), the median of the others the warm time. The table gives
each one's median over the rounds and the ratio ORT time / pyconvnet time (above 1: pyconvnet
is faster). Outputs are checked against ORT's before timing.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import warnings

import numpy as np


def _torch_resnet(depth: int):
    import torch
    from torch import nn

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(planes)
            self.c2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(planes)
            self.down = None
            if stride != 1 or cin != planes:
                self.down = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride):
            super().__init__()
            out = planes * 4
            self.c1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.b1 = nn.BatchNorm2d(planes)
            self.c2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.b2 = nn.BatchNorm2d(planes)
            self.c3 = nn.Conv2d(planes, out, 1, bias=False)
            self.b3 = nn.BatchNorm2d(out)
            self.down = None
            if stride != 1 or cin != out:
                self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = torch.relu(self.b2(self.c2(y)))
            y = self.b3(self.c3(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    block, counts = {18: (Basic, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}[depth]
    mods = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, n in enumerate(counts):
        planes = 64 * 2**stage
        for i in range(n):
            mods.append(block(cin, planes, 2 if (i == 0 and stage > 0) else 1))
            cin = planes * block.expansion
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    net = nn.Sequential(*mods)
    gen = torch.Generator().manual_seed(depth)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)
                m.running_mean.uniform_(-0.1, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    return net.eval()


def export_resnet(depth: int) -> bytes:
    import torch

    net = _torch_resnet(depth)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), f, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return f.getvalue()


def _ort_session(data: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0]


def _pyconvnet_runner(model):
    import pyconvnet

    try:
        served = pyconvnet.InferenceModel(model)
    except Exception as exc:  # the serving runtime may not take graphs yet
        print(f"  (InferenceModel does not take this graph: {type(exc).__name__}: {str(exc)[:120]}; "
              "using Model.predict)")
        return "Model.predict", lambda x: model.predict(x)
    return "InferenceModel", served.predict


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between systems")
    ap.add_argument("--calls", type=int, default=5,
                    help="back-to-back calls per round and system: the first is timed as cold, the "
                         "median of the rest as warm")
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet
    import pyconvnet.onnx

    pyconvnet.set_num_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} rounds={args.rounds} isa={pyconvnet._C.isa()}")

    files = {depth: export_resnet(depth) for depth in (18, 50)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resnet50.onnx")
        with open(path, "wb") as f:
            f.write(files[50])
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            pyconvnet.onnx.load(path)
            times.append(time.perf_counter() - t0)
        print(f"load ResNet-50 ({os.path.getsize(path) / 1e6:.0f} MB): best {min(times):.2f} s, "
              f"median {sorted(times)[1]:.2f} s (target < 2 s)")

    rows = []
    for depth, batch in ((50, 1), (18, 1), (18, 16)):
        model = pyconvnet.onnx.load(files[depth])
        how, ours = _pyconvnet_runner(model)
        ort_run = _ort_session(files[depth], args.threads)
        x = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        ref, got = ort_run(x), ours(x)
        err = float(np.max(np.abs(got - ref)) / max(1e-12, np.max(np.abs(ref))))
        assert err < 1e-4, f"ResNet-{depth}: pyconvnet differs from ONNX Runtime by {err:.2e} of the output scale"
        for fn in (ours, ort_run):  # warm up
            fn(x)
        # per round and system: the first call after the pause (cold: worker threads asleep,
        # caches holding the other system's data) and the median of the calls after it (warm)
        cold = {"pyconvnet": [], "onnxruntime": []}
        warm = {"pyconvnet": [], "onnxruntime": []}
        for _ in range(args.rounds):
            for name, fn in (("pyconvnet", ours), ("onnxruntime", ort_run)):
                time.sleep(args.pause)
                ts = []
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    fn(x)
                    ts.append(time.perf_counter() - t0)
                cold[name].append(ts[0])
                if len(ts) > 1:
                    warm[name].append(float(np.median(ts[1:])))
        med = {k: (float(np.median(cold[k])) * 1e3, float(np.median(warm[k])) * 1e3 if warm[k] else float("nan"))
               for k in cold}
        rows.append((f"ResNet-{depth}", batch, how, med["pyconvnet"], med["onnxruntime"], err))

    print(f"{'network':<10} {'batch':>5} {'pyconvnet path':<15} {'warm: ours ms':>13} {'ORT ms':>7} "
          f"{'ORT/ours':>8}  {'cold: ours ms':>13} {'ORT ms':>7} {'ORT/ours':>8} {'max err':>8}")
    for net, batch, how, (ours_cold, ours_warm), (ort_cold, ort_warm), err in rows:
        print(f"{net:<10} {batch:>5} {how:<15} {ours_warm:>13.1f} {ort_warm:>7.1f} {ort_warm / ours_warm:>7.2f}x  "
              f"{ours_cold:>13.1f} {ort_cold:>7.1f} {ort_cold / ours_cold:>7.2f}x {err:>8.1e}")


if __name__ == "__main__":
    main()
