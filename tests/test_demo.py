import pytest
from conftest import run_python

from pyconvnet.__main__ import main


def test_help_exits_zero():
    r = run_python(["-m", "pyconvnet", "--help"], timeout=60)
    assert r.returncode == 0
    assert "demo" in r.stdout and "usage" in r.stdout
    r = run_python(["-m", "pyconvnet", "demo", "--help"], timeout=60)
    assert r.returncode == 0 and "--epochs" in r.stdout


def test_bad_option_exits_nonzero(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--epochs", "0"])
    assert e.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_demo_small_run_reports_accuracy_throughput_and_summary(capsys, tmp_path):
    png = tmp_path / "filters.png"
    assert main(["demo", "--epochs", "3", "--train", "1000", "--test", "300", "--quiet",
                 "--filters", str(png)]) == 0
    out = capsys.readouterr().out
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(png) as img:
        # 8 first-layer 3x3 filters in a 3x3 grid of 48x48 tiles (each weight a 16x16 block),
        # with 1-pixel borders
        assert img.size == (3 * (3 * 16 + 1) + 1,) * 2 and img.mode == "L"
    assert "first-layer filters written to" in out
    assert "test accuracy:" in out and "prediction throughput:" in out and "images/s" in out
    assert "Total params:" in out and "Conv2d" in out
    acc = float(out.split("test accuracy:")[1].split("%")[0])
    assert acc > 40.0, out  # chance is 12.5%; test_fit checks high accuracy
