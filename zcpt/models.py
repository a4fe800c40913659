"""The model behind a search result or a training checkpoint, as a plain ``nn.Module``.

:func:`load_trained` rebuilds the evaluation network a ``zcpt train``
checkpoint trained (its space, genotype, classes and build options) and loads
its weights (the auxiliary head, a training device only, is left out);
:func:`load_model_source` takes either a checkpoint or a search result, which
gives the found architecture freshly initialised. Both hand back the metadata a
user needs to feed the model (classes, input shape, normalisation).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from .errors import ZcptError, check_image_side, show

PathLike = Union[str, os.PathLike]


def _input_shape(shape: Any, size: Any, source: Any) -> list:
    """``shape`` with the recorded ``[height, width]`` of ``source`` (checked: a file
    must not make zcpt allocate a 100000 x 100000 input)."""
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ZcptError(f"{source}: image_size must be [height, width], got {show(size)}")
    return [shape[0], *(check_image_side(v, f"image_size of {source}") for v in size)]


def _metadata(space: Any, genotype: str, num_classes: int, **extra: Any) -> Dict[str, Any]:
    from . import __version__

    return {"zcpt": __version__, "space": space.name, "genotype": genotype, "num_classes": int(num_classes),
            "input_shape": list(space.input_shape), **extra}


def load_trained(path: PathLike, device: Union[str, torch.device] = "cpu", space: Optional[str] = None,
                 flag: Optional[str] = "--space") -> Tuple[nn.Module, Dict[str, Any]]:
    """The trained evaluation network of a ``zcpt train`` checkpoint (the file or its
    directory), in eval mode, and its metadata. ``space``: the space the caller names,
    which must be the checkpoint's (see :func:`zcpt.spaces.trusted_space`)."""
    from .search import SearchResult
    from .spaces import get_space, trusted_space
    from .training.trainer import CHECKPOINT_FILE, load_checkpoint

    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise ZcptError(f"no such training checkpoint: {path}")
    state = load_checkpoint(path, torch.device(device))
    if not isinstance(state["space"], str):
        raise ZcptError(f"{path}: 'space' must be a string, got {type(state['space']).__name__}")
    space = get_space(trusted_space(state["space"], str(path), space, flag))
    weights = {k: v for k, v in state["model"].items() if not k.startswith("auxiliary_head.")}
    network = state.get("network") or {}
    classifier = weights.get("classifier.weight")
    num_classes = network.get("num_classes") or (int(classifier.shape[0]) if classifier is not None else 10)
    options = network.get("options")
    if options is None:  # checkpoints written before the network was recorded: the DARTS recipe's sizes
        options = {k: state["config"][k] for k in ("layers", "channels") if k in state["config"]}
    model = SearchResult(space=space.name, genotype=state["genotype"]).build_model(num_classes=num_classes, **options)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ZcptError(f"checkpoint {path} does not fit its network: {str(exc).splitlines()[0]}") from None
    data = state.get("data") or {}
    meta = _metadata(space, state["genotype"], num_classes, trained=True, epochs=int(state["epoch"]),
                     dataset=state["config"].get("dataset"), options=options, **data)
    if "image_size" in data:
        meta["input_shape"] = _input_shape(meta["input_shape"], data["image_size"], path)
    return model.to(device).eval(), meta


def load_model_source(
    path: PathLike, num_classes: Optional[int] = None, setting: Optional[str] = None, space: Optional[str] = None,
) -> Tuple[nn.Module, Dict[str, Any], Path]:
    """``(model, metadata, directory)`` of a training checkpoint (trained weights) or a
    search result (freshly initialised evaluation network of ``setting``). ``space``:
    the space the caller names, which must be the file's (needed for a ``python:`` space)."""
    from .search import SearchResult
    from .spaces import get_space
    from .training.trainer import CHECKPOINT_FILE

    p = Path(path).expanduser()
    checkpoint = p / CHECKPOINT_FILE if p.is_dir() else p
    if (p.is_dir() and checkpoint.is_file()) or (not p.is_dir() and p.suffix == ".pt"):
        if num_classes is not None or setting is not None:
            raise ZcptError("a checkpoint fixes its classes and network; drop --num-classes/--setting")
        model, meta = load_trained(checkpoint, space=space)
        return model, meta, checkpoint.parent
    result = SearchResult.load(p, space=space)
    result.check_scores(str(p))
    found = get_space(result.space)
    if num_classes is None:
        num_classes = result.num_classes
    if num_classes < 1:
        raise ZcptError(f"--num-classes must be a positive integer, got {num_classes}")
    torch.manual_seed(0)
    model = result.build_model(num_classes=num_classes, setting=setting)
    data = {k: result.data[k] for k in ("dataset", "classes", "mean", "std") if k in result.data}
    if num_classes != result.num_classes:
        data.pop("classes", None)
    meta = _metadata(found, result.genotype, num_classes, trained=False,
                     options=found.evaluation_options(setting), **data)
    if "image_size" in result.data:
        meta["input_shape"] = _input_shape(meta["input_shape"], result.data["image_size"], p)
    return model.eval(), meta, (p if p.is_dir() else p.parent)
