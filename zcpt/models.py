"""The model behind a search result or a training checkpoint, as a plain ``nn.Module``.

:func:`load_trained` rebuilds the evaluation network a ``zcpt train``
checkpoint trained (its space, genotype, classes and build options) and loads
its weights (the auxiliary head, a training device only, is left out);
:func:`load_model_source` takes either a checkpoint or a search result, which
gives the found architecture freshly initialised. Both hand back the metadata a
user needs to feed the model (classes, input shape, normalisation).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from .errors import MAX_CLASSES, ZcptError, check_image_side, check_int, one_line, show

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


_DATA_KEYS = ("classes", "mean", "std", "image_size")  # what zcpt train records of its data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checked_data(data: Any, num_classes: int, source: Any) -> Dict[str, Any]:
    """The recorded data facts a model's user needs (classes, mean, std, image size), checked."""
    if not isinstance(data, dict):
        raise ZcptError(f"{source}: 'data' must be an object, got {show(data)}")
    out = {k: data[k] for k in _DATA_KEYS if k in data}
    classes = out.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) != num_classes
                                or not all(isinstance(c, str) for c in classes)):
        raise ZcptError(f"{source}: 'classes' must be a list of {num_classes} class names")
    for key in ("mean", "std"):
        if key in out and not (isinstance(out[key], list) and len(out[key]) == 3 and all(map(_is_number, out[key]))):
            raise ZcptError(f"{source}: '{key}' must be a list of 3 finite numbers, got {show(out[key])}")
    return out


def _checked_network(state: Dict[str, Any], weights: Dict[str, Any], source: Any) -> Tuple[int, Dict[str, Any]]:
    """``(num_classes, build options)`` a checkpoint records, checked."""
    network = state.get("network")  # `or` would ask a tensor for its truth value
    network = {} if network is None else network
    if not isinstance(network, dict):
        raise ZcptError(f"{source}: 'network' must be an object, got {show(network)}")
    classifier = weights.get("classifier.weight")
    num_classes = network.get("num_classes")
    if num_classes is None:
        num_classes = int(classifier.shape[0]) if classifier is not None and classifier.dim() else 10
    check_int(num_classes, f"{source}: 'num_classes'", maximum=MAX_CLASSES)
    options = network.get("options")
    if options is None:  # checkpoints written before the network was recorded: the DARTS recipe's sizes
        options = {k: state["config"][k] for k in ("layers", "channels") if k in state["config"]}
    if not isinstance(options, dict) or not all(isinstance(k, str) and isinstance(v, (type(None), bool, int, float, str))
                                                for k, v in options.items()):
        raise ZcptError(f"{source}: the network options must map names to plain values, got {show(options)}")
    return num_classes, options


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
    state = load_checkpoint(path, torch.device(device))  # space and genotype: strings
    space = get_space(trusted_space(state["space"], str(path), space, flag))
    model_state, genotype, epochs = state["model"], state["genotype"], state["epoch"]
    if not isinstance(model_state, dict) or not all(isinstance(v, torch.Tensor) for v in model_state.values()) \
            or not all(isinstance(k, str) for k in model_state):
        raise ZcptError(f"{path}: 'model' must map parameter names to tensors")
    check_int(epochs, f"{path}: 'epoch'", minimum=0)
    weights = {k: v for k, v in model_state.items() if not k.startswith("auxiliary_head.")}
    num_classes, options = _checked_network(state, weights, path)
    data = _checked_data({} if state.get("data") is None else state["data"], num_classes, path)
    dataset = state["config"].get("dataset")
    try:
        model = SearchResult(space=space.name, genotype=genotype).build_model(num_classes=num_classes, **options)
    except TypeError as exc:  # an option the space's network does not take
        raise ZcptError(f"checkpoint {path}: its network options do not fit space {space.name} "
                        f"({one_line(exc)})") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ZcptError(f"checkpoint {path} does not fit its network: {str(exc).splitlines()[0]}") from None
    meta = _metadata(space, genotype, num_classes, trained=True, epochs=int(epochs),
                     dataset=dataset if isinstance(dataset, str) else None, options=options, **data)
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
    check_int(num_classes, "--num-classes", maximum=MAX_CLASSES)
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
