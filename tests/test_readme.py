"""README.md: its Python blocks run as written, and its set-up commands are the ones CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_blocks_run_in_order(tmp_path, monkeypatch):
    blocks = _blocks("python")
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"README.md python block {i}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"README python block {i} failed:\n{code}") from exc
    assert namespace["model"].evaluate(namespace["x_test"], namespace["y_test"])["accuracy"] > 0.5
    assert namespace["grid"].dtype.name == "uint8"


def test_setup_commands_match_ci():
    commands = [b.strip() for b in _blocks("bash")]
    assert "pip install . && pyconvnet demo" in commands
    test_command = 'pip install ".[test]" && pytest'
    assert test_command in commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci, "the README's test command must be the last step of .ci/run"
    assert ci[-1] == test_command


def test_relative_links_point_to_files_in_the_repository():
    """Every relative link of the README resolves to a file of the repository (a user who
    installed the package has no sibling folders)."""
    links = [link for link in re.findall(r"\]\(([^)\s]+)\)", README)
             if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
    assert links, "no relative link found"
    for link in links:
        target = (ROOT / link.split("#")[0]).resolve()
        assert target.exists(), link
        assert ROOT in target.parents or target == ROOT, f"{link} leaves the repository"
