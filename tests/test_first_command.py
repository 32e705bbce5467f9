"""The README's first command, exactly as written, from the root of a fresh checkout in a fresh
virtual environment: what a newcomer does after `git clone` and `cd`. Also: importing the
package from a source folder without its compiled part says what to do."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIRST_COMMAND = "pip install . && pyconvnet demo"


def _tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:  # an unpacked source tree: everything but build products
        return [p.relative_to(ROOT) for p in ROOT.rglob("*") if p.is_file()
                and not {"build", ".git", "__pycache__"} & set(p.relative_to(ROOT).parts)
                and not p.name.endswith(".so")]
    return [pathlib.Path(line) for line in out.stdout.splitlines()]


def test_readme_names_the_first_command():
    readme = (ROOT / "README.md").read_text()
    assert FIRST_COMMAND in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)[0]


@pytest.mark.slow
def test_first_command_works_from_a_fresh_checkout(tmp_path):
    checkout = tmp_path / "pyconvnet"
    for rel in _tracked_files():
        dst = checkout / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(venv)
    out = subprocess.run(["bash", "-c", FIRST_COMMAND + " --epochs 1 --train 300 --test 100 --quiet"],
                         cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "accuracy" in out.stdout.lower(), out.stdout[-2000:]
    png = checkout / "pyconvnet-demo-filters.png"  # written without Pillow (not in the venv)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_source_folder_without_its_compiled_part_says_what_to_do(tmp_path):
    """Python puts the current folder first; from a source tree that holds no built _C the
    import must say so (not "partially initialized module ... circular import")."""
    src = tmp_path / "pyconvnet"
    src.mkdir()
    shutil.copy2(ROOT / "pyconvnet" / "__init__.py", src / "__init__.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", "import pyconvnet; print(pyconvnet.__file__)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode == 0:  # an editable install's import hook found the real package first
        assert str(src) not in out.stdout
        return
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "compiled part (_C) is missing" in out.stderr, out.stderr
    assert "source folder" in out.stderr and "circular import" not in out.stderr
