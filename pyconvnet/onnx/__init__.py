"""ONNX import and export (the optional extra ``pip install "pyconvnet[onnx]"``).

``load(path | bytes | onnx.ModelProto) -> Model`` turns an inference graph of the classic CNN
operators into a `pyconvnet.Model` (batch dimension dynamic); ``export(model, path, opset=17)``
writes a Sequential or Model as an ONNX file that ONNX Runtime runs with the same outputs.
The operators both understand are listed once, in `operators.py`.

The `onnx` package is imported only when one of these functions runs, so ``import pyconvnet``
never needs it.
"""

from __future__ import annotations

__all__ = ["load", "export", "SUPPORTED_OPERATORS"]


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError(
            "pyconvnet.onnx needs the onnx package: pip install \"pyconvnet[onnx]\" (or pip install onnx)"
        ) from None


def load(source, initializers=None):
    """Import an ONNX model (a file path, its bytes, or an ``onnx.ModelProto``) as a Model.

    `initializers` (optional, name -> array) binds graph inputs to fixed values, for files that
    pass weights as inputs. Raises NotImplementedError naming the operator and node for what
    pyconvnet cannot run, ValueError for a malformed or inconsistent file.
    """
    _require_onnx()
    from .importer import load_model

    return load_model(source, initializers)


def export(model, path, opset: int = 17, input_shape=None):
    """Write `model` (a Sequential or Model) to `path` as ONNX with the given opset (13-21).

    The batch dimension is symbolic ("N"); `input_shape` (C, H, W) is needed only for a model
    whose input shape is not declared (a Sequential built without one). The file passes
    ``onnx.checker.check_model(full_check=True)``. Returns the ``onnx.ModelProto`` written.
    """
    _require_onnx()
    from .exporter import export_model

    return export_model(model, path, opset, input_shape)


def __getattr__(name):
    if name == "SUPPORTED_OPERATORS":
        from .operators import OPERATORS

        return tuple(sorted(OPERATORS))
    raise AttributeError(name)
