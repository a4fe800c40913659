"""Standalone model files that load without zcpt: ``zcpt export``.

Three formats, each loadable with torch (or onnxruntime) alone, each carrying
what a user needs to feed it (``zcpt.json``: space, genotype, classes, input
shape, normalisation mean/std, whether the weights are trained):

* ``pt`` — a ``torch.export`` program (``torch.export.load(f).module()``),
  batch dimension dynamic; metadata in its ``extra_files``;
* ``torchscript`` — a traced TorchScript module (``torch.jit.load(f)``);
  metadata in its ``_extra_files``;
* ``onnx`` — an ONNX graph (input ``images`` NCHW float32, output ``logits``,
  batch dimension dynamic) from torch's exporter; metadata as the model's
  ``metadata_props["zcpt"]``. Needs the optional ``[export]`` extra
  (onnx, onnxruntime, onnxscript).

Every export is checked before it is written: the file, loaded back, must give
the model's outputs on a random batch (ONNX: run by onnxruntime).
"""
from __future__ import annotations

import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .errors import ZcptError
from .files import write_bytes
from .optional import require
from .registry import Registry

METADATA_FILE = "zcpt.json"
ExportFn = Callable[[nn.Module, torch.Tensor, Dict[str, Any]], Tuple[bytes, Callable[[torch.Tensor], np.ndarray]]]
#: format name -> fn(model, example, metadata) -> (file bytes, run(x) of the loaded file)


@dataclass(frozen=True)
class ExporterSpec:
    suffix: str = ""  # the file name's suffix, e.g. ".onnx"


EXPORTERS: Registry[ExportFn, ExporterSpec] = Registry("export format", ExporterSpec)  # defined in this module


def _batch_dim() -> Any:
    return {"x": {0: torch.export.Dim("batch", min=1, max=4096)}}


@EXPORTERS.register("pt", spec=ExporterSpec(suffix=".pt2"))
def _export_program(model: nn.Module, example: torch.Tensor, metadata: Dict[str, Any]):
    """torch.export program: torch.export.load(FILE).module()(images)."""
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=_batch_dim(), strict=False)
    except Exception as exc:  # torch.export raises many types; report any as one line
        raise ZcptError(f"torch.export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={METADATA_FILE: json.dumps(metadata)})
    data = buffer.getvalue()

    def run(x: torch.Tensor) -> np.ndarray:
        loaded = torch.export.load(io.BytesIO(data)).module()
        with torch.no_grad():
            return loaded(x).numpy()

    return data, run


@EXPORTERS.register("torchscript", spec=ExporterSpec(suffix=".ts"))
def _export_torchscript(model: nn.Module, example: torch.Tensor, metadata: Dict[str, Any]):
    """Traced TorchScript: torch.jit.load(FILE)(images)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer, _extra_files={METADATA_FILE: json.dumps(metadata)})
    data = buffer.getvalue()

    def run(x: torch.Tensor) -> np.ndarray:
        loaded = torch.jit.load(io.BytesIO(data))
        with torch.no_grad():
            return loaded(x).numpy()

    return data, run


@EXPORTERS.register("onnx", spec=ExporterSpec(suffix=".onnx"))
def _export_onnx(model: nn.Module, example: torch.Tensor, metadata: Dict[str, Any]):
    """ONNX (input 'images', output 'logits'), checked with onnxruntime."""
    onnx = require("onnx", "export", "ONNX export")
    ort = require("onnxruntime", "export", "ONNX export")
    require("onnxscript", "export", "ONNX export")  # torch's ONNX exporter imports it
    buffer = io.BytesIO()
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [log.level for log in quiet]
    try:
        for log in quiet:
            log.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), input_names=["images"], output_names=["logits"],
                                        dynamic_shapes=_batch_dim(), dynamo=True, verbose=False)
        program.save(buffer)
    except ZcptError:
        raise
    except Exception as exc:  # the exporter raises many types; report any as one line
        raise ZcptError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)
    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = "zcpt", json.dumps(metadata)
    data = proto.SerializeToString()

    def run(x: torch.Tensor) -> np.ndarray:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        return session.run(["logits"], {"images": x.numpy()})[0]

    return data, run


def list_formats() -> list:
    return EXPORTERS.names()


def export_model(
    model: nn.Module,
    fmt: str,
    path: Any,
    input_shape: Sequence[int],
    metadata: Mapping[str, Any],
    seed: int = 0,
    tolerance: float = 1e-4,
) -> Dict[str, Any]:
    """Write ``model`` (in eval mode, on the CPU) as ``fmt`` to ``path``; returns
    what the check measured (``max_abs_diff`` between the file's and the model's
    outputs on a random batch of 3, ``bytes``)."""
    exporter = EXPORTERS.get(fmt)
    model = model.cpu().eval()
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(2, *input_shape, generator=generator)
    check = torch.randn(3, *input_shape, generator=generator)  # another batch size: the batch axis is dynamic
    meta = {**metadata, "input_shape": [int(v) for v in input_shape], "format": fmt}
    data, run = exporter(model, example, meta)
    with torch.no_grad():
        expected = model(check).numpy()
    got = run(check)
    diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    scale = max(1.0, float(np.max(np.abs(expected))))
    if not diff <= tolerance * scale:
        raise ZcptError(f"the exported {fmt} model disagrees with the torch model (max abs difference {diff:.3g}); "
                        f"nothing written")
    write_bytes(Path(path), data)
    return {"max_abs_diff": diff, "bytes": len(data)}


def read_metadata(path: Any) -> Dict[str, Any]:
    """The ``zcpt.json`` metadata of an exported file (any of the three formats)."""
    p = Path(path)
    data = p.read_bytes()
    if p.suffix == ".onnx":
        onnx = require("onnx", "export", "ONNX export")
        props = {e.key: e.value for e in onnx.load_from_string(data).metadata_props}
        return json.loads(props["zcpt"])
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(f"extra/{METADATA_FILE}"))
        return json.loads(archive.read(name))
