"""``zcpt search``: run a search method (default: Zero-Cost-PT, Algorithm 1), a thin
wrapper over :func:`zcpt.search.search`. The flags are generated: one per shared
setting of :class:`~zcpt.search.SearchConfig` (help, choices and default from the
field), and one per option a method declares in ``METHODS`` (``samples`` ->
``--samples``; Zero-Cost-PT's ``order``, ``scorer``, ``-N``, ``-V``), so no
default is written here."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import typing
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import MAX_CELLS, MAX_CHANNELS, ZcptError, check_int

logger = logging.getLogger("zcpt")


_OPTION_DEST = "method_option_"  # argparse dest prefix of the methods' own flags
_GROUPS = {"size": "network size (quick runs; defaults: the space's own)",
           "budget": "budget (the found network fits every limit given; its size as the result reports it)"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags: one per shared setting (from :class:`~zcpt.search.SearchConfig`'s field
    metadata), the command's own, and one per option some method declares."""
    groups = {"": p, **{name: p.add_argument_group(title) for name, title in _GROUPS.items()}}
    add_config_flags(groups)
    p.add_argument("--proxy-option", action="append", default=[], metavar="NAME=VALUE",
                   help="an option the proxy declares, e.g. --proxy-option gaussian_init=true (repeatable; "
                        "`zcpt list proxies` shows each proxy's options)")
    p.add_argument("--workers", default="1", metavar="N|auto",
                   help="run the proposal passes and candidate validations as N Ray tasks (a local Ray "
                        "started on demand; needs pip install 'zcpt[ray]'); auto: 1 or one per core, "
                        "whichever was measured faster here; the result is the same (default: 1, in-process)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="run the tasks on the existing Ray cluster at ADDR (e.g. ray://host:10001)")
    p.add_argument("--reference-compat", action="store_true",
                   help="deprecated: the same as --nwot-codes reference")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory for progress.json and result.json "
                        "(default: runs/<space>-<proxy>-<order>-s<seed>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted search in --out (same options required)")
    groups["size"].add_argument("--channels", type=int, default=None,
                                help="initial channels of the supernet and of the validated networks")
    groups["size"].add_argument("--cells", type=int, default=None,
                                help="NB201: cells per stage; DARTS: layers (cells) of the supernet and the "
                                     "validated networks")
    add_method_options(p)


def _flag_type(name: str) -> type:
    """The type a field's flag parses to: its annotation, without Optional."""
    from ..search import SearchConfig

    hint = typing.get_type_hints(SearchConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_config_flags(groups: Dict[str, Any]) -> None:
    """A flag per :class:`~zcpt.search.SearchConfig` field whose :class:`~zcpt.search.config.Setting`
    is a flag, with its help, choices and default (written once: in the field)."""
    from ..search import SearchConfig

    for f in dataclasses.fields(SearchConfig):
        setting = f.metadata.get("setting")
        if setting is None or not setting.flag:
            continue
        shown = setting.default_text if setting.default_text is not None else f.default
        default = "" if shown is None else f" (default: {shown})"
        kwargs: Dict[str, Any] = {"dest": f.name, "type": _flag_type(f.name), "default": f.default,
                                  "help": setting.help + default}
        if setting.choices:
            kwargs["choices"] = setting.choices
        if setting.metavar:
            kwargs["metavar"] = setting.metavar
        groups[setting.group].add_argument("--" + f.name.replace("_", "-"), **kwargs)


def add_method_options(p: argparse.ArgumentParser) -> None:
    """One flag per option name that some method declares (SUPPRESS: only given flags are set)."""
    from ..search.methods import METHODS

    declared: Dict[str, Any] = {}
    users: Dict[str, List[str]] = {}
    for entry in METHODS:
        for option in entry.options:
            first = declared.setdefault(option.name, option)
            if first.type is not option.type or first.short != option.short:
                raise TypeError(f"methods declare option '{option.name}' with different types or short flags")
            users.setdefault(option.name, []).append(entry.name)
    if not declared:
        return
    group = p.add_argument_group("method options (each for the methods named)")
    for name, option in declared.items():
        default = "" if option.default is None else f"; default: {option.default}"
        help_text = f"{option.help} ({', '.join(users[name])}{default})".strip()
        kwargs: Dict[str, Any] = {"dest": _OPTION_DEST + name, "default": argparse.SUPPRESS, "help": help_text}
        if option.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = option.type
            kwargs["metavar"] = option.type.__name__.upper()
            if option.choices:
                kwargs["choices"] = option.choices
        group.add_argument(*filter(None, (option.short, option.flag)), **kwargs)


def method_options_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """The method flags given on the command line; one for another method is an error."""
    from ..search.methods import METHODS

    entry = METHODS.entry(args.method)
    given = {k[len(_OPTION_DEST):]: v for k, v in vars(args).items() if k.startswith(_OPTION_DEST)}
    for name in given:
        if not entry.takes(name):
            flag = "--" + name.replace("_", "-")
            raise ZcptError(f"{flag} is not an option of method '{entry.name}' "
                            f"(its options: {', '.join(o.flag for o in entry.options) or 'none'})")
    return given


def parse_proxy_options(proxy: str, items: List[str]) -> Dict[str, Any]:
    """``NAME=VALUE`` strings as typed values of the options ``proxy`` declares."""
    from ..proxies import PROXIES

    entry = PROXIES.entry(proxy)
    out: Dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        option = entry.option(name.strip().replace("-", "_"))
        if not sep or option is None:
            known = ", ".join(o.name for o in entry.options) or "none"
            raise ZcptError(f"--proxy-option {item!r}: proxy '{proxy}' takes NAME=VALUE with NAME one of: {known}")
        text = text.strip()
        if option.type is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ZcptError(f"--proxy-option {item!r}: {option.name} is true or false")
            value: Any = text.lower() in ("true", "1", "yes")
        else:
            try:
                value = option.type(text)
            except ValueError:
                kind = {int: "an integer", float: "a number"}.get(option.type, "a string")
                raise ZcptError(f"--proxy-option {item!r}: {option.name} must be {kind}") from None
        out[option.name] = value
    return out


def size_options(space: Any, channels: Optional[int], cells: Optional[int]) -> Dict[str, int]:
    """The build options that ``--channels``/``--cells`` mean for ``space``.

    Spaces name their depth differently (NB201: cells per stage, DARTS: layers);
    each says which in ``depth_option`` and ``width_option``.
    """
    options: Dict[str, int] = {}
    check_int(channels, "--channels", optional=True, maximum=MAX_CHANNELS)
    check_int(cells, "--cells", optional=True, maximum=MAX_CELLS)
    if cells is not None:
        if space.depth_option is None:
            raise ZcptError(f"space '{space.name}' has no --cells option")
        options[space.depth_option] = cells
    if channels is not None:
        if space.width_option is None:
            raise ZcptError(f"space '{space.name}' has no --channels option")
        options[space.width_option] = channels
    return options


def nwot_codes(args: argparse.Namespace) -> Optional[str]:
    """``--nwot-codes``, or ``reference`` for the deprecated ``--reference-compat`` (with a warning)."""
    if not args.reference_compat:
        return args.nwot_codes
    if args.nwot_codes not in (None, "reference"):
        raise ZcptError("--reference-compat means --nwot-codes reference; give one of them")
    logger.warning("--reference-compat is deprecated: use --nwot-codes reference")
    return "reference"


def config_from_args(args: argparse.Namespace):
    """The :class:`~zcpt.search.SearchConfig` of parsed ``zcpt search`` arguments."""
    from ..search import SearchConfig
    from ..spaces import get_space

    size = size_options(get_space(args.space), args.channels, args.cells)
    check_int(args.train_images, "--train-images", optional=True)
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(SearchConfig)
             if f.metadata.get("setting") is not None and f.metadata["setting"].flag}
    return SearchConfig(**{**flags, "nwot_codes": nwot_codes(args)},
                        method_options=method_options_from_args(args),
                        proxy_args=parse_proxy_options(args.proxy, args.proxy_option),
                        supernet_options=dict(size), network_options=dict(size))


def default_out(args: argparse.Namespace) -> Path:
    """``runs/<space>-<proxy>-<order>-s<seed>`` (other methods: ``<space>-<method>-<proxy>-s<seed>``);
    the order as given, else its declared default."""
    if args.method == "zero-cost-pt":
        order = getattr(args, _OPTION_DEST + "order", None) or _declared_default(args.method, "order")
        name = f"{args.space}-{args.proxy}-{order}-s{args.seed}"
    else:
        name = f"{args.space}-{args.method}-{args.proxy}-s{args.seed}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9_.+=-]+", "_", name)  # python:a/b.py:fn, ensemble:a+b


def _declared_default(method: str, option: str) -> Any:
    from ..search.methods import METHODS

    return METHODS.entry(method).defaults()[option]


def format_result(result: Dict[str, Any], out_dir: Path) -> str:
    """The human-readable summary printed at the end of a search."""
    from ..benchmarks import benchmark_datasets, dataset_label
    from ..spaces import get_space

    bench = result["benchmark"]
    lines = [f"{'genotype':<16}{result['genotype']}"]
    for key in benchmark_datasets(get_space(result["space"])):
        label = dataset_label(key)
        if key in bench:
            acc = float(bench[key])
            lines.append(f"{label:<16}{acc:.2f} % test accuracy, {100.0 - acc:.2f} % test error")
    if "rank" in bench:
        lines.append(f"{'rank':<16}{bench['rank']} (CIFAR-10 test accuracy, 1 = best)")
    if "params_M" in bench:
        size = f" ({bench['layers']} cells, {bench['channels']} channels)" if "layers" in bench else ""
        lines.append(f"{'params':<16}{bench['params_M']:.3f} M{size}")
        at = f" at {bench['image_size']}x{bench['image_size']}" if "image_size" in bench else ""
        lines.append(f"{'FLOPs':<16}{bench['flops_M']:.1f} M multiply-adds{at}")
    budget = result.get("budget") or {}
    if budget:
        from ..budget import DISPLAY

        for metric, (unit, _) in DISPLAY.items():
            if f"max_{metric}_{unit}" in budget["limits"]:
                lines.append(f"{'budget ' + metric:<16}{budget['costs'][f'{metric}_{unit}']:.4g} {unit} "
                             f"(limit {budget['limits'][f'max_{metric}_{unit}']:g} {unit})")
    if result.get("proposals") is not None:
        lines.append(
            f"{'candidates':<16}{len(result['candidates'])} distinct of {result['proposals']} proposals, "
            f"{result['validation']} validation batches each"
        )
    elif result.get("candidates"):
        lines.append(f"{'candidates':<16}{len(result['candidates'])}")
    seconds, forward = result["seconds"], result["forward_passes"]
    parts = {k: v for k, v in seconds.items() if k != "total"}
    lines.append(f"{'time':<16}{seconds.get('total', 0.0):.1f} s" + _breakdown(parts, "{:.1f} s"))
    if forward:
        lines.append(f"{'forward passes':<16}{sum(forward.values())}" + _breakdown(forward, "{}"))
    lines.append(f"{'result':<16}{out_dir / 'result.json'}")
    return "\n".join(lines)


_STAGE_NAMES = {"proposal": "proposals"}


def _breakdown(parts: Dict[str, Any], fmt: str) -> str:
    if not parts:
        return ""
    return " (" + ", ".join(f"{_STAGE_NAMES.get(k, k)} {fmt.format(v)}" for k, v in parts.items()) + ")"


def run(args: argparse.Namespace) -> int:
    from ..data import DATASETS
    from ..files import check_output_dir
    from ..search import search

    config = config_from_args(args)
    config.check()  # names and numbers fail before anything is loaded or written
    DATASETS.entry(config.dataset.lower())
    out_dir = Path(check_output_dir(args.out)) if args.out is not None else default_out(args)  # '' is no directory
    from ..engine.executor import parse_workers

    workers = parse_workers(args.workers)
    result = search(config, out_dir=out_dir, resume=args.resume, workers=workers, ray_address=args.ray_address)
    print(format_result(result, out_dir))
    return 0
