"""Whole-model benchmarks: a training step (forward + backward + Adam, cross-entropy, batch 64)
and batched inference (batch 64) for two textbook CNNs, against a careful NumPy implementation
(benchmarks/numpy_reference_cnn.py) and PyTorch CPU (when installed, 2 threads).

    pytest benchmarks/bench_model.py --benchmark-only      # pytest-benchmark
    python benchmarks/bench_model.py                                  # round-robin table with ratios

Each benchmark records images/s in extra_info; the correctness of the network (same outputs
as the NumPy reference for the same weights) is asserted before timing.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy_reference_cnn as npref  # noqa: E402

try:
    import pyconvnet  # noqa: E402
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet  # noqa: E402
from pyconvnet import init  # noqa: E402
from pyconvnet.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU  # noqa: E402
from pyconvnet.losses import CrossEntropyLoss  # noqa: E402
from pyconvnet.model import Sequential  # noqa: E402
from pyconvnet.optim import Adam  # noqa: E402
from tiers import LOWER, at_tier, describe  # noqa: E402

BATCH = 64
TORCH_THREADS = 2
PAUSE_S = 0.3  # between timed calls of the round-robin table


def fmnist_cnn():
    return Sequential([
        Conv2d(1, 32, 5, padding=2), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 5, padding=2), ReLU(), MaxPool2d(2),
        Flatten(), Linear(3136, 1024), ReLU(), Dropout(0.4), Linear(1024, 10),
    ], input_shape=(1, 28, 28))


def cifar_cnn():
    return Sequential([
        Conv2d(3, 32, 3, padding=1), ReLU(), Conv2d(32, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 3, padding=1), ReLU(), Conv2d(64, 64, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(4096, 256), ReLU(), Linear(256, 10),
    ], input_shape=(3, 32, 32))


NETS = {"fmnist-cnn": (fmnist_cnn, (1, 28, 28)), "cifar-cnn": (cifar_cnn, (3, 32, 32))}


def make(net):
    build, shape = NETS[net]
    init.manual_seed(0)
    model = build()
    rng = np.random.default_rng(0)
    x = rng.random((BATCH,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, size=BATCH)
    return model, x, y


def torch_model(model):
    """The same architecture in torch with the same weights."""
    import torch

    mods = []
    for layer in model.layers:
        if isinstance(layer, Conv2d):
            m = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                padding=layer.padding4[0])
        elif isinstance(layer, Linear):
            m = torch.nn.Linear(layer.in_features, layer.out_features)
        elif isinstance(layer, ReLU):
            m = torch.nn.ReLU()
        elif isinstance(layer, MaxPool2d):
            m = torch.nn.MaxPool2d(2)
        elif isinstance(layer, Flatten):
            m = torch.nn.Flatten()
        elif isinstance(layer, Dropout):
            m = torch.nn.Dropout(layer.p)
        else:  # pragma: no cover
            raise TypeError(type(layer).__name__)
        if hasattr(layer, "weight"):
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.weight.data))
                m.bias.copy_(torch.from_numpy(layer.bias.data))
        mods.append(m)
    return torch.nn.Sequential(*mods)


# ----------------------------------------------------------------------------- step functions
def pyconvnet_fns(model, x, y):
    params = model.params()
    opt = Adam(params)
    loss = CrossEntropyLoss()

    def train_step():
        for p in params:
            p.grad.fill(0.0)
        out = model.forward(x)
        loss.forward(out, y)
        model._backward(loss.backward(), need_input_grad=False)
        opt.step()

    def infer():
        return model.predict(x, batch_size=BATCH)

    return train_step, infer


def numpy_fns(model, x, y):
    net = npref.from_pyconvnet(model)
    np.testing.assert_allclose(net.predict(x), model.predict(x), rtol=1e-3, atol=1e-4)
    return (lambda: net.train_step(x, y)), (lambda: net.predict(x))


def torch_fns(model, x, y):
    import torch

    torch.set_num_threads(TORCH_THREADS)
    tm = torch_model(model)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype(np.int64))
    with torch.no_grad():
        tm.eval()
        np.testing.assert_allclose(tm(xt).numpy(), model.predict(x), rtol=1e-3, atol=1e-4)
        tm.train()
    opt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad()
        lossf(tm(xt), yt).backward()
        opt.step()

    def infer():
        tm.eval()
        with torch.no_grad():
            out = tm(xt)
        tm.train()
        return out

    return train_step, infer


def onnxruntime_fns(model, x, y):
    """Inference only (ONNX Runtime does not train)."""
    from onnx_reference import sequential

    run = sequential(model, x.shape, TORCH_THREADS)
    np.testing.assert_allclose(run(x), model.predict(x), rtol=1e-3, atol=1e-4)
    return None, (lambda: run(x))


# numpy last: OpenBLAS threads keep spinning for a while after a matmul and would slow
# whichever implementation ran next.
def tier_fns(tier):
    """pyconvnet_fns with every kernel call on `tier` (a lower tier beside the default one)."""
    def fns(model, x, y):
        return tuple(at_tier(f, tier) for f in pyconvnet_fns(model, x, y))
    return fns


IMPLS = {"pyconvnet": pyconvnet_fns, **{f"pyconvnet-{t}": tier_fns(t) for t in LOWER},
         "torch": torch_fns, "onnxruntime": onnxruntime_fns, "numpy": numpy_fns}


def _fns(net, impl):
    if impl == "torch":
        pytest.importorskip("torch")
    model, x, y = make(net)
    return IMPLS[impl](model, x, y)


# ------------------------------------------------------------------------------------- pytest
@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("net", list(NETS))
def test_train_step(benchmark, net, impl):
    if impl == "onnxruntime":
        pytest.skip("ONNX Runtime is inference only")
    train_step, _ = _fns(net, impl)
    train_step()  # warm-up (allocates optimiser state)
    benchmark.group = f"{net} training step batch {BATCH}"
    benchmark.extra_info.update(net=net, impl=impl, batch=BATCH, threads=pyconvnet.get_num_threads(),
                                work=BATCH, unit="images/s")
    benchmark.pedantic(train_step, rounds=8, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("net", list(NETS))
def test_inference(benchmark, net, impl):
    _, infer = _fns(net, impl)
    infer()
    benchmark.group = f"{net} inference batch {BATCH}"
    benchmark.extra_info.update(net=net, impl=impl, batch=BATCH, threads=pyconvnet.get_num_threads(),
                                work=BATCH, unit="images/s")
    benchmark.pedantic(infer, rounds=15, iterations=1, warmup_rounds=2)


def test_python_overhead_of_a_step_is_small():
    """Time of the Python layer around the kernels: the same training step with every `_C`
    call replaced by a no-op returning preallocated outputs (reported, not asserted)."""
    model, x, y = make("fmnist-cnn")
    train_step, _ = pyconvnet_fns(model, x, y)
    train_step()
    t = _median_time(train_step, 5)
    overhead = _python_overhead(model, x, y)
    print(f"\nfmnist-cnn (11 layers) step {t * 1e3:.1f} ms, Python overhead {overhead * 1e3:.2f} ms "
          f"({100 * overhead / t:.1f}%)")


# ------------------------------------------------------------------------------------- script
def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _python_overhead(model, x, y, repeat=200):
    """Per-step time with the kernels stubbed out (outputs cached from one real step)."""
    import pyconvnet._C as C

    # every compute kernel (layers, sgemm for Linear's weight gradient, optimiser updates);
    # only the configuration functions stay real
    config = {"get_num_threads", "set_num_threads", "forked_after_threads", "isa", "set_isa",
              "cpu_has_avx2_fma", "supported_isas", "isa_missing", "cpu_features", "fma_peak",
              "openmp_runtime", "compiler"}
    names = [n for n in dir(C) if not n.startswith("_") and n not in config and callable(getattr(C, n))]
    recorded = {}
    real = {n: getattr(C, n) for n in names}

    def recorder(name):
        def call(*args, **kwargs):
            out = real[name](*args, **kwargs)
            recorded.setdefault(name, []).append(out)
            return out
        return call

    def replayer(name):
        seq = recorded.get(name, [])
        state = {"i": 0}

        def call(*args, **kwargs):
            out = seq[state["i"] % len(seq)]
            state["i"] += 1
            return out
        return call

    train_step, _ = pyconvnet_fns(model, x, y)
    try:
        for n in names:
            setattr(C, n, recorder(n))
        train_step()
        for n in names:
            setattr(C, n, replayer(n))
        train_step()
        return _median_time(train_step, repeat)
    finally:
        for n in names:
            setattr(C, n, real[n])


def main():
    impls = ["pyconvnet"] + [f"pyconvnet-{t}" for t in LOWER]
    for impl, module in (("torch", "torch"), ("onnxruntime", "onnxruntime")):
        try:
            __import__(module)
            impls.append(impl)
        except ImportError:
            pass
    impls.append("numpy")
    print(f"batch {BATCH}, pyconvnet threads {pyconvnet.get_num_threads()}, torch threads {TORCH_THREADS}")
    print(describe())
    for net in NETS:
        fns = {impl: _fns(net, impl) for impl in impls}
        rates = {}
        for k, what in enumerate(("train", "infer")):
            calls = {impl: f[k] for impl, f in fns.items() if f[k] is not None}
            for fn in calls.values():  # warm-up (optimiser state, caches)
                fn()
            # Round robin: each round times every implementation once, so a drifting clock or
            # a neighbour's load hits all of them alike; medians over the rounds. The pause
            # lets the previous library's worker threads stop spinning (OpenBLAS, OpenMP and
            # ONNX Runtime pools busy-wait after a call and would slow whoever runs next).
            times = {impl: [] for impl in calls}
            for _ in range(10 if what == "train" else 20):
                for impl, fn in calls.items():
                    time.sleep(PAUSE_S)
                    t0 = time.perf_counter()
                    fn()
                    times[impl].append(time.perf_counter() - t0)
            for impl, ts in times.items():
                rates.setdefault(impl, [None, None])[k] = BATCH / float(np.median(ts))
        for k, what in enumerate(("train", "infer")):
            base = rates["pyconvnet"][k]
            have = [impl for impl in impls if rates[impl][k] is not None]
            cells = "  ".join(f"{impl} {rates[impl][k]:7.0f} img/s" for impl in have)
            ratios = "  ".join(f"x{base / rates[impl][k]:.2f} vs {impl}" for impl in have if impl != "pyconvnet")
            print(f"{net:11s} {what:5s}  {cells}   ({ratios})")
    model, x, y = make("fmnist-cnn")
    train_step, _ = pyconvnet_fns(model, x, y)
    train_step()
    t = _median_time(train_step, 10)
    o = _python_overhead(model, x, y)
    print(f"fmnist-cnn (11 layers) Python overhead per step {o * 1e3:.2f} ms of {t * 1e3:.1f} ms ({100 * o / t:.1f}%)")


if __name__ == "__main__":
    main()
