"""Serving benchmark: pyconvnet.InferenceModel (fp32 and bf16) beside Sequential.predict, ONNX
Runtime, OpenVINO (f32 and bf16) and PyTorch, on fmnist-cnn and cifar-cnn at batch 1 and 64.

    python benchmarks/bench_serving.py                   # round-robin table (medians, ratios)
    python benchmarks/bench_serving.py --rounds 25 --nets cifar-cnn --batches 1
    python benchmarks/bench_serving.py --memory          # peak memory of an InferenceModel
    pytest benchmarks/bench_serving.py --benchmark-only  # pytest-benchmark (conftest table)

Systems (each optional one is skipped, with the reason, when its package is missing):

- pyconvnet            InferenceModel(model, "fp32"): the whole network in one C++ call
- pyconvnet-bf16       InferenceModel(model, "bf16") (needs _C.round_to_bf16)
- pyconvnet-Sequential model.predict(x): the layer-by-layer Python path
- onnxruntime          the same graph and weights (benchmarks/onnx_reference.py), fp32
- openvino-f32/-bf16   that ONNX file read by openvino.Core().read_model, compiled for "CPU"
- torch                the same layers in torch.nn, fp32, under torch.inference_mode

OpenVINO settings: INFERENCE_NUM_THREADS = the thread count, INFERENCE_PRECISION_HINT f32 or
bf16, PERFORMANCE_HINT LATENCY at every batch size. The benchmark sends one synchronous request
at a time; THROUGHPUT would split the threads into several streams (2 streams of 1 thread on 2
threads), and one request runs on one stream only, leaving the other threads idle. The
precision hint is always set: OpenVINO's default on a CPU with bf16 instructions (AVX512-BF16,
AMX) is bf16, so "f32" must be asked for. The precision OpenVINO actually compiled
(`compiled.get_property("INFERENCE_PRECISION_HINT")`) and the precision and primitive of each
convolution and fully connected layer of its runtime graph are printed: without bf16 support
in the CPU, OpenVINO may fall back to f32.

Every output is checked against ONNX Runtime's (the NumPy reference of
benchmarks/numpy_reference_cnn.py without it) before timing: fp32 systems within 1e-4 of the
output scale (max |reference|), bf16 systems within 5e-2 of it.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import pyconvnet  # noqa: E402
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet  # noqa: E402
from pyconvnet import _C  # noqa: E402
from pyconvnet.layers import Dropout, Flatten, LeakyReLU, ReLU  # noqa: E402

from bench_model import NETS, make, torch_model  # noqa: E402

BATCHES = (1, 64)
THREADS = int(os.environ.get("PYCONVNET_BENCH_THREADS", "2"))
PAUSE_S = 0.25  # before each timed call of the round robin
ROUNDS = 15
TOL_FP32 = 1e-4  # of the output scale
TOL_BF16 = 5e-2


class Unavailable(Exception):
    """A system that cannot run here (package missing, feature not in this build)."""


# ----------------------------------------------------------------------------- systems
# Each factory takes (model, x, threads) and returns (run, note): run() -> outputs for x.
def _inference_model(precision):
    def factory(model, x, threads):
        if precision == "bf16" and not hasattr(_C, "round_to_bf16"):
            raise Unavailable("InferenceModel bf16 needs _C.round_to_bf16, which this build of _C "
                              "lacks (it comes with the packed-linear branch)")
        im = pyconvnet.InferenceModel(model, precision=precision)
        pyconvnet.set_num_threads(threads)
        return (lambda: im.predict(x)), f"InferenceModel precision {precision}, ISA {_C.isa()}"
    return factory


def _sequential(model, x, threads):
    pyconvnet.set_num_threads(threads)
    return (lambda: model.predict(x, batch_size=len(x))), "Sequential.predict, layer by layer"


def _onnxruntime(model, x, threads):
    try:
        import onnxruntime as ort
        from onnx_reference import sequential
    except ImportError as e:
        raise Unavailable(f"{e.name} not installed (pip install onnx onnxruntime)") from None
    run = sequential(model, x.shape, threads)
    return (lambda: run(x)), f"ONNX Runtime {ort.__version__}, intra-op threads {threads}, inter-op 1"


def _openvino_layers(compiled):
    """'Convolution x4 bf16 brgconv_avx512_bf16, ...': the compute layers of the runtime graph."""
    seen = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if kind not in ("Convolution", "FullyConnected", "MatMul"):
            continue
        key = (kind, info["runtimePrecision"].astype(str), info["primitiveType"].astype(str))
        seen[key] = seen.get(key, 0) + 1
    return ", ".join(f"{k} x{n} {p} {prim}" for (k, p, prim), n in seen.items())


def _openvino(precision):
    def factory(model, x, threads):
        try:
            import onnx
            import openvino as ov
        except ImportError as e:
            raise Unavailable(f"{e.name} not installed (pip install onnx openvino)") from None
        from onnx_reference import sequential_onnx

        core = ov.Core()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.onnx")
            onnx.save(sequential_onnx(model, x.shape), path)
            compiled = core.compile_model(core.read_model(path), "CPU", {
                "INFERENCE_NUM_THREADS": threads,
                "INFERENCE_PRECISION_HINT": precision,
                "PERFORMANCE_HINT": "LATENCY",
            })
        req = compiled.create_infer_request()
        actual = compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type
        actual = actual.get_type_name() if hasattr(actual, "get_type_name") else str(actual)
        note = (f"OpenVINO {ov.__version__.split('-')[0]}: INFERENCE_PRECISION_HINT asked {precision}, "
                f"compiled {actual}; threads {compiled.get_property('INFERENCE_NUM_THREADS')}, "
                f"streams {compiled.get_property('NUM_STREAMS')}, "
                f"hint {compiled.get_property('PERFORMANCE_HINT')}; {_openvino_layers(compiled)}")
        return (lambda: req.infer({0: x}, share_inputs=True)[0]), note
    return factory


def _torch(model, x, threads):
    try:
        import torch
    except ImportError:
        raise Unavailable("torch not installed") from None
    torch.set_num_threads(threads)
    tm = torch_model(model).eval()
    xt = torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return tm(xt).numpy()

    return run, f"torch {torch.__version__} fp32, {threads} threads"


# name: (label, factory, bf16?)
SYSTEMS = {
    "pyconvnet": ("pyconvnet InferenceModel fp32", _inference_model("fp32"), False),
    "pyconvnet-bf16": ("pyconvnet InferenceModel bf16", _inference_model("bf16"), True),
    "pyconvnet-Sequential": ("pyconvnet Sequential.predict", _sequential, False),
    "onnxruntime": ("ONNX Runtime fp32", _onnxruntime, False),
    "openvino-f32": ("OpenVINO f32", _openvino("f32"), False),
    "openvino-bf16": ("OpenVINO bf16", _openvino("bf16"), True),
    "torch": ("torch fp32", _torch, False),
}


def inputs(net, batch):
    """The model (fixed seed) and `batch` images for `net` (bench_model's 64, repeated past 64)."""
    model, x, _ = make(net)
    return model, np.ascontiguousarray(np.resize(x, (batch,) + x.shape[1:]))


def reference(model, x, threads):
    """(outputs, name) of the reference: ONNX Runtime, else the NumPy implementation."""
    try:
        run, _ = _onnxruntime(model, x, threads)
        return run(), "ONNX Runtime"
    except Unavailable:
        import numpy_reference_cnn as npref

        return npref.from_pyconvnet(model).predict(x), "NumPy reference"


def check(name, out, ref):
    """Relative error max |out - ref| / max |ref|; AssertionError beyond the system's tolerance."""
    out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
    err = float(np.abs(out - ref).max() / np.abs(ref).max())
    tol = TOL_BF16 if SYSTEMS[name][2] else TOL_FP32
    if not err <= tol:
        raise AssertionError(f"{name}: max |out - ref| / max |ref| = {err:.2e} > {tol:.0e}")
    return err


# ------------------------------------------------------------------------------------- pytest
@pytest.mark.parametrize("impl", list(SYSTEMS))
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("net", list(NETS))
def test_serving(benchmark, net, batch, impl):
    from conftest import BENCH_THREADS

    model, x = inputs(net, batch)
    try:
        run, note = SYSTEMS[impl][1](model, x, BENCH_THREADS)
    except Unavailable as e:
        pytest.skip(str(e))
    ref, _ = reference(model, x, BENCH_THREADS)
    check(impl, run(), ref)
    benchmark.group = f"serving {net} batch {batch}"
    benchmark.extra_info.update(net=net, impl=impl, batch=batch, threads=BENCH_THREADS, work=batch,
                                unit="images/s", note=note)
    benchmark.pedantic(run, rounds=200 if batch == 1 else 20, iterations=1, warmup_rounds=3)


# ------------------------------------------------------------------------------------- script
def host() -> str:
    """CPU model, the SIMD flags that matter here, and the logical CPU count."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    amx = [a for a in ("amx_tile", "amx_bf16", "amx_int8") if a in flags]
    feats = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx2", "avx512f", "avx512_bf16"))
    return (f"host: {model}, {os.cpu_count()} logical CPUs; {feats}, "
            f"amx {'/'.join(amx) if amx else 'no'}; load average {os.getloadavg()[0]:.1f}")


def time_systems(net, batch, names, rounds, pause, threads, warm=0):
    """{name: (median, best) seconds per call} from round-robin rounds, after the output check."""
    model, x = inputs(net, batch)
    ref, ref_name = reference(model, x, threads)
    runs = {}
    print(f"\n{net}, batch {batch}: outputs against {ref_name} (max |out - ref| / max |ref|)")
    for name in names:
        label, factory, _ = SYSTEMS[name]
        try:
            run, note = factory(model, x, threads)
        except Unavailable as e:
            print(f"  {label:31s} skipped: {e}")
            continue
        try:
            err = check(name, run(), ref)
        except AssertionError as e:
            print(f"  {label:31s} FAILED the check, not timed: {e}")
            continue
        print(f"  {label:31s} {err:.1e}   {note}")
        runs[name] = run
    for run in runs.values():  # warm-up: first calls compile, allocate, start thread pools
        for _ in range(3):
            run()
    # Round robin: each round times every system once, so a drifting clock or a neighbour's
    # load hits all of them alike; medians over the rounds. The pause lets the previous
    # library's worker threads stop spinning (ONNX Runtime, OpenVINO and OpenMP pools busy-wait
    # after a call and would slow whoever runs next).
    # With --warm N, N untimed calls follow the pause: the timed call then sees a busy
    # service's steady state (threads awake, caches warm) while the pause still keeps the
    # libraries apart.
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            time.sleep(pause)
            for _ in range(warm):
                run()
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: (float(np.median(ts)), min(ts)) for name, ts in times.items()}


def print_table(net, batch, medians, rounds, pause, warm=0):
    then = f" and {warm} untimed calls" if warm else ""
    print(f"{net}, batch {batch}: medians of {rounds} rounds, {pause} s pause{then} before each timed call; ratios: "
          f"InferenceModel fp32 (bf16) images/s / this system's (above 1: pyconvnet faster)")
    print(f"  {'system':31s} {'images/s':>9s} {'latency ms':>11s} {'(best)':>8s} {'fp32 IM / it':>13s} "
          f"{'bf16 IM / it':>13s}")
    for name, (t, best) in medians.items():
        cells = []
        for ours in ("pyconvnet", "pyconvnet-bf16"):
            cells.append(f"{t / medians[ours][0]:12.2f}x" if ours in medians and name != ours else f"{'':13s}")
        line = f"  {SYSTEMS[name][0]:31s} {batch / t:9.0f} {t * 1e3:11.3f} {best * 1e3:8.3f} {cells[0]} {cells[1]}"
        print(line.rstrip())


# ------------------------------------------------------------------------------------- memory
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0: `echo 5 > /proc/self/clear_refs`)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def activation_bytes(model, batch):
    """(largest input + output of one layer, sum of every layer's output plus the input) in
    bytes at `batch`. Shape-only layers (Flatten, Dropout) and elementwise activations (which
    run in place on their input) allocate nothing and are left out."""
    shape = (batch,) + tuple(model.input_shape)
    size = int(np.prod(shape)) * 4
    largest, total = 0, size
    for layer in model.layers:
        out_shape = tuple(layer.output_shape(shape))
        if not isinstance(layer, (Flatten, Dropout, ReLU, LeakyReLU)):
            out = int(np.prod(out_shape)) * 4
            largest = max(largest, size + out)
            total += out
            size = out
        shape = out_shape
    return largest, total


def memory_child(net, precision, batch, threads):
    """In a fresh interpreter: peak RSS growth over constructing an InferenceModel and running
    `predict` on one batch, measured after importing pyconvnet and building the Sequential model
    (tracemalloc would not see the C++ allocations). Prints one JSON line."""
    pyconvnet.set_num_threads(threads)
    model, x = inputs(net, batch)
    import gc

    gc.collect()
    rss0 = _status_kb("VmRSS")
    reset = _reset_peak()
    hwm0 = _status_kb("VmHWM")  # == rss0 after a reset; else the peak so far
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if precision == "bf16" and not hasattr(_C, "round_to_bf16"):
        print(json.dumps({"skipped": "InferenceModel bf16 needs _C.round_to_bf16, which this build lacks"}))
        return
    im = pyconvnet.InferenceModel(model, precision=precision)
    hwm_built = _status_kb("VmHWM")
    im.predict(x)
    hwm = _status_kb("VmHWM")
    rss = _status_kb("VmRSS")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base = rss0 if reset else hwm0
    weights = sum(p.data.nbytes for p in model.params())
    largest, total = activation_bytes(model, batch)
    print(json.dumps({
        "net": net, "precision": precision, "batch": batch, "threads": threads, "reset": reset,
        "peak": (hwm - base) * 1024, "peak_built": (hwm_built - base) * 1024,
        "held": (rss - rss0) * 1024,
        "maxrss_delta": (maxrss - maxrss0) * 1024, "weights": weights, "act_largest": largest,
        "act_total": total, "weight_bytes_reported": im.weight_bytes(),
    }))


def memory_report(net, batch, threads, precisions=("fp32", "bf16")):
    mb = 1 / 2**20
    print(f"Peak memory of InferenceModel({net}): construction + predict of one batch of {batch}, "
          f"{threads} threads, each in a fresh subprocess (RSS from /proc/self/status)")
    for precision in precisions:
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", net, precision,
               "--batches", str(batch), "--threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"memory subprocess for {precision} failed:\n{proc.stderr}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if "skipped" in r:
            print(f"  {precision}: skipped: {r['skipped']}")
            continue
        how = "VmHWM reset by clear_refs" if r["reset"] else "VmHWM delta (clear_refs unavailable: a lower bound)"
        w, a1, a2 = r["weights"], r["act_largest"], r["act_total"]
        print(f"  {precision}: peak {r['peak'] * mb:.1f} MB above the process before construction ({how}; "
              f"getrusage maxrss delta {r['maxrss_delta'] * mb:.1f} MB); {r['peak_built'] * mb:.1f} MB peak "
              f"during construction; held after predict {r['held'] * mb:.1f} MB "
              f"(InferenceModel.weight_bytes {r['weight_bytes_reported'] * mb:.1f} MB)")
        print(f"    fp32 weights {w * mb:.1f} MB; activations at batch {batch}: largest layer input + output "
              f"{a1 * mb:.1f} MB, every layer's output {a2 * mb:.1f} MB")
        for what, a in (("largest layer in + out", a1), ("every layer's output", a2)):
            ratio = r["peak"] / (w + a)
            verdict = "within" if ratio <= 1.5 else "ABOVE"
            print(f"    peak / (weights + activations [{what}]) = {ratio:.2f}  ({verdict} the 1.5x target)")


# ------------------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    p.add_argument("--batches", nargs="+", type=int, help="batch sizes (default 1 64; --memory: 64)")
    p.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    p.add_argument("--rounds", type=int, default=ROUNDS, help=f"round-robin rounds (default {ROUNDS})")
    p.add_argument("--pause", type=float, default=PAUSE_S, help=f"seconds before each timed call (default {PAUSE_S})")
    p.add_argument("--warm", type=int, default=0, help="untimed calls between the pause and each timed "
                   "call (steady state of a busy service; default 0: the call right after the pause)")
    p.add_argument("--threads", type=int, default=THREADS, help="threads for every library (default 2, "
                   "or PYCONVNET_BENCH_THREADS)")
    p.add_argument("--memory", action="store_true", help="measure the peak memory of an InferenceModel "
                   "(first of --nets and of --batches: fmnist-cnn, 64 by default) instead of timing")
    p.add_argument("--memory-child", nargs=2, metavar=("NET", "PRECISION"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.memory_child or args.memory:
        batch = args.batches[0] if args.batches else 64
        if args.memory_child:
            memory_child(args.memory_child[0], args.memory_child[1], batch, args.threads)
        else:
            memory_report(args.nets[0], batch, args.threads)
        return

    pyconvnet.set_num_threads(args.threads)
    print(host())
    from tiers import describe

    print(describe())
    print(f"threads: pyconvnet {pyconvnet.get_num_threads()}, ONNX Runtime intra-op {args.threads} (inter-op 1), "
          f"OpenVINO INFERENCE_NUM_THREADS {args.threads}, torch {args.threads}")
    for net in args.nets:
        for batch in args.batches or BATCHES:
            medians = time_systems(net, batch, args.systems, args.rounds, args.pause, args.threads,
                                   args.warm)
            print_table(net, batch, medians, args.rounds, args.pause, args.warm)


if __name__ == "__main__":
    main()
