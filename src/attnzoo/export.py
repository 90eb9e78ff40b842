"""Networks out of PyTorch: ONNX checked with onnxruntime, torch.export programs, TorchScript.

Every export is of :func:`attnzoo.deploy`'s inference copy (eval mode, modules that are the
identity at inference removed), with a dynamic batch dimension and a fixed image size.

* ``"onnx"``: ``torch.onnx.export(..., dynamo=True)``, torch's default exporter since 2.9: the
  network is captured by ``torch.export`` and translated by onnxscript. The older TorchScript-based
  exporter is deprecated and loses the channel count of IEBN's input after a stage, so it is not
  used.
* ``"export"``: a ``torch.export`` program (``.pt2``, :func:`torch.export.save`), for networks
  with an operator ONNX has no counterpart for (BA2M with ``eval_mode="batch"``:
  ``aten::searchsorted``). It keeps every aten operator and reproduces PyTorch's outputs exactly.
* ``"torchscript"``: ``torch.jit.trace``, for libtorch's ``torch::jit::load``. Deprecated by
  torch 2.13 in favour of torch.export, but it runs every module, exactly too.

docs/export.md has the per-module results.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from .deploy import deploy
from .io import atomic_write
from .validation import AttnzooError

SUFFIXES = {"onnx": ".onnx", "export": ".pt2", "torchscript": ".torchscript"}
OPSET = 20  # torch 2.13's default
MIN_OPSET = 18  # the exporter's oldest operators: below, it quietly writes 18 anyway
TOLERANCE = 1e-4  # max abs difference accepted from an export, for logits of magnitude up to 1
ROUNDING = 4  # or that many times PyTorch's own float32 error, where larger (measured: 1 to 2)
EXAMPLE_BATCH = 2  # torch.export turns a batch of 0 or 1 into a constant, not a dynamic axis
INSTALL = "pip install 'attnzoo[onnx]'"


def export(
    model: nn.Module, path: str | os.PathLike, input_shape: Sequence[int], fmt: str = "onnx"
) -> Path:
    """Write ``model`` to ``path`` in format ``fmt``, a key of SUFFIXES (module docstring)."""
    return _format(fmt)[0](model, path, input_shape)


def verify(
    model: nn.Module, path: str | os.PathLike, inputs: torch.Tensor, fmt: str = "onnx"
) -> float:
    """Max abs difference between ``model`` and its export at ``path`` on ``inputs``."""
    return _format(fmt)[1](model, path, inputs)


def tolerance(model: nn.Module, inputs: torch.Tensor) -> float:
    """The largest max abs difference to accept from an export of ``model`` on ``inputs``.

    TOLERANCE times the largest logit where that exceeds 1, or ROUNDING times the distance of
    PyTorch's float32 logits from float64 ones where that is larger: deep networks round more
    than 1e-4 in float32, and an export computes in another order, so rounds differently.
    """
    model = deploy(model)
    with torch.no_grad():
        logits = model(inputs)
        exact = model.double()(inputs.double())
    rounding = (logits.double() - exact).abs().max().item()
    return max(TOLERANCE * max(1.0, logits.abs().max().item()), ROUNDING * rounding)


def export_onnx(
    model: nn.Module, path: str | os.PathLike, input_shape: Sequence[int], *, opset: int = OPSET
) -> Path:
    """Write ``model``'s inference copy to ``path`` as ONNX, atomically.

    ``input_shape`` is one image's (channels, height, width); the graph's input "image" has a
    dynamic batch dimension "batch", its output is "logits". Raises ValueError naming the
    operator when ONNX cannot express the network (use :func:`export_program` then).
    """
    if opset < MIN_OPSET:
        raise AttnzooError(f"ONNX export writes opset {MIN_OPSET} or later, not {opset}")
    _require("onnxscript", "ONNX export")  # torch imports it lazily, mid-export
    model, example = _prepare(model, input_shape)
    try:
        program = torch.onnx.export(
            model,
            (example,),
            input_names=["image"],
            output_names=["logits"],
            dynamic_shapes=_dynamic_batch(),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    except torch.onnx.OnnxExporterError as err:
        raise AttnzooError(
            f"ONNX cannot express this {type(model).__name__}: {_root_cause(err)}; "
            "use the 'export' format (a torch.export program) instead"
        ) from err
    data = program.model_proto.SerializeToString()  # weights inside: a file under 2 GB
    return atomic_write(path, lambda f: f.write(data))


def verify_onnx(model: nn.Module, path: str | os.PathLike, inputs: torch.Tensor) -> float:
    """Max abs difference between ``model`` and the ONNX file at ``path`` run by onnxruntime
    on the CPU, on ``inputs`` (N, C, H, W)."""
    ort = _require("onnxruntime", "ONNX verification")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    return (torch.from_numpy(output) - _reference(model, inputs)).abs().max().item()


def export_program(model: nn.Module, path: str | os.PathLike, input_shape: Sequence[int]) -> Path:
    """Write ``model``'s inference copy to ``path`` as a ``torch.export`` program (``.pt2``),
    atomically; ``input_shape`` as for :func:`export_onnx`, with the same dynamic batch."""
    model, example = _prepare(model, input_shape)
    program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch())
    return atomic_write(path, lambda f: torch.export.save(program, f))


def verify_program(model: nn.Module, path: str | os.PathLike, inputs: torch.Tensor) -> float:
    """Max abs difference between ``model`` and the program at ``path``, reloaded, on ``inputs``."""
    with open(path, "rb") as f:  # a path would have to end in .pt2
        loaded = torch.export.load(f).module()
    with torch.no_grad():
        output = loaded(inputs)
    return (output - _reference(model, inputs)).abs().max().item()


def export_torchscript(
    model: nn.Module, path: str | os.PathLike, input_shape: Sequence[int]
) -> Path:
    """Write ``model``'s inference copy to ``path`` as TorchScript, traced on a batch of
    ``input_shape`` images, atomically. Sizes the trace reads are recorded, so the batch stays
    dynamic; the image size is fixed as in the other formats."""
    model, example = _prepare(model, input_shape)
    # Without gradients, attention/_ops.py skips its custom autograd functions, which
    # TorchScript cannot save.
    with torch.no_grad(), warnings.catch_warnings():
        # Shape tests become constants: the input checks, and BA2M's shortcut for a batch of
        # one, whose other branch returns the same. Verification runs another batch size.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example)
    return atomic_write(path, lambda f: torch.jit.save(traced, f))


def verify_torchscript(model: nn.Module, path: str | os.PathLike, inputs: torch.Tensor) -> float:
    """Max abs difference between ``model`` and the TorchScript at ``path`` on ``inputs``."""
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        output = loaded(inputs)
    return (output - _reference(model, inputs)).abs().max().item()


Exporter = Callable[[nn.Module, str | os.PathLike, Sequence[int]], Path]
Verifier = Callable[[nn.Module, str | os.PathLike, torch.Tensor], float]
_FORMATS: dict[str, tuple[Exporter, Verifier]] = {
    "onnx": (export_onnx, verify_onnx),
    "export": (export_program, verify_program),
    "torchscript": (export_torchscript, verify_torchscript),
}


def _format(name: str) -> tuple[Exporter, Verifier]:
    if name not in _FORMATS:
        raise AttnzooError(f"unknown export format {name!r}; choose one of: {', '.join(_FORMATS)}")
    return _FORMATS[name]


def _prepare(model: nn.Module, input_shape: Sequence[int]) -> tuple[nn.Module, torch.Tensor]:
    """The inference copy of ``model`` and an example batch of ``input_shape`` images."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise AttnzooError(
            f"input_shape must be one image's (channels, height, width), got {input_shape!r}"
        )
    return deploy(model), torch.randn(EXAMPLE_BATCH, *shape)


def _dynamic_batch() -> tuple[dict[int, torch.export.Dim]]:
    return ({0: torch.export.Dim("batch")},)


def _reference(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return deploy(model)(inputs)


def _root_cause(err: BaseException) -> str:
    """First line of the innermost error: the exporter wraps the one naming the operator."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err).strip().splitlines()[0]


def _require(name: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"{purpose} needs {name}, which is not installed: {INSTALL}") from None
