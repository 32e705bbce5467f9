"""Writes the seed corpus of every fuzz target here: <out>/<name>/<seed> for each fuzz_<name>.py.

    PYTHONPATH=. python tools/fuzz/make_corpus.py build/fuzz-corpus

The seeds are built by the targets' own seeds() from the current code (valid files, and some
cut short), so they follow format changes without checked-in binaries.
"""

from __future__ import annotations

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def targets() -> list:
    return sorted(p.stem[len("fuzz_"):] for p in HERE.glob("fuzz_*.py"))


def main(out: str) -> None:
    sys.path.insert(0, str(HERE))
    import harness

    harness.INSTRUMENT = False
    for name in targets():
        module = importlib.import_module("fuzz_" + name)
        folder = pathlib.Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        seeds = module.seeds()
        for seed, data in seeds.items():
            (folder / seed).write_bytes(data)
        print(f"{name}: {len(seeds)} seeds in {folder}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
