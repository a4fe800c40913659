"""Train the standalone network of a genotype (DARTS's ``train.py`` recipe, or
the ProxylessNAS ImageNet recipe for the mobilenet space, see :mod:`.recipes`).

:func:`train` runs the whole recipe of a :class:`TrainConfig` and writes, into
``out_dir``:

* ``checkpoint.pt`` after every epoch (model, optimizer, scheduler, epoch, RNG
  states, config, metric history), replaced atomically, so an interrupted run
  loses at most the epoch in progress;
* ``train_log.jsonl``, one JSON line per finished epoch (rewritten from the
  checkpoint's history, so it never disagrees with it);
* ``train_result.json`` once the last epoch is done.

Batches come from :class:`~zcpt.data.BatchSource`, whose epochs depend only on
``(seed, epoch)``; together with the saved torch RNG state (drop path, noise
ops) a resumed run reproduces an uninterrupted one exactly.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Augmentation, BatchSource, ImageDataset, load_dataset
from ..device import seed_everything
from ..errors import ZcptError, check_int, one_line, show
from ..files import RunLock, check_output_dir, torch_load, torch_save, write_json, write_lines
from ..spaces import get_space
from ..spaces.darts import count_params
from .recipes import TrainConfig

PathLike = Union[str, os.PathLike]
LogFn = Callable[[str], None]

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.jsonl"
RESULT_FILE = "train_result.json"
_CHECKPOINT_FORMAT = "zcpt-train-checkpoint"
_CHECKPOINT_VERSION = 1
_CHECKPOINT_KEYS = frozenset(
    ("space", "genotype", "config", "epoch", "seconds", "history", "model", "optimizer", "scheduler", "rng")
)


def _write_log(path: Path, history: List[Dict[str, Any]]) -> None:
    write_lines(path, (json.dumps(r) for r in history))


# -- RNG state and checkpoints -------------------------------------------------------------
def _rng_state() -> Dict[str, Any]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: Dict[str, Any]) -> None:
    # map_location moved these byte tensors to the device; the setters want them on the CPU.
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([t.cpu() for t in cuda])


def load_checkpoint(path: Path, device: torch.device) -> Dict[str, Any]:
    state = torch_load(path, "checkpoint", map_location=device)
    # type checks first: comparing a tensor planted there with == asks it for a truth value
    if not isinstance(state, dict) or not isinstance(state.get("format"), str) \
            or state["format"] != _CHECKPOINT_FORMAT:
        raise ZcptError(f"{path} is not a zcpt training checkpoint")
    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != _CHECKPOINT_VERSION:
        raise ZcptError(f"{path}: checkpoint version {show(version)} is not supported")
    missing = sorted(_CHECKPOINT_KEYS - set(state))
    if missing or not isinstance(state["config"], dict):
        raise ZcptError(f"{path} is an incomplete training checkpoint (missing: {', '.join(missing) or 'config'})")
    for key in ("space", "genotype"):
        if not isinstance(state[key], str):
            raise ZcptError(f"{path}: '{key}' must be a string, got {show(state[key])}")
    if not all(isinstance(k, str) and isinstance(v, (type(None), bool, int, float, str))
               for k, v in state["config"].items()):
        raise ZcptError(f"{path}: 'config' must map setting names to plain values")
    return state


# -- one epoch ---------------------------------------------------------------------------------
def _loss_and_logits(
    out: Any, y: torch.Tensor, aux_weight: float, label_smoothing: float = 0.0
) -> Tuple[torch.Tensor, torch.Tensor]:
    if isinstance(out, tuple):
        logits, aux = out
        return (F.cross_entropy(logits, y, label_smoothing=label_smoothing)
                + aux_weight * F.cross_entropy(aux, y, label_smoothing=label_smoothing)), logits
    return F.cross_entropy(out, y, label_smoothing=label_smoothing), out


def train_epoch(
    net: nn.Module, src: BatchSource, optimizer: torch.optim.Optimizer, config: TrainConfig,
    epoch: int, progress: bool = False, tick: Optional[Callable[[], None]] = None,
) -> Tuple[float, float]:
    """One pass over the training batches; returns (mean loss, accuracy %).

    The loss is the optimised objective, CE + aux_weight * CE(aux), as DARTS logs it.
    Sums stay on the device so a GPU is synchronised once per epoch, not per step.
    ``tick`` is called after every step (e.g. :meth:`zcpt.progress.Progress.tick`).
    """
    net.train()
    device = next(net.parameters()).device
    steps = src.num_batches()
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for step, (x, y) in enumerate(src.epoch(epoch, shuffle=True, drop_last=False, cutout=config.cutout)):
        if step >= steps:
            break
        if y.numel() < 2:
            continue  # a 1-image remainder batch: BatchNorm cannot train on it
        optimizer.zero_grad(set_to_none=True)
        loss, logits = _loss_and_logits(net(x), y, config.auxiliary_weight, config.label_smoothing)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        optimizer.step()
        n = y.numel()
        seen += n
        loss_sum += loss.detach() * n
        correct += (logits.detach().argmax(1) == y).sum()
        if tick is not None:
            tick()
        if progress:
            sys.stderr.write(f"\r  epoch {epoch + 1}/{config.epochs} step {step + 1}/{steps} loss {loss.item():.4f}")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\r" + " " * 60 + "\r")
        sys.stderr.flush()
    if seen == 0:
        raise ZcptError("no training batch of at least 2 images; use more training images")
    return float(loss_sum) / seen, 100.0 * float(correct) / seen


@torch.no_grad()
def evaluate(net: nn.Module, src: BatchSource, max_steps: Optional[int] = None) -> Tuple[float, float]:
    """Mean CE loss and accuracy (%) on ``src`` in eval mode, in a fixed order."""
    net.eval()
    device = next(net.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for step, (x, y) in enumerate(src.epoch(0, shuffle=False, drop_last=False)):
        if max_steps is not None and step >= max_steps:
            break
        logits = net(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        seen += y.numel()
    return float(loss_sum) / seen, 100.0 * float(correct) / seen


# -- the run -------------------------------------------------------------------------------------
def _prepare_data(config: TrainConfig, data: Optional[ImageDataset], data_path: Optional[PathLike]) -> ImageDataset:
    ds = data.at_size(config.image_size) if data is not None else load_dataset(
        config.dataset, path=data_path, image_size=config.image_size)
    if ds.num_test == 0:
        raise ZcptError(f"dataset '{ds.name}' has no test split to evaluate on")
    if config.train_images is not None or config.test_images is not None:
        ds = ds.subset(config.train_images or ds.num_train, config.test_images or ds.num_test, seed=config.seed)
    return ds


def _canonical_genotype(genotype: Any, space_name: str) -> Tuple[Any, Any]:
    """The space (DARTS family, NB201 or mobilenet) and the validated genotype of ``genotype``."""
    from ..spaces.darts import DartsSpace
    from ..spaces.mobilenet import MobileNetSpace
    from ..spaces.nb201 import NB201Space

    space = get_space(space_name)
    if not isinstance(space, (DartsSpace, NB201Space, MobileNetSpace)):
        raise ZcptError(f"zcpt train trains DARTS-family, nb201 and mobilenet genotypes; space '{space_name}' "
                        "is none of them")
    text = genotype if isinstance(genotype, str) else space.format(genotype)
    g = space.parse(text)
    return space, g


_TRAINING_ONLY = ("auxiliary", "drop_path")  # build options the evaluation network does without


def _network_options(space: Any, config: TrainConfig) -> Dict[str, Any]:
    """The standalone network's build options a config sets (DARTS: cells, channels,
    auxiliary head, drop path; NB201: cells per stage and channels; mobilenet: backbone
    widths, dropout)."""
    from ..spaces.darts import DartsSpace
    from ..spaces.nb201 import NB201Space

    if isinstance(space, NB201Space):
        if config.use_auxiliary or config.drop_path > 0 or config.widths is not None or config.dropout > 0:
            raise ZcptError("an NB201 network has no auxiliary head, drop path, widths or dropout; "
                            "use --setting nb201 or drop those flags")
        return {name: value for name, value in (("cells_per_stage", config.layers), ("channels", config.channels))
                if value is not None}
    if isinstance(space, DartsSpace):
        if config.layers is None or config.channels is None:
            raise ZcptError(f"a DARTS network needs layers and channels (setting '{config.setting}' has none); "
                            f"pass --layers and --channels or use --setting standard|mobile")
        return {"layers": config.layers, "channels": config.channels, "auxiliary": config.use_auxiliary,
                "drop_path": config.drop_path}
    darts_only = [name for name in ("layers", "channels") if getattr(config, name) is not None]
    if darts_only or config.use_auxiliary or config.drop_path > 0:
        raise ZcptError(f"space '{space.name}' has no {', '.join(darts_only) or 'auxiliary head or drop path'} "
                        f"(DARTS options); use --setting imagenet, or --widths for its backbone")
    options: Dict[str, Any] = {"dropout": config.dropout}
    if config.widths is not None:
        options["widths"] = config.widths
    return options


def _optimizer(net: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD; with ``bn_weight_decay=False`` batch-norm weights and biases get no weight decay."""
    if config.bn_weight_decay:
        groups: Any = net.parameters()
    else:
        bn = [p for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
              for p in m.parameters(recurse=False)]
        bn_ids = {id(p) for p in bn}
        groups = [{"params": [p for p in net.parameters() if id(p) not in bn_ids]},
                  {"params": bn, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                           nesterov=config.nesterov and config.momentum > 0)


def _epoch_line(r: Dict[str, Any], epochs: int) -> str:
    return (
        f"epoch {r['epoch']:>{len(str(epochs))}}/{epochs}  lr {r['lr']:.6f}  "
        f"train loss {r['train_loss']:.4f} acc {r['train_acc']:6.2f}%  "
        f"test acc {r['test_acc']:6.2f}% error {r['test_error']:6.2f}%  ({r['seconds']:.1f}s)"
    )


def train(
    genotype: Any,
    space_name: str,
    config: TrainConfig,
    out_dir: PathLike,
    *,
    device: Union[str, torch.device] = "cpu",
    data_path: Optional[PathLike] = None,
    data: Optional[ImageDataset] = None,
    resume: bool = False,
    stop_after: Optional[int] = None,
    log: Optional[LogFn] = None,
    progress: bool = False,
) -> Dict[str, Any]:
    """Train ``genotype`` (text or Genotype of ``space_name``) with ``config``.

    ``data`` overrides loading ``config.dataset`` from ``data_path``.
    ``resume=True`` continues the checkpoint in ``out_dir`` (its config must
    match). ``stop_after=N`` returns once N epochs are finished in total (a
    later ``resume`` goes on), e.g. to split a run into time-limited jobs.
    ``log`` receives one line per epoch; ``progress`` draws a per-step line on stderr.

    Returns the result record (also written to ``train_result.json`` once
    ``finished`` is true): space, genotype, dataset, test_error, test_acc,
    epochs (finished so far), params_M, config, seconds, device, finished.
    """
    dev = torch.device(device)
    say: LogFn = log or (lambda _line: None)
    check_int(stop_after, "stop_after", optional=True)
    space, g = _canonical_genotype(genotype, space_name)
    _network_options(space, config)  # a config that does not fit the space fails before any work
    genotype_text = space.format(g)
    out = check_output_dir(out_dir)
    with RunLock(out):  # one training per directory
        return _train(space, g, genotype_text, config, out, dev, data_path, data, resume, stop_after,
                      say, progress)


def _train(
    space: Any, g: Any, genotype_text: str, config: TrainConfig, out: Path, dev: torch.device,
    data_path: Optional[PathLike], data: Optional[ImageDataset], resume: bool, stop_after: Optional[int],
    say: LogFn, progress: bool,
) -> Dict[str, Any]:
    ckpt_path, log_path = out / CHECKPOINT_FILE, out / LOG_FILE
    state = _resumed_state(space, genotype_text, config, out, dev, resume)
    ds = _prepare_data(config, data, data_path)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    net = space.build_network(g, num_classes=ds.num_classes, **_network_options(space, config)).to(dev)
    optimizer = _optimizer(net, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=0.0)
    params_m = count_params(net) / 1e6  # without the auxiliary head, as DARTS reports it

    history: List[Dict[str, Any]] = []
    start_epoch, seconds = 0, 0.0
    if state is not None:
        history, start_epoch, seconds = _restore(state, ckpt_path, net, optimizer, scheduler)
        say(f"resuming {out} after epoch {start_epoch}/{config.epochs}")
    _write_log(log_path, history)
    say(f"training on {ds.name} ({len(ds.train_labels)} train / {ds.num_test} test images), "
        f"{params_m:.3f}M params, device {dev}")

    train_src, test_src = _sources(ds, config, dev)
    last = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start_epoch, last):
        record = _epoch(net, train_src, test_src, optimizer, scheduler, config, epoch, progress)
        seconds += record["seconds"]
        history.append(record)
        torch_save(ckpt_path, _checkpoint(space, genotype_text, config, ds, net, optimizer, scheduler,
                                          history, seconds))
        _write_log(log_path, history)
        say(_epoch_line(record, config.epochs))
    result = _result(space, genotype_text, config, ds, history, params_m, seconds, dev)
    if result["finished"]:
        write_json(out / RESULT_FILE, result)
    return result


def _resumed_state(space: Any, genotype_text: str, config: TrainConfig, out: Path, dev: torch.device,
                   resume: bool) -> Optional[Dict[str, Any]]:
    """The checkpoint to resume (checked against this run), or None for a fresh run."""
    ckpt_path = out / CHECKPOINT_FILE
    if not resume:
        if ckpt_path.exists():
            raise ZcptError(f"{out} already holds a training checkpoint; resume it or choose another output directory")
        (out / RESULT_FILE).unlink(missing_ok=True)  # a stale result of some earlier run
        return None
    if not ckpt_path.is_file():
        raise ZcptError(f"nothing to resume: no {CHECKPOINT_FILE} in {out}")
    state = load_checkpoint(ckpt_path, dev)
    saved = TrainConfig.from_dict(state["config"])
    diffs = config.differences(saved)
    if state.get("space") != space.name:
        diffs.insert(0, f"space: {space.name!r} != {state.get('space')!r}")
    if state.get("genotype") != genotype_text:
        diffs.insert(0, "genotype differs")
    if diffs:
        raise ZcptError(f"cannot resume {ckpt_path}: this run differs from the checkpoint ({'; '.join(diffs)})")
    return state


def _restore(state: Dict[str, Any], ckpt_path: Path, net: nn.Module, optimizer: Any,
             scheduler: Any) -> Tuple[List[Dict[str, Any]], int, float]:
    """Weights, optimizer, schedule and RNG from the checkpoint; its history, epoch and seconds."""
    try:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = list(state["history"])
        start_epoch, seconds = int(state["epoch"]), float(state["seconds"])
        _set_rng_state(state["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ZcptError(f"checkpoint {ckpt_path} does not fit this network: {one_line(exc)}") from None
    return history, start_epoch, seconds


def _sources(ds: ImageDataset, config: TrainConfig, dev: torch.device) -> Tuple[BatchSource, BatchSource]:
    augmentation = Augmentation(config.resized_crop, config.color_jitter, config.test_crop)
    train_src = BatchSource(ds, split="train", batch_size=config.batch_size, seed=config.seed,
                            augment=True, device=dev, augmentation=augmentation)
    test_src = BatchSource(ds, split="test", batch_size=config.batch_size, seed=config.seed,
                           augment=False, device=dev, augmentation=augmentation)
    return train_src, test_src


def _epoch(net: nn.Module, train_src: BatchSource, test_src: BatchSource, optimizer: Any, scheduler: Any,
           config: TrainConfig, epoch: int, progress: bool) -> Dict[str, Any]:
    """One epoch of training and its evaluation: the epoch's record."""
    t0 = time.perf_counter()
    lr = float(optimizer.param_groups[0]["lr"])
    drop_prob = config.drop_path * epoch / config.epochs
    if hasattr(net, "drop_path_prob"):
        net.drop_path_prob = drop_prob
    train_loss, train_acc = train_epoch(net, train_src, optimizer, config, epoch, progress)
    if not math.isfinite(train_loss):
        raise ZcptError(f"training diverged: the train loss is {train_loss} in epoch {epoch + 1}; try a smaller lr")
    test_loss, test_acc = evaluate(net, test_src, config.max_steps)
    scheduler.step()
    return {
        "epoch": epoch + 1, "lr": lr, "drop_path_prob": drop_prob,
        "train_loss": train_loss, "train_acc": train_acc,
        "test_loss": test_loss, "test_acc": test_acc, "test_error": 100.0 - test_acc,
        "seconds": time.perf_counter() - t0,
    }


def _checkpoint(space: Any, genotype_text: str, config: TrainConfig, ds: ImageDataset, net: nn.Module,
                optimizer: Any, scheduler: Any, history: List[Dict[str, Any]], seconds: float) -> Dict[str, Any]:
    return {
        "format": _CHECKPOINT_FORMAT, "version": _CHECKPOINT_VERSION,
        "space": space.name, "genotype": genotype_text, "config": config.to_dict(),
        "epoch": history[-1]["epoch"], "seconds": seconds, "history": history,
        "model": net.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "rng": _rng_state(),
        # what rebuilds the evaluation network for inference (zcpt.models.load_trained)
        "network": {"num_classes": ds.num_classes, "options": {
            k: v for k, v in _network_options(space, config).items() if k not in _TRAINING_ONLY}},
        "data": {"classes": list(ds.classes), "mean": list(ds.mean), "std": list(ds.std),
                 "image_size": list(ds.image_size)},
    }


def _result(space: Any, genotype_text: str, config: TrainConfig, ds: ImageDataset, history: List[Dict[str, Any]],
            params_m: float, seconds: float, dev: torch.device) -> Dict[str, Any]:
    final = history[-1] if history else None
    return {
        "space": space.name,
        "genotype": genotype_text,
        "dataset": ds.name,
        "test_error": final["test_error"] if final else None,
        "test_acc": final["test_acc"] if final else None,
        "epochs": len(history),
        "params_M": params_m,
        "config": config.to_dict(),
        "seconds": seconds,
        "device": str(dev),
        "finished": len(history) >= config.epochs,
    }
