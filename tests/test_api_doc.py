"""docs/API.md stays complete and exact: every public name is mentioned, and every signature
written as a code span `name(args)` matches the code's parameter names, kinds and defaults."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "API.md"
# Every public module directly under pyconvnet/ (found, not listed, so a new module cannot go
# undocumented), plus the public submodules users import by their own name.
NESTED = ("pyconvnet.model.callbacks", "pyconvnet.optim.lr_scheduler")


def _modules():
    import pyconvnet

    top = sorted(f"pyconvnet.{m.name}" for m in pkgutil.iter_modules(pyconvnet.__path__)
                 if not m.name.startswith("_"))
    return ["pyconvnet", *top, *NESTED]


MODULES = _modules()
# A code span that looks like a signature: a (dotted) name, parentheses, nothing after them.
SPAN = re.compile(r"`([^`\n]+)`")
CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\((.*)\)$", re.S)


def _text():
    return DOC.read_text(encoding="utf-8")


def _public():
    """(module name, public name, object) for every name in the listed modules' __all__."""
    out = []
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        for name in mod.__all__:
            out.append((mod_name, name, getattr(mod, name)))
    return out


# Modules whose names repeat top-level ones (pyconvnet.onnx.load): the doc writes them
# qualified, `onnx.load(...)`.
QUALIFIED = {"pyconvnet.onnx": "onnx"}


def _callables():
    """Public name -> the callable it names (one object per name: check they agree)."""
    found = {}
    for mod_name, name, obj in _public():
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if mod_name in QUALIFIED:
            name = f"{QUALIFIED[mod_name]}.{name}"
        if name in found and found[name] is not obj:
            raise AssertionError(f"{name} names different objects in different modules")
        found[name] = obj
    return found


def _spans():
    """(text of the span, name, args) for every code span shaped like a call, joined across lines."""
    text = re.sub(r"\s*\n\s*", " ", _text())
    return [(m.group(1), *CALL.match(m.group(1)).groups()) for m in SPAN.finditer(text)
            if CALL.match(m.group(1))]


def _resolve(dotted, table):
    """The callable a span names: `func`, `Class`, or `Class.method` (None if not public)."""
    if dotted in table:
        return table[dotted]
    head, _, attr = dotted.partition(".")
    obj = table.get(head)
    if obj is None or not attr:
        return obj
    if not inspect.isclass(obj) or not callable(getattr(obj, attr, None)):
        return None
    return getattr(obj, attr)


def _code_params(dotted, obj):
    """[(name, kind, default)] from inspect.signature, without the bound `self`."""
    sig = inspect.signature(obj)
    params = list(sig.parameters.values())
    if "." in dotted and params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def _doc_params(span, args):
    """[(name, kind, default)] from the span's argument list, parsed as a Python def."""
    try:
        fn = ast.parse(f"def f({args}): pass").body[0]
    except SyntaxError as exc:
        raise AssertionError(f"`{span}` is not a valid parameter list: {exc}") from None
    a = fn.args
    pos = a.posonlyargs + a.args
    pos_defaults = [inspect.Parameter.empty] * (len(pos) - len(a.defaults)) + list(a.defaults)
    out = [(p.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, d) for p, d in zip(pos, pos_defaults)]
    if a.vararg:
        out.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.empty))
    out += [(p.arg, inspect.Parameter.KEYWORD_ONLY, d if d is not None else inspect.Parameter.empty)
            for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        out.append((a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty))
    result = []
    for name, kind, default in out:
        if default is not inspect.Parameter.empty:
            try:
                default = ast.literal_eval(default)
            except ValueError:
                raise AssertionError(f"`{span}`: default of {name} is not a literal") from None
        result.append((name, kind, default))
    return result


def _same_kind(doc_kind, code_kind):
    # Positional-only code parameters are written like ordinary ones in the doc.
    norm = {inspect.Parameter.POSITIONAL_ONLY: inspect.Parameter.POSITIONAL_OR_KEYWORD}
    return norm.get(code_kind, code_kind) == doc_kind


def test_doc_mentions_every_public_name():
    text = _text()
    missing = [f"{mod}.{name}" for mod, name, _ in _public()
               if not re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", text)]
    assert not missing, f"docs/API.md does not mention: {missing}"


def test_every_public_callable_has_a_signature_in_the_doc():
    table = _callables()
    written = {name for _, name, _ in _spans()}
    missing = sorted(name for name in table if name not in written)
    assert not missing, f"docs/API.md gives no `name(args)` signature for: {missing}"


def test_doc_signatures_match_the_code():
    table = _callables()
    checked, wrong = 0, []
    for span, name, args in _spans():
        obj = _resolve(name, table)
        if obj is None:
            continue  # an example call or a name that is not a public callable
        try:
            code = _code_params(name, obj)
        except (TypeError, ValueError):
            continue  # no introspectable signature
        doc = _doc_params(span, args)
        ok = len(doc) == len(code) and all(
            dn == cn and _same_kind(dk, ck) and (dd is inspect.Parameter.empty) == (cd is inspect.Parameter.empty)
            and (dd is inspect.Parameter.empty or (dd == cd and type(dd) is type(cd)))
            for (dn, dk, dd), (cn, ck, cd) in zip(doc, code)
        )
        if not ok:
            wrong.append(f"`{span}` vs code {name}{inspect.signature(obj)}")
        checked += 1
    assert not wrong, "signatures in docs/API.md differ from the code:\n" + "\n".join(wrong)
    assert checked >= 50, f"only {checked} signatures checked: is the parser still finding them?"


@pytest.mark.parametrize("args, expected", [
    ("x, p=0.5, *, clip=True", [("x", 1, inspect.Parameter.empty), ("p", 1, 0.5), ("clip", 3, True)]),
    ("betas=(0.9, 0.999)", [("betas", 1, (0.9, 0.999))]),
    ("", []),
])
def test_parser_reads_parameter_lists(args, expected):
    got = [(n, int(k), d) for n, k, d in _doc_params("f", args)]
    assert got == expected
