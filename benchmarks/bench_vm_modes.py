"""Serving speed sorted by the mode a VM is in: on the 2-core KVM hosts this project is measured
on, a cache line's round trip between the two virtual CPUs is 80-150 ns for a while and then
370-430 ns for a while (as if they sat on different L3 caches of the host), and anything that
moves data between the cores slows down in the second mode. Whole-network timings mix the two
modes unless they are sorted.

    python benchmarks/bench_vm_modes.py [--net r50-1] [--seconds 240] [--other-tree PATH] [--no-ort]

Each system runs in a process of its own with the network loaded once (pyconvnet from this tree;
optionally pyconvnet from another source tree with a built `_C`, to compare two builds; ONNX
Runtime on the same network exported from torch). Rounds alternate the systems; each round is
the median of --calls back-to-back calls, bracketed by a ping-pong measurement
(cache_pingpong.c, compiled here with the system's C compiler), and kept when both
measurements agree on the mode. Needs torch (the network is built in torch, as in
bench_serving_graph.py) and, unless --no-ort, onnxruntime; Linux with at least 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FAST_NS, SLOW_NS = 200, 300  # round trips under / over these: the fast / the slow mode


def worker(system, tree, net, threads):
    """Loads the network, then answers each line N on stdin with the median ms of N calls."""
    sys.path.insert(0, tree)
    sys.path.insert(0, os.path.join(tree, "benchmarks"))
    import bench_serving_graph as bsg
    import pyconvnet

    kind, stages, batch = bsg.NETS[net]
    tmodel = bsg._torch_resnet(kind, stages)
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    if system == "ort":
        run, _ = bsg.onnx_session(tmodel, batch, threads)
        call = lambda: run(x)  # noqa: E731
    else:
        if not pyconvnet.__file__.startswith(os.path.abspath(tree)):
            raise SystemExit(f"pyconvnet was imported from {pyconvnet.__file__}, not from {tree}")
        pyconvnet.set_num_threads(threads)
        im = pyconvnet.InferenceModel(bsg.pyconvnet_resnet(tmodel))
        call = lambda: im.predict(x)  # noqa: E731
    for _ in range(5):
        call()
    print("ready", flush=True)
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        print(json.dumps(float(np.median(times)) * 1e3), flush=True)


def build_pingpong(tmp):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SystemExit("bench_vm_modes.py needs a C compiler (cc) for cache_pingpong.c")
    exe = os.path.join(tmp, "cache_pingpong")
    subprocess.run([cc, "-O2", "-pthread", os.path.join(HERE, "cache_pingpong.c"), "-o", exe], check=True)
    return exe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", default="r50-1", choices=["r18-1", "r18-16", "r50-1"])
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--other-tree", help="another pyconvnet source tree (built in place) to compare")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("SYSTEM", "TREE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.seconds <= 0 or args.calls < 1 or args.threads < 1:
        ap.error("--seconds, --calls and --threads must be positive")
    if args.worker:
        worker(args.worker[0], args.worker[1], args.net, args.threads)
        return
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench_vm_modes.py needs 2 CPUs")
    tree = os.path.dirname(HERE)
    systems = [("pyconvnet", "pyconvnet", tree)]
    if args.other_tree:
        systems.append((f"pyconvnet @ {args.other_tree}", "pyconvnet", os.path.abspath(args.other_tree)))
    if not args.no_ort:
        systems.append(("ONNX Runtime", "ort", tree))
    with tempfile.TemporaryDirectory() as tmp:
        pingpong = build_pingpong(tmp)

        def round_trip():
            return float(subprocess.run([pingpong], capture_output=True, text=True, check=True).stdout)

        procs = []
        for _, kind, root in systems:
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--net", args.net, "--threads",
                                  str(args.threads), "--worker", kind, root],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if p.stdout.readline().strip() != "ready":
                raise SystemExit(f"the {kind} worker for {root} did not start")
            procs.append(p)
        kept = {"fast": [[] for _ in systems], "slow": [[] for _ in systems]}
        trips = []
        end = time.time() + args.seconds
        while time.time() < end:
            for i, p in enumerate(procs):
                before = round_trip()
                p.stdin.write(f"{args.calls}\n")
                p.stdin.flush()
                ms = json.loads(p.stdout.readline())
                after = round_trip()
                trips += [before, after]
                mode = ("fast" if max(before, after) < FAST_NS else
                        "slow" if min(before, after) > SLOW_NS else None)
                if mode:
                    kept[mode][i].append(ms)
                time.sleep(0.3)  # other libraries' worker threads spin after a call
        for p in procs:
            p.stdin.close()
            p.wait()
    print(f"{args.net}, {args.threads} threads, {args.seconds:.0f} s; cache-line round trips "
          f"{np.percentile(trips, 10):.0f}-{np.percentile(trips, 90):.0f} ns (10th-90th percentile)")
    for mode, per_system in kept.items():
        if not all(per_system):
            print(f"{mode} mode: not every system has a round in it ({[len(r) for r in per_system]})")
            continue
        medians = [float(np.median(r)) for r in per_system]
        cells = [f"{name} {m:.2f} ms (n={len(r)})" for (name, _, _), m, r in zip(systems, medians, per_system)]
        ratios = [f"{systems[k][0]} : {systems[0][0]} = {medians[k] / medians[0]:.3f}" for k in range(1, len(systems))]
        print(f"{mode} mode: " + ", ".join(cells) + ("; " + ", ".join(ratios) if ratios else ""))


if __name__ == "__main__":
    main()
