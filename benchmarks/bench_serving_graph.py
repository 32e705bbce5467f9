"""Serving graph models: ResNet-18 (batch 1 and 16) and ResNet-50 (batch 1) at 224x224 with
random weights, pyconvnet.InferenceModel against ONNX Runtime on the same network.

    python benchmarks/bench_serving_graph.py [--nets r18-1 r18-16 r50-1] [--rounds 7] [--threads 2]

The network is built twice with the same weights: as a torch module (BasicBlock/Bottleneck
by hand, torchvision is not needed), exported with torch.onnx.export and run by ONNX Runtime,
and as a pyconvnet graph Model (Input, layer calls, Add) frozen by InferenceModel. BatchNorm
layers get random running statistics, so folding them is exercised. Both systems run with
the same number of threads (ORT: intra-op threads, inter-op 1, sequential execution, all
graph optimisations). Rounds alternate the systems with a pause between them; each round is
the median of several back-to-back calls, and the table gives the median over rounds.

On a shared, busy machine wall times mostly measure the other processes: `--clock cpu
--threads 1` times each call by the process's CPU time instead (one thread each, so no
spinning worker inflates it), which counts only the work done.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import pyconvnet
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet
from pyconvnet.layers import (  # noqa: E402
    Add, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, ReLU,
)

# name: (block kind, blocks per stage, batch)
NETS = {"r18-1": ("basic", (2, 2, 2, 2), 1), "r18-16": ("basic", (2, 2, 2, 2), 16),
        "r50-1": ("bottleneck", (3, 4, 6, 3), 1)}


def _torch_resnet(kind, stages, seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def bn(c):
        b = nn.BatchNorm2d(c)
        with torch.no_grad():  # running statistics away from (0, 1), so folding matters
            b.running_mean.uniform_(-0.2, 0.2)
            b.running_var.uniform_(0.5, 1.5)
            b.weight.uniform_(0.5, 1.0)
            b.bias.uniform_(-0.2, 0.2)
        return b

    class Block(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            exp = 1 if kind == "basic" else 4
            cout = width * exp
            if kind == "basic":
                self.body = nn.Sequential(nn.Conv2d(cin, width, 3, stride, 1, bias=False), bn(width), nn.ReLU(),
                                          nn.Conv2d(width, cout, 3, 1, 1, bias=False), bn(cout))
            else:
                self.body = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), bn(width), nn.ReLU(),
                                          nn.Conv2d(width, width, 3, stride, 1, bias=False), bn(width), nn.ReLU(),
                                          nn.Conv2d(width, cout, 1, bias=False), bn(cout))
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn(cout))
            self.cout = cout

        def forward(self, x):
            s = x if self.down is None else self.down(x)
            return torch.relu(self.body(x) + s)

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), bn(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for k, n in enumerate(stages):
        for b in range(n):
            blk = Block(cin, 64 << k, 2 if (b == 0 and k > 0) else 1)
            layers.append(blk)
            cin = blk.cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers).eval()


def _copy_conv(src, dst):
    dst.weight.data[...] = src.weight.detach().numpy()
    if src.bias is not None:
        dst.bias.data[...] = src.bias.detach().numpy()


def _copy_bn(src, dst):
    dst.weight.data[...] = src.weight.detach().numpy()
    dst.bias.data[...] = src.bias.detach().numpy()
    dst.running_mean[...] = src.running_mean.numpy()
    dst.running_var[...] = src.running_var.numpy()
    dst.eps = src.eps


def pyconvnet_resnet(tmodel):
    """The same network as a pyconvnet graph Model, with the torch module's weights."""
    from torch import nn

    def conv(m, x):
        layer = Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                       bias=m.bias is not None)
        _copy_conv(m, layer)
        return layer(x)

    def bn(m, x):
        layer = BatchNorm2d(m.num_features)
        _copy_bn(m, layer)
        return layer(x)

    def seq(mods, x):
        for m in mods:
            if isinstance(m, nn.Conv2d):
                x = conv(m, x)
            elif isinstance(m, nn.BatchNorm2d):
                x = bn(m, x)
            elif isinstance(m, nn.ReLU):
                x = ReLU()(x)
            elif isinstance(m, nn.MaxPool2d):
                x = MaxPool2d(m.kernel_size, stride=m.stride, padding=m.padding)(x)
            elif isinstance(m, nn.AdaptiveAvgPool2d):
                x = GlobalAvgPool2d()(x)
            elif isinstance(m, nn.Flatten):
                x = Flatten()(x)
            elif isinstance(m, nn.Linear):
                layer = Linear(m.in_features, m.out_features)
                layer.weight.data[...] = m.weight.detach().numpy()
                layer.bias.data[...] = m.bias.detach().numpy()
                x = layer(x)
            else:  # a residual block
                s = x if m.down is None else seq(m.down, x)
                x = ReLU()(Add()([seq(m.body, x), s]))
        return x

    inp = pyconvnet.Input((3, 224, 224))
    return pyconvnet.Model(inp, seq(tmodel, inp))


def onnx_session(tmodel, batch, threads):
    import onnxruntime as ort
    import torch

    f = io.BytesIO()
    torch.onnx.export(tmodel, torch.zeros(batch, 3, 224, 224), f, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(f.getvalue(), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0], f"ONNX Runtime {ort.__version__}"


def median_call(fn, calls, clock=time.perf_counter):
    ts = []
    for _ in range(calls):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return float(np.median(ts))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=5, help="back-to-back calls per round (median)")
    p.add_argument("--pause", type=float, default=0.2, help="seconds between systems")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: the process's CPU time per call (needs --threads 1)")
    args = p.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        p.error("--clock cpu needs --threads 1 (spinning worker threads would count)")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    import torch

    torch.set_num_threads(args.threads)
    pyconvnet.set_num_threads(args.threads)
    from bench_serving import host

    print(host())
    print(f"pyconvnet tier {pyconvnet._C.isa()}; threads {args.threads} each; {args.clock} clock")
    for name in args.nets:
        kind, stages, batch = NETS[name]
        tmodel = _torch_resnet(kind, stages)
        model = pyconvnet_resnet(tmodel)
        im = pyconvnet.InferenceModel(model, precision=args.precision)
        ort_run, ort_name = onnx_session(tmodel, batch, args.threads)
        x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        with torch.no_grad():
            ref = tmodel(torch.from_numpy(x)).numpy()
        ours, theirs = im.predict(x), ort_run(x)
        scale = float(np.abs(ref).max())
        err_p, err_o = np.abs(ours - ref).max() / scale, np.abs(theirs - ref).max() / scale
        runs = {"pyconvnet": lambda: im.predict(x), "ort": lambda: ort_run(x)}
        for fn in runs.values():  # warm
            for _ in range(2):
                fn()
        times = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, fn in runs.items():
                times[k].append(median_call(fn, args.calls, clock))
                time.sleep(args.pause)
        tp, to = np.median(times["pyconvnet"]), np.median(times["ort"])
        print(f"{name:7s} batch {batch:2d}: pyconvnet {tp * 1e3:8.2f} ms  {ort_name} {to * 1e3:8.2f} ms  "
              f"speed ratio (ORT time / ours) {to / tp:5.2f}x   max err vs torch: ours {err_p:.1e}, ORT {err_o:.1e}",
              flush=True)


if __name__ == "__main__":
    main()
