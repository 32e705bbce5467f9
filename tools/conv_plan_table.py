"""Print the convolution plan's rules (csrc/conv/conv_plan.cpp) as the Markdown table of
docs/ARCHITECTURE.md; with --write, put it there between the conv_plan_table markers.

    python tools/conv_plan_table.py [--write]        (from the repository root, after a build)
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
BLOCK = re.compile(r"(<!-- conv_plan_table begin -->\n)(.*?)(<!-- conv_plan_table end -->)", re.S)


def documented(text: str) -> str:
    m = BLOCK.search(text)
    if m is None:
        raise SystemExit(f"{DOC}: no conv_plan_table markers")
    return m.group(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="update docs/ARCHITECTURE.md")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from pyconvnet import _C

    table = _C.conv_plan_table()
    if not args.write:
        print(table, end="")
        return
    text = DOC.read_text(encoding="utf-8")
    documented(text)
    DOC.write_text(BLOCK.sub(lambda m: m.group(1) + table + m.group(3), text), encoding="utf-8")


if __name__ == "__main__":
    main()
