"""The shared part of the atheris fuzz targets in this folder.

A target is one file, ``fuzz_<name>.py``, defining ``seeds()`` (a dict of file name -> bytes for
the seed corpus, see make_corpus.py), ``one_input(data: bytes)`` (one call of the code under
test) and ending with ``if __name__ == "__main__": harness.main(one_input)``. Anything but the
exceptions in ALLOWED escaping ``one_input`` is a finding: atheris prints the traceback, writes
the input as ``crash-<sha1>`` and exits non-zero; a hang past ``-timeout`` seconds and memory
past ``-rss_limit_mb`` are findings too.

Run from the repository root (the package and its compiled _C are imported from there):
    python tools/fuzz/make_corpus.py build/fuzz-corpus
    PYTHONPATH=. python tools/fuzz/fuzz_load.py build/fuzz-corpus/load -max_total_time=600 -timeout=10
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import tempfile

import atheris

# A malformed input may raise these (with a message naming what is wrong); nothing else.
ALLOWED = (ValueError, TypeError, NotImplementedError)


# make_corpus.py turns this off: building seeds needs no coverage.
INSTRUMENT = True


def instrumented():
    """Context manager: the pyconvnet modules imported inside it report coverage to libFuzzer."""
    if not INSTRUMENT:
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["pyconvnet"])


_scratch = {}


def scratch_file(data: bytes, suffix: str = "") -> str:
    """A path holding `data` (one file per suffix and process, rewritten each call; in memory
    when /dev/shm exists) for code under test that reads a path.

    On Linux the file is unlinked at once and reached as /proc/self/fd/N: libFuzzer ends the
    process from C (no atexit), and a finding or a kill must not leave files behind.
    """
    if suffix not in _scratch:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix="pyconvnet-fuzz-", suffix=suffix, dir=base)
        if os.path.isdir("/proc/self/fd"):
            os.remove(path)
            path = f"/proc/self/fd/{fd}"
        else:  # pragma: no cover - not Linux
            atexit.register(lambda: os.path.exists(path) and os.remove(path))
        _scratch[suffix] = (fd, path)
    fd, path = _scratch[suffix]
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return path


def _dict_entry(token: bytes) -> bytes:
    """One line of a libFuzzer dictionary: printable bytes as they are, the rest as \\xNN."""
    return b'"' + b"".join(bytes([b]) if 32 <= b < 127 and b not in b'"\\' else b"\\x%02X" % b
                           for b in token) + b'"\n'


def main(one_input, tokens=()) -> None:
    """Fuzz one_input with the libFuzzer options in sys.argv; `tokens` (bytes the format uses)
    become a mutation dictionary unless -dict= is given."""
    def test_one_input(data: bytes) -> None:
        with contextlib.suppress(*ALLOWED):
            one_input(data)

    argv = list(sys.argv)
    if tokens and not any(a.startswith("-dict=") for a in argv):
        path = scratch_file(b"".join(_dict_entry(t) for t in tokens), suffix=".dict")
        argv.append("-dict=" + path)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
