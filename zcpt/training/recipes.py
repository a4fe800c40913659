"""Training recipes: :class:`TrainConfig` and the named settings.

``standard`` is the DARTS evaluation recipe for CIFAR-10 (Liu et al. 2019):
20 cells, 36 initial channels, auxiliary head (weight 0.4), cutout 16, drop
path 0.2, SGD lr 0.025 cosine-annealed to 0, momentum 0.9, weight decay 3e-4,
gradient clipping 5, batch 96, 600 epochs. ``mobile`` is the smaller network
RobustDARTS and Zero-Cost-PT train on CIFAR-100 and SVHN (8 cells, 16
channels); every other value is the standard one.

``imagenet`` is the ProxylessNAS ImageNet recipe the paper trains its
MobileNet-like architectures with (the default for the ``mobilenet`` space):
224 x 224 inputs, random resized crops (area 8-100 %) and flips, colour jitter
0.4 (brightness, contrast, saturation; hue 0.1, ProxylessNAS's "strong"
distortion), label smoothing 0.1, SGD with Nesterov momentum 0.9, lr 0.5 at
batch 1024 cosine-annealed over 300 epochs, weight decay 4e-5 but none on
batch-norm parameters (ProxylessNAS's ``no_decay_keys=bn``), no cutout,
auxiliary head, drop path or gradient clipping; test images are centre-cropped
to 87.5 % of the side ("resize 256, crop 224") and resized.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from ..errors import MAX_CELLS, MAX_CHANNELS, ZcptError, check_image_side, check_int, check_seed

#: Values each setting changes relative to the TrainConfig defaults.
SETTINGS: Dict[str, Dict[str, Any]] = {
    "standard": {},
    "mobile": {"layers": 8, "channels": 16},
    # NAS-Bench-201's own recipe (Dong & Yang 2020): C=16, 5 cells per stage ("layers"), SGD with
    # Nesterov momentum, lr 0.1 cosine-annealed over 200 epochs, batch 256, weight decay 5e-4
    "nb201": {
        "layers": 5, "channels": 16, "auxiliary_weight": 0.0, "cutout": 0, "drop_path": 0.0, "lr": 0.1,
        "nesterov": True, "weight_decay": 5e-4, "grad_clip": 0.0, "batch_size": 256, "epochs": 200,
    },
    "imagenet": {
        "layers": None, "channels": None, "auxiliary_weight": 0.0, "cutout": 0, "drop_path": 0.0,
        "lr": 0.5, "momentum": 0.9, "nesterov": True, "weight_decay": 4e-5, "bn_weight_decay": False,
        "grad_clip": 0.0, "batch_size": 1024, "epochs": 300, "label_smoothing": 0.1, "color_jitter": 0.4,
        "resized_crop": 0.08, "test_crop": 0.875, "image_size": 224,
    },
}
#: The setting a space is trained with unless one is named (others: "standard").
DEFAULT_SETTINGS: Dict[str, str] = {"mobilenet": "imagenet", "nb201": "nb201"}


def default_setting(space: str) -> str:
    return DEFAULT_SETTINGS.get(space, "standard")

# Fields that do not change what is trained; ignored when comparing a resumed config.
_INFORMATIONAL = ("setting",)


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of one training run (all recorded in the checkpoint)."""

    dataset: str = "cifar10"
    setting: str = "standard"
    layers: Optional[int] = 20  # DARTS networks; None: the space has no such option
    channels: Optional[int] = 36
    auxiliary_weight: float = 0.4
    cutout: int = 16
    drop_path: float = 0.2
    lr: float = 0.025
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 3e-4
    bn_weight_decay: bool = True  # False: no weight decay on batch-norm weights and biases
    grad_clip: float = 5.0
    batch_size: int = 96
    epochs: int = 600
    label_smoothing: float = 0.0
    color_jitter: float = 0.0  # 0: off (see zcpt.data.Augmentation)
    resized_crop: float = 0.0  # smallest area of a random resized crop; 0: pad-crop-flip instead
    test_crop: float = 1.0  # fraction of the side kept around the centre of test images
    image_size: Optional[int] = None  # train and test at image_size x image_size; None: the data's size
    widths: Optional[str] = None  # mobilenet backbone (preset or 9 integers); None: the space's
    dropout: float = 0.0  # before the classifier (mobilenet)
    seed: int = 0
    train_images: Optional[int] = None
    test_images: Optional[int] = None
    max_steps: Optional[int] = None

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_setting(cls, setting: str = "standard", **overrides: Any) -> "TrainConfig":
        """The preset ``setting`` with ``overrides`` applied; ``None`` values are ignored,
        so unset command-line flags keep the preset's value."""
        if setting not in SETTINGS:
            raise ZcptError(f"unknown training setting '{setting}'; choose from: {', '.join(SETTINGS)}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ZcptError(f"unknown training option(s): {', '.join(unknown)}")
        values: Dict[str, Any] = dict(SETTINGS[setting])
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["setting"] = setting
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def use_auxiliary(self) -> bool:
        return self.auxiliary_weight > 0

    def differences(self, other: "TrainConfig") -> List[str]:
        """``field: mine != theirs`` for every field that changes the training."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [
            f"{name}: {mine[name]!r} != {theirs[name]!r}"
            for name in mine if name not in _INFORMATIONAL and mine[name] != theirs[name]
        ]

    def validate(self) -> None:
        def non_negative(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ZcptError(f"training option {name} must be a non-negative number, got {value!r}")

        for name in ("batch_size", "epochs"):
            check_int(getattr(self, name), f"training option {name}")
        check_int(self.layers, "training option layers", optional=True, maximum=MAX_CELLS)
        check_int(self.channels, "training option channels", optional=True, maximum=MAX_CHANNELS)
        for name in ("train_images", "test_images", "max_steps"):
            check_int(getattr(self, name), f"training option {name}", optional=True)
        if self.image_size is not None:
            check_image_side(self.image_size, "training option image_size")
        for name in ("auxiliary_weight", "lr", "momentum", "weight_decay", "grad_clip"):
            non_negative(name)
        for name in ("label_smoothing", "color_jitter", "resized_crop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ZcptError(f"training option {name} must be in [0, 1], got {value!r}")
        if isinstance(self.test_crop, bool) or not isinstance(self.test_crop, (int, float)) \
                or not 0.0 < self.test_crop <= 1.0:
            raise ZcptError(f"training option test_crop must be in (0, 1], got {self.test_crop!r}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ZcptError(f"training option dropout must be in [0, 1), got {self.dropout!r}")
        check_int(self.cutout, "training option cutout", minimum=0)
        check_seed(self.seed, "training option seed")
        if not (isinstance(self.drop_path, (int, float)) and 0.0 <= self.drop_path < 1.0):
            raise ZcptError(f"training option drop_path must be in [0, 1), got {self.drop_path!r}")
