"""ISA selection: CPU detection, the PYCONVNET_ISA override and run-time switching."""

from __future__ import annotations

import os

import pytest

import pyconvnet
from pyconvnet import _C
from conftest import ISAS, run_python


def _import_with_env(value, hide=None):
    env = dict(os.environ)
    env.pop("PYCONVNET_ISA", None)
    env.pop("PYCONVNET_HIDE_CPU_FEATURES", None)
    if value is not None:
        env["PYCONVNET_ISA"] = value
    if hide is not None:
        env["PYCONVNET_HIDE_CPU_FEATURES"] = hide
    return run_python(["-c", "import pyconvnet; print(pyconvnet._C.isa())"], env=env)


def _isa_in_subprocess(value, hide=None):
    out = _import_with_env(value, hide)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("name", ISAS)
def test_env_var_forces_each_supported_tier(name):
    missing = _C.isa_missing(name)
    if missing:
        pytest.skip(f"CPU cannot run the {name} tier (missing: {missing})")
    assert _isa_in_subprocess(name) == name


def test_default_is_the_best_supported_tier():
    assert _isa_in_subprocess(None) == _C.supported_isas()[-1]
    assert _isa_in_subprocess("") == _C.supported_isas()[-1]


@pytest.mark.parametrize("value", ["sse9", "AVX2", "avx-512", " avx2", "native"])
def test_env_var_typo_fails_the_import_naming_the_valid_values(value):
    out = _import_with_env(value)
    assert out.returncode != 0
    assert "ImportError" in out.stderr
    assert "PYCONVNET_ISA" in out.stderr and "'ref', 'avx2', 'avx512'" in out.stderr
    assert repr(value) in out.stderr


# Each tier with the features that, hidden, take it away (on a CPU that lacks it anyway, hiding
# changes nothing): the import error path runs on every machine.
@pytest.mark.parametrize("name, hide", [("avx2", "fma"), ("avx512", "avx512bw"), ("avx512", "avx2")])
def test_env_var_tier_the_cpu_lacks_fails_the_import(name, hide):
    out = _import_with_env(name, hide=hide)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "PYCONVNET_ISA" in out.stderr
    assert "missing" in out.stderr and ("'ref'" in out.stderr)


def test_hidden_features_change_the_default_tier():
    """PYCONVNET_HIDE_CPU_FEATURES makes this machine look like an older CPU."""
    assert _isa_in_subprocess(None, hide="avx512f") == ("avx2" if "avx2" in _C.supported_isas() else "ref")
    assert _isa_in_subprocess(None, hide="avx2,avx512f") == "ref"


def test_unknown_hidden_feature_fails_the_import_naming_it():
    out = _import_with_env(None, hide="avx513")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "'avx513'" in out.stderr and "avx512_bf16" in out.stderr


def test_supported_tiers_are_ordered_and_consistent_with_the_features():
    tiers = _C.supported_isas()
    assert tiers[0] == "ref" and tiers == [t for t in ISAS if t in tiers]
    f = _C.cpu_features()
    avx2 = f["avx2"] and f["fma"] and f["os_ymm"]
    avx512 = avx2 and all(f[k] for k in ("avx512f", "avx512bw", "avx512vl", "avx512dq", "os_zmm"))
    assert ("avx2" in tiers) == avx2 == _C.cpu_has_avx2_fma()
    assert ("avx512" in tiers) == avx512
    for name in ISAS:
        assert (_C.isa_missing(name) == "") == (name in tiers)


def test_features_match_what_the_kernel_reports():
    # /proc/cpuinfo lists the flags the kernel saw in CPUID and kept (it clears the ones whose
    # register state it does not enable), so each flag there is CPUID and the OS state together.
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next(line for line in fh if line.startswith("flags")).split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo flags line")
    f = _C.cpu_features()
    for ours, linux, state in [("avx2", "avx2", "os_ymm"), ("fma", "fma", "os_ymm"),
                               ("avx512f", "avx512f", "os_zmm"), ("avx512bw", "avx512bw", "os_zmm"),
                               ("avx512vl", "avx512vl", "os_zmm"), ("avx512dq", "avx512dq", "os_zmm"),
                               ("avx512_bf16", "avx512_bf16", "os_zmm"),
                               ("avx512_vnni", "avx512_vnni", "os_zmm"), ("amx_bf16", "amx_bf16", "os_amx")]:
        assert (f[ours] and f[state]) == (linux in flags), ours


def test_set_isa_validates():
    with pytest.raises(ValueError, match="isa must be one of 'ref', 'avx2', 'avx512', got 'sse9'"):
        _C.set_isa("sse9")
    for name in ISAS:
        missing = _C.isa_missing(name)
        if missing:
            with pytest.raises(ValueError, match="cannot run on this CPU"):
                _C.set_isa(name)


def test_switching_changes_the_reported_isa(isa):
    assert _C.isa() == isa


def test_show_config_reports_tier_and_features(capsys):
    pyconvnet.show_config()
    out = capsys.readouterr().out
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    assert lines["isa"].split()[-1] == _C.isa()
    assert lines["supported isas"].endswith(", ".join(_C.supported_isas()))
    f = _C.cpu_features()
    avx512 = all(f[k] for k in ("avx512f", "avx512bw", "avx512vl", "avx512dq", "os_zmm"))
    assert f"AVX-512F/BW/VL/DQ {'yes' if avx512 else 'no'}" in lines["cpu features"]
    for label in ("AVX2/FMA", "AVX512-BF16", "AMX-BF16"):
        assert label in lines["cpu features"]


def test_import_keeps_subnormals_working():
    # Built without -ffast-math: loading the extension must not set flush-to-zero/DAZ.
    import numpy as np

    tiny = np.finfo(np.float32).tiny
    half = np.float32(tiny) / np.float32(2)
    assert half > 0
    assert np.float32(half) * np.float32(2) == tiny
