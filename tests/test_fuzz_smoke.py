"""A short run of every atheris fuzz target in tools/fuzz/ (the long runs: docs/TESTING.md).

Each target gets its generated seed corpus and 2,000 inputs in a subprocess; any exception other
than ValueError/TypeError/NotImplementedError, a hang or a crash fails the run. Skipped when
atheris (an optional tool: `pip install atheris`, the `fuzz` extra) is not installed.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

from conftest import run_python

pytest.importorskip("atheris")

FUZZ = pathlib.Path(__file__).resolve().parent.parent / "tools" / "fuzz"
sys.path.insert(0, str(FUZZ))
import make_corpus  # noqa: E402

RUNS = 2000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz-corpus")
    made = run_python([str(FUZZ / "make_corpus.py"), str(out)], timeout=300)
    assert made.returncode == 0, made.stderr
    return out


def _fuzz(script, corpus_dir, artifacts, runs):
    return run_python([str(script), str(corpus_dir), f"-runs={runs}", "-seed=1", "-timeout=20",
                       "-max_total_time=120", "-rss_limit_mb=2048", f"-artifact_prefix={artifacts}/"],
                      timeout=600)


@pytest.mark.parametrize("target", make_corpus.targets())
def test_fuzz_target_short_run(target, corpus, tmp_path):
    seeds = list((corpus / target).iterdir())
    assert seeds, f"no seeds for {target}"
    out = _fuzz(FUZZ / f"fuzz_{target}.py", corpus / target, tmp_path, RUNS)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "Done" in out.stderr and not list(tmp_path.glob("crash-*"))


def test_the_harness_reports_an_exception_outside_the_allowed_ones(tmp_path):
    # A target that raises RuntimeError on some inputs must end the run with a failure.
    target = tmp_path / "fuzz_bad.py"
    target.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(FUZZ)!r})\n"
        "import harness\n"
        "def one_input(data):\n"
        "    if len(data) > 3:\n"
        "        raise RuntimeError('found')\n"
        "    raise ValueError('fine')\n"
        "harness.main(one_input)\n")
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a").write_bytes(b"abcdef")
    out = _fuzz(target, tmp_path / "seeds", tmp_path, 50)
    assert out.returncode != 0
    assert "RuntimeError: found" in out.stdout + out.stderr
    assert list(tmp_path.glob("crash-*"))
