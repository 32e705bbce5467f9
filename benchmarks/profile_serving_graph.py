"""Where a served ResNet's time goes, step by step, beside ONNX Runtime's own profile of the
same network: both grouped by (input shape, output shape) of each step, so a convolution
shape where pyconvnet is slower shows up directly.

    python benchmarks/profile_serving_graph.py [--net r50-1|r18-1|r18-16] [--repeats 20] [--threads 2]

pyconvnet's times come from `_C.Network.profile` (the wall time of each step inside one native
call, averaged over the repeats); ONNX Runtime's from its profiler (`enable_profiling`, the
"Node" events' durations, averaged over the same number of runs). ORT fuses differently
(Conv+Add+Relu into one node, BatchNorm folded), so a row may cover different work on the two
sides; the totals are the sums of the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_serving_graph as bsg  # noqa: E402

import pyconvnet  # noqa: E402


def ours(model, x, repeats):
    """[(key, label, seconds)] per step of the native segments."""
    im = pyconvnet.InferenceModel(model)
    im.predict(x)
    compiled = im._compile((tuple(x.shape[1:]),))
    rows = []
    for kind, net, refs, _ in compiled.segments:
        if kind != "native":
            continue
        xs = [x] if refs == [0] else None
        if xs is None:
            raise SystemExit("the profile needs one native segment reading the model input")
        net.profile(xs, 2)  # warm
        seconds = net.profile(xs, repeats)
        desc = net.describe()
        shapes = {k: tuple(net.node_shape(k)) for k in range(net.num_inputs)}
        shapes.update({node: tuple(out) for _, out, _, node, _ in desc})
        for (kernel, out, _, _, reads), t in zip(desc, seconds):
            key = (shapes[reads[0]], tuple(out))
            rows.append((key, kernel, t))
    return rows


def ort_rows(tmodel, x, threads, repeats):
    import onnxruntime as ort
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        torch.onnx.export(tmodel, torch.from_numpy(x), path, input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "prof")
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        for _ in range(2):
            sess.run(None, {"x": x})
        for _ in range(repeats):
            sess.run(None, {"x": x})
        with open(sess.end_profiling()) as f:
            events = json.load(f)
    per_node = defaultdict(list)
    info = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        args = e.get("args", {})
        name = e["name"][: -len("_kernel_time")]
        per_node[name].append(e["dur"] * 1e-6)
        ins = args.get("input_type_shape", [])
        outs = args.get("output_type_shape", [])
        first_in = next(iter(ins[0].values())) if ins else []
        first_out = next(iter(outs[0].values())) if outs else []
        info[name] = (tuple(first_in[1:]), tuple(first_out[1:]), args.get("op_name", "?"))
    rows = []
    for name, ts in per_node.items():
        cin, cout, op = info[name]
        ts = ts[-repeats:]  # the timed runs (the warm ones come first)
        rows.append(((_dims(cin), _dims(cout)), op, float(np.mean(ts))))
    return rows


def _dims(shape):
    shape = tuple(int(d) for d in shape)
    return shape + (1,) * (3 - len(shape)) if len(shape) < 3 else shape


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", choices=list(bsg.NETS), default="r50-1")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    pyconvnet.set_num_threads(args.threads)
    kind, stages, batch = bsg.NETS[args.net]
    tmodel = bsg._torch_resnet(kind, stages)
    model = bsg.pyconvnet_resnet(tmodel)
    x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    a = ours(model, x, args.repeats)
    b = ort_rows(tmodel, x, args.threads, args.repeats)
    groups = defaultdict(lambda: [0.0, 0.0, set(), set(), 0, 0])
    for key, label, t in a:
        g = groups[key]
        g[0] += t
        g[2].add(label.split(" + ")[0])
        g[4] += 1
    for key, label, t in b:
        g = groups[key]
        g[1] += t
        g[3].add(label)
        g[5] += 1
    print(f"{args.net} (batch {batch}), {args.threads} threads, load average {os.getloadavg()[0]:.1f}: "
          f"mean ms per run over {args.repeats} runs, grouped by (input, output) per sample")
    print(f"  {'input -> output':34s} {'steps':>5s} {'ours':>8s} {'nodes':>5s} {'ORT':>8s} {'ORT/ours':>8s}  kernels")
    ta = tb = 0.0
    for key, (t_a, t_b, la, lb, na, nb) in sorted(groups.items(), key=lambda kv: -max(kv[1][0], kv[1][1])):
        ta += t_a
        tb += t_b
        ratio = f"{t_b / t_a:8.2f}" if t_a > 0 and t_b > 0 else " " * 8
        print(f"  {str(key[0]) + ' -> ' + str(key[1]):34s} {na:5d} {t_a * 1e3:8.3f} {nb:5d} {t_b * 1e3:8.3f} {ratio}  "
              f"{'; '.join(sorted(la))} | {'; '.join(sorted(lb))}")
    print(f"  {'total':34s} {'':5s} {ta * 1e3:8.3f} {'':5s} {tb * 1e3:8.3f} {tb / ta:8.2f}")


if __name__ == "__main__":
    main()
