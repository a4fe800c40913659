"""What determines a search: :class:`SearchConfig`.

The fields are the settings every method shares (space, data, seed, device,
sizes) plus, flat for compatibility with earlier ``progress.json`` files, the
settings of the default method ``zero-cost-pt`` (proxy, order, scorer, N, V,
...). Any other method keeps its own declared options in ``method_options``
(see :mod:`zcpt.search.methods`); :meth:`SearchConfig.check` fills in their
defaults, so they are recorded in progress.json and result.json and take part
in the resume check like every other field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional
from pathlib import Path

from ..errors import ZcptError, check_image_side, check_int, check_seed


@dataclass
class SearchConfig:
    """Everything that determines a search's result (and nothing else)."""

    space: str = "nb201"
    proxy: str = "nwot"
    order: str = "random"
    scorer: str = "zc-pt"
    proposals: int = 10
    validation: int = 100
    batch_size: int = 256
    seed: int = 0
    dataset: str = "cifar10"
    data: Optional[str] = None
    device: str = "cpu"
    bn_mode: Optional[str] = None  # nwot / zen / tenas batch-norm mode; None: proxy default
    nonfinite: str = "error"
    supernet_options: Dict[str, Any] = field(default_factory=dict)
    network_options: Dict[str, Any] = field(default_factory=dict)
    train_images: Optional[int] = None  # restrict the data (tests, quick looks)
    image_size: Optional[int] = None  # batches of image_size x image_size (None: the data's own size)
    channels_last: bool = True  # NHWC tensors: same networks, several times faster convs/pools
    # how the supernet mixes an undecided edge's ops (zcpt.spaces.mixing): "weighted" (the
    # paper's softmax(alpha), a new alpha per pass) or "sum"; None: the space's default
    mixed_op: Optional[str] = None
    # nwot's activation sites (zcpt.proxies.nwot): "definition" or "reference" (the
    # Zero-Cost-PT code's type-name hooks); None: the space's default; nwot only
    nwot_codes: Optional[str] = None
    # budgets (see zcpt.budget): params / multiply-adds in millions, latency in ms with its table
    max_params: Optional[float] = None
    max_flops: Optional[float] = None
    max_latency_ms: Optional[float] = None
    latency_table: Optional[str] = None
    # fp32, or bf16 convolutions (opt-in; zcpt.engine.precision), or auto
    precision: str = "fp32"
    proxy_args: Dict[str, Any] = field(default_factory=dict)  # the proxy's declared options (--proxy-option)
    method: str = "zero-cost-pt"  # see `zcpt list methods`
    method_options: Dict[str, Any] = field(default_factory=dict)  # the method's declared options

    def check(self) -> None:
        """One-line errors for every bad name or number; fills in the method's option defaults."""
        from ..proxies import PROXIES
        from ..scoring import SCORERS, scorer_needs
        from ..spaces import get_space
        from .methods._registry import METHODS
        from .orders import ORDERS

        get_space(self.space)
        entry = METHODS.entry(self.method)
        self.method_options = {**entry.defaults(), **METHODS.check_options(self.method, self.method_options)}
        PROXIES.entry(self.proxy)
        ORDERS.entry(self.order)
        if scorer_needs(self.scorer).training:
            usable = [s for s in SCORERS.names() if not scorer_needs(s).training]
            raise ZcptError(f"scoring function '{self.scorer}' needs a trained supernet, which the search "
                            f"does not train; choose from: {', '.join(usable)}")
        check_int(self.proposals, "proposals")
        check_int(self.validation, "validation", minimum=0)
        check_int(self.batch_size, "batch size", minimum=2)
        check_seed(self.seed)
        check_int(self.train_images, "train images", optional=True)
        if self.bn_mode is not None and not PROXIES.entry(self.proxy).takes("bn_mode"):
            raise ZcptError(f"proxy '{self.proxy}' has no batch-norm mode; drop --bn-mode")
        self.proxy_args = PROXIES.check_options(self.proxy, self.proxy_args)
        if "bn_mode" in self.proxy_args and self.bn_mode is not None:
            raise ZcptError("give the batch-norm mode once: --bn-mode or --proxy-option bn_mode=...")
        self._check_supernet_semantics(get_space(self.space))
        from ..budget import check_limits

        if check_limits(self.max_params, self.max_flops, self.max_latency_ms, self.latency_table) \
                and not entry.spec.budgets:
            usable = [e.name for e in METHODS if e.spec.budgets]
            raise ZcptError(f"method '{self.method}' takes no budget (--max-params, --max-flops, --max-latency-ms); "
                            f"methods that do: {', '.join(usable)}")
        if isinstance(self.latency_table, (str, Path)):
            from ..budget.latency import read_latency_table

            read_latency_table(self.latency_table)
        if self.image_size is not None:
            check_image_side(self.image_size)
        if self.nonfinite not in ("error", "skip"):
            raise ZcptError(f"unknown --nonfinite '{self.nonfinite}'; choose from: error, skip")
        from ..engine.precision import check_precision

        check_precision(self.precision)
        if self.precision != "fp32" and not PROXIES.entry(self.proxy).takes("precision"):
            raise ZcptError(f"proxy '{self.proxy}' runs in fp32 only; drop --precision")

    def _check_supernet_semantics(self, space: Any) -> None:
        """Fill in and check ``mixed_op`` and ``nwot_codes`` (one line naming what is refused)."""
        from ..proxies import PROXIES
        from ..proxies.nwot import CODES

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


__all__ = ["SearchConfig"]
