"""``zcpt search``: run a search method (default: Zero-Cost-PT, Algorithm 1), a thin
wrapper over :func:`zcpt.search.search`. Every option a method declares in
``METHODS`` is a flag here (``samples`` -> ``--samples``)."""
from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import MAX_CELLS, MAX_CHANNELS, ZcptError, check_int

logger = logging.getLogger("zcpt")


_OPTION_DEST = "method_option_"  # argparse dest prefix of the methods' own flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="zero-cost-pt",
                   help="search method, see `zcpt list methods` (default: zero-cost-pt)")
    p.add_argument("--space", default="nb201", help="search space, see `zcpt list spaces` (default: nb201)")
    p.add_argument("--proxy", default="nwot", help="zero-cost proxy, see `zcpt list proxies` (default: nwot)")
    p.add_argument("--order", default="random",
                   help="edge discretisation order, see `zcpt list orders` (default: random)")
    p.add_argument("--scorer", default="zc-pt",
                   help="operation scoring function: zc-pt (perturbation), disc-zc (discretisation), tenas, "
                        "or an oracle (best-acc, avg-acc, best-zc) where the space has a benchmark; see "
                        "`zcpt list scorers`; the training-based ones are refused (default: zc-pt)")
    p.add_argument("-N", "--proposals", type=int, default=10,
                   help="proposal passes, one candidate architecture each (default: 10)")
    p.add_argument("-V", "--validation", type=int, default=100,
                   help="minibatches each candidate is scored on in the validation stage (default: 100)")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (default: 256)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the supernet weights, the orders and the minibatches (default: 0)")
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10, cifar100, svhn, imagenet16-120 or imagefolder (default: cifar10)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="dataset location (default: the bundled CIFAR-10)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="search on S x S images: image folders are resized as they are read, other data "
                        "(e.g. the 32x32 CIFAR-10) per batch (default: the data's own size)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--proxy-option", action="append", default=[], metavar="NAME=VALUE",
                   help="an option the proxy declares, e.g. --proxy-option gaussian_init=true (repeatable; "
                        "`zcpt list proxies` shows each proxy's options)")
    p.add_argument("--bn-mode", choices=("train", "eval"), default=None,
                   help="batch-norm statistics while scoring, for proxies that take it (default: the proxy's)")
    p.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                   help="convolutions in fp32, or bf16 (faster where the hardware has bf16 units; not fp32's "
                        "numbers, see docs/guide/precision.md), or auto (bf16 only where measured fast and "
                        "allowed) (default: fp32)")
    p.add_argument("--workers", default="1", metavar="N|auto",
                   help="run the proposal passes and candidate validations as N Ray tasks (a local Ray "
                        "started on demand; needs pip install 'zcpt[ray]'); auto: 1 or one per core, "
                        "whichever was measured faster here; the result is the same (default: 1, in-process)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="run the tasks on the existing Ray cluster at ADDR (e.g. ray://host:10001)")
    p.add_argument("--mixed-op", choices=("weighted", "sum"), default=None,
                   help="how the supernet mixes an undecided edge's ops: weighted (the paper's softmax(alpha), "
                        "a new alpha per pass) or sum (default: the space's; nb201: weighted)")
    p.add_argument("--nwot-codes", choices=("definition", "reference"), default=None,
                   help="nwot's activation sites: definition (every ReLU call) or reference (the Zero-Cost-PT "
                        "code's type-name hooks, skipped blocks included) (default: the space's; nb201: reference)")
    p.add_argument("--reference-compat", action="store_true",
                   help="deprecated: the same as --nwot-codes reference")
    p.add_argument("--nonfinite", choices=("error", "skip"), default="error",
                   help="a NaN/inf score stops the search (error) or its candidate is excluded (skip) "
                        "(default: error)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory for progress.json and result.json "
                        "(default: runs/<space>-<proxy>-<order>-s<seed>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted search in --out (same options required)")
    size = p.add_argument_group("network size (quick runs; defaults: the space's own)")
    size.add_argument("--channels", type=int, default=None,
                      help="initial channels of the supernet and of the validated networks")
    size.add_argument("--cells", type=int, default=None,
                      help="NB201: cells per stage; DARTS: layers (cells) of the supernet and the validated networks")
    size.add_argument("--train-images", type=int, default=None, metavar="N",
                      help="use only N training images (a balanced subset)")
    budget = p.add_argument_group("budget (the found network fits every limit given; its size as the result reports it)")
    budget.add_argument("--max-params", type=float, default=None, metavar="M",
                        help="at most M million trainable parameters")
    budget.add_argument("--max-flops", type=float, default=None, metavar="M",
                        help="at most M million multiply-adds per image (counted as `zcpt query` counts them)")
    budget.add_argument("--max-latency-ms", type=float, default=None, metavar="T",
                        help="at most T ms predicted by --latency-table")
    budget.add_argument("--latency-table", default=None, metavar="LUT_JSON",
                        help="latency table of this device, from `zcpt latency`")
    add_method_options(p)


def add_method_options(p: argparse.ArgumentParser) -> None:
    """One flag per option name that some method declares (SUPPRESS: only given flags are set)."""
    from ..search.methods import METHODS

    declared: Dict[str, Any] = {}
    users: Dict[str, List[str]] = {}
    for entry in METHODS:
        for option in entry.options:
            first = declared.setdefault(option.name, option)
            if first.type is not option.type:
                raise TypeError(f"methods declare option '{option.name}' with different types")
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
        group.add_argument(option.flag, **kwargs)


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
    return SearchConfig(
        method=args.method, method_options=method_options_from_args(args),
        space=args.space, proxy=args.proxy, order=args.order, scorer=args.scorer,
        proposals=args.proposals, validation=args.validation, batch_size=args.batch_size,
        seed=args.seed, dataset=args.dataset, data=args.data, device=args.device,
        bn_mode=args.bn_mode, nonfinite=args.nonfinite, mixed_op=args.mixed_op, nwot_codes=nwot_codes(args),
        precision=args.precision,
        proxy_args=parse_proxy_options(args.proxy, args.proxy_option),
        supernet_options=dict(size), network_options=dict(size), train_images=args.train_images,
        max_params=args.max_params, max_flops=args.max_flops, max_latency_ms=args.max_latency_ms,
        latency_table=args.latency_table,
        image_size=args.image_size,
    )


def default_out(args: argparse.Namespace) -> Path:
    if args.method == "zero-cost-pt":
        name = f"{args.space}-{args.proxy}-{args.order}-s{args.seed}"
    else:
        name = f"{args.space}-{args.method}-{args.proxy}-s{args.seed}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9_.+=-]+", "_", name)  # python:a/b.py:fn, ensemble:a+b


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
