"""What determines a search: :class:`SearchConfig`.

Its fields are the settings every method shares (method, space, proxy, data,
seed, device, sizes, budgets, ...), each with its help text in its field
metadata (a :class:`Setting`): ``zcpt search`` generates its flags from them,
so a default is written once, here. A method's own settings are the options it
declares (see :mod:`zcpt.search.methods`), kept in ``method_options``;
:meth:`SearchConfig.check` fills in their defaults, so they are recorded in
progress.json and result.json and take part in the resume check like every
other setting. Zero-Cost-PT's order, scorer, proposals and validation are such
options; for earlier scripts and files, ``SearchConfig(order=..., proposals=...)``
still works and ``config.order`` still reads them (:data:`LEGACY_OPTIONS`), and
:func:`migrate_config_json` turns a configuration saved by an earlier version
(flat fields) into this layout.
"""
from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from ..engine.precision import PRECISIONS, check_precision
from ..errors import ZcptError, check_image_side, check_int, check_seed
from ..proxies.nwot import CODES
from ..spaces.mixing import MIXED_OPS

NONFINITE = ("error", "skip")
DEFAULT_METHOD = "zero-cost-pt"
#: Zero-Cost-PT's options that were SearchConfig fields in earlier versions
LEGACY_OPTIONS = ("order", "scorer", "proposals", "validation")


@dataclass(frozen=True)
class Setting:
    """How a :class:`SearchConfig` field is shown to a user (``zcpt search`` makes its flag
    from it): help text, whether it is a flag, its group, metavar, choices, and the
    text of a default that is not a value (None: the field's default is shown)."""

    help: str
    flag: bool = True
    group: str = ""  # "" | "size" | "budget"
    metavar: Optional[str] = None
    choices: Tuple[str, ...] = ()
    default_text: Optional[str] = None


def _setting(default: Any, help: str, **shown: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(help, **shown)})


def _internal(factory: Any, help: str) -> Any:
    return field(default_factory=factory, metadata={"setting": Setting(help, flag=False)})


@dataclass
class SearchConfig:
    """Everything that determines a search's result (and nothing else)."""

    method: str = _setting(DEFAULT_METHOD, "search method, see `zcpt list methods`")
    space: str = _setting("nb201", "search space, see `zcpt list spaces`")
    proxy: str = _setting("nwot", "zero-cost proxy, see `zcpt list proxies`")
    batch_size: int = _setting(256, "minibatch size")
    seed: int = _setting(0, "seed of the supernet weights, the orders and the minibatches")
    dataset: str = _setting("cifar10", "cifar10, cifar100, svhn, imagenet16-120 or imagefolder")
    data: Optional[str] = _setting(None, "dataset location", metavar="PATH", default_text="the bundled CIFAR-10")
    image_size: Optional[int] = _setting(
        None, "search on S x S images: image folders are resized as they are read, other data (e.g. the 32x32 "
        "CIFAR-10) per batch", metavar="S", default_text="the data's own size")
    device: str = _setting("cpu", "cpu, cuda or auto")
    bn_mode: Optional[str] = _setting(
        None, "batch-norm statistics while scoring, for proxies that take it", choices=("train", "eval"),
        default_text="the proxy's")
    precision: str = _setting(
        "fp32", "convolutions in fp32, or bf16 (faster where the hardware has bf16 units; not fp32's numbers, see "
        "docs/guide/precision.md), or auto (bf16 only where measured fast and allowed)", choices=PRECISIONS)
    mixed_op: Optional[str] = _setting(
        None, "how the supernet mixes an undecided edge's ops: weighted (the paper's softmax(alpha), a new alpha "
        "per pass) or sum", choices=MIXED_OPS, default_text="the space's; nb201: weighted")
    nwot_codes: Optional[str] = _setting(
        None, "nwot's activation sites: definition (every ReLU call) or reference (the Zero-Cost-PT code's "
        "type-name hooks, skipped blocks included)", choices=CODES, default_text="the space's; nb201: reference")
    nonfinite: str = _setting(
        "error", "a NaN/inf score stops the search (error) or its candidate is excluded (skip)", choices=NONFINITE)
    train_images: Optional[int] = _setting(
        None, "use only N training images (a balanced subset)", group="size", metavar="N")
    max_params: Optional[float] = _setting(None, "at most M million trainable parameters", group="budget", metavar="M")
    max_flops: Optional[float] = _setting(
        None, "at most M million multiply-adds per image (counted as `zcpt query` counts them)", group="budget",
        metavar="M")
    max_latency_ms: Optional[float] = _setting(
        None, "at most T ms predicted by --latency-table", group="budget", metavar="T")
    latency_table: Optional[str] = _setting(
        None, "latency table of this device, from `zcpt latency`", group="budget", metavar="LUT_JSON")
    supernet_options: Dict[str, Any] = _internal(dict, "build options of the supernet (--channels, --cells)")
    network_options: Dict[str, Any] = _internal(dict, "build options of the validated networks")
    channels_last: bool = field(default=True, metadata={"setting": Setting(
        "NHWC tensors: same networks, several times faster convs/pools", flag=False)})
    proxy_args: Dict[str, Any] = _internal(dict, "the proxy's declared options (--proxy-option NAME=VALUE)")
    method_options: Dict[str, Any] = _internal(dict, "the method's declared options (its own flags)")
    # Zero-Cost-PT's options under their earlier names: SearchConfig(order="fixed") sets
    # method_options["order"]; config.order reads it (see LEGACY_OPTIONS)
    order: InitVar[Optional[str]] = None
    scorer: InitVar[Optional[str]] = None
    proposals: InitVar[Optional[int]] = None
    validation: InitVar[Optional[int]] = None

    def __post_init__(self, order: Any, scorer: Any, proposals: Any, validation: Any) -> None:
        given = dict(zip(LEGACY_OPTIONS, (order, scorer, proposals, validation)))
        legacy = {k: v for k, v in given.items() if v is not None}
        if legacy:
            self.method_options = {**self.method_options, **legacy}

    def option(self, name: str) -> Any:
        """The method's option ``name``: as given, else its declared default (None: not declared)."""
        from .methods._registry import METHODS

        if name in self.method_options:
            return self.method_options[name]
        declared = METHODS.entry(self.method).option(name) if self.method in METHODS else None
        return None if declared is None else declared.default

    def check(self) -> None:
        """One-line errors for every bad name or number; fills in the method's option defaults
        and runs the method's own checks (its ``MethodSpec.check``)."""
        from ..proxies import PROXIES
        from ..spaces import get_space
        from .methods._registry import METHODS

        space = get_space(self.space)
        entry = METHODS.entry(self.method)
        self.method_options = {**entry.defaults(), **METHODS.check_options(self.method, self.method_options)}
        proxy = PROXIES.entry(self.proxy)
        check_int(self.batch_size, "batch size", minimum=2)
        check_seed(self.seed)
        check_int(self.train_images, "train images", optional=True)
        if self.bn_mode is not None and not proxy.takes("bn_mode"):
            raise ZcptError(f"proxy '{self.proxy}' has no batch-norm mode; drop --bn-mode")
        self.proxy_args = PROXIES.check_options(self.proxy, self.proxy_args)
        if "bn_mode" in self.proxy_args and self.bn_mode is not None:
            raise ZcptError("give the batch-norm mode once: --bn-mode or --proxy-option bn_mode=...")
        self._check_supernet_semantics(space)
        self._check_budget(entry)
        if self.image_size is not None:
            check_image_side(self.image_size)
        if self.nonfinite not in NONFINITE:
            raise ZcptError(f"unknown --nonfinite '{self.nonfinite}'; choose from: {', '.join(NONFINITE)}")
        check_precision(self.precision)
        if self.precision != "fp32" and not proxy.takes("precision"):
            raise ZcptError(f"proxy '{self.proxy}' runs in fp32 only; drop --precision")
        if entry.spec.check is not None:
            entry.spec.check(self)

    def _check_budget(self, entry: Any) -> None:
        """A budget only for a method that honours one; a latency table that reads."""
        from ..budget import check_limits
        from .methods._registry import METHODS

        if check_limits(self.max_params, self.max_flops, self.max_latency_ms, self.latency_table) \
                and not entry.spec.budgets:
            usable = [e.name for e in METHODS if e.spec.budgets]
            raise ZcptError(f"method '{self.method}' takes no budget (--max-params, --max-flops, --max-latency-ms); "
                            f"methods that do: {', '.join(usable)}")
        if isinstance(self.latency_table, (str, Path)):
            from ..budget.latency import read_latency_table

            read_latency_table(self.latency_table)

    def _check_supernet_semantics(self, space: Any) -> None:
        """Fill in and check ``mixed_op`` and ``nwot_codes`` (one line naming what is refused)."""
        from ..proxies import PROXIES

        if self.mixed_op is None:
            self.mixed_op = space.mixed_ops[0]
        if self.mixed_op not in space.mixed_ops:
            raise ZcptError(f"the {space.name} supernet has no mixed op '{self.mixed_op}'; "
                            f"choose from: {', '.join(space.mixed_ops)}")
        if not PROXIES.entry(self.proxy).takes("codes"):  # nwot, and ensembles with nwot
            if self.nwot_codes is not None:
                raise ZcptError(f"--nwot-codes applies to the nwot proxy, not '{self.proxy}'")
            return
        if "codes" in self.proxy_args:
            raise ZcptError("give nwot's codes once: --nwot-codes or --proxy-option codes=...")
        if self.nwot_codes is None:
            self.nwot_codes = space.nwot_codes
        if self.nwot_codes not in CODES:
            raise ZcptError(f"unknown nwot codes '{self.nwot_codes}'; choose from: {', '.join(CODES)}")
        if self.nwot_codes == "reference" and not space.marks_skipped_blocks:
            raise ZcptError(f"--nwot-codes reference is not available on {space.name}: its supernet does not "
                            "mark the blocks it skips, so the reference's sites cannot be counted")

    def proxy_options(self) -> Dict[str, Any]:
        options: Dict[str, Any] = {"bn_mode": self.bn_mode} if self.bn_mode else {}
        if self.nwot_codes is not None:
            options["codes"] = self.nwot_codes
        if self.precision != "fp32":
            options["precision"] = self.precision
        return {**options, **self.proxy_args}

    def supernet_build_options(self) -> Dict[str, Any]:
        return dict(self.supernet_options)

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SearchConfig":
        """The configuration of a saved ``config`` object, of this version or an earlier one."""
        return cls(**migrate_config_json(data))


def _legacy_property(name: str) -> property:
    return property(lambda self: self.option(name),
                    doc=f"The method option ``{name}`` (Zero-Cost-PT's; a SearchConfig field before).")


for _name in LEGACY_OPTIONS:  # config.order & co. read the method's options
    setattr(SearchConfig, _name, _legacy_property(_name))


def migrate_config_json(data: Mapping[str, Any]) -> Dict[str, Any]:
    """A configuration saved by any version, in this version's layout.

    Earlier versions kept Zero-Cost-PT's settings (:data:`LEGACY_OPTIONS`) as flat
    fields, and before that a ``reference_compat`` flag (now ``nwot_codes="reference"``);
    they move into ``method_options`` (a flat value wins: a file of an earlier
    version has only that one). Anything else is left as it is, for the caller's
    checks to judge."""
    migrated = dict(data)
    flat = {k: migrated.pop(k) for k in LEGACY_OPTIONS if k in migrated}
    if migrated.pop("reference_compat", False) is True and migrated.get("nwot_codes") is None:
        migrated["nwot_codes"] = "reference"
    if flat:
        options = migrated.get("method_options")
        migrated["method_options"] = {**(options if isinstance(options, dict) else {}), **flat}
    return migrated


__all__ = ["LEGACY_OPTIONS", "SearchConfig", "Setting", "migrate_config_json"]
