"""Zero-Cost-PT on your own PyTorch model: a small ResNet with open choices.

The model below is plain PyTorch; ``zcpt.Choice`` marks where one of several
blocks goes and ``zcpt.InputChoice`` which earlier outputs a stage sums. The
search discretises those choices on the untrained model, without training,
and hands back the model with each choice replaced by its chosen block::

    python examples/make_image_folder.py --out runs/images --per-class 100
    python examples/search_own_model.py --data runs/images --out runs/own-model

The same search from the command line (``--space python:FILE:FUNCTION``)::

    zcpt search --space python:examples/search_own_model.py:build_model \\
        --dataset imagefolder --data runs/images -N 4 -V 10 --batch-size 32 --out runs/own-model-cli
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import zcpt
from zcpt.data import load_dataset
from zcpt.log import cli_logging
from zcpt.search import SearchConfig, search
from zcpt.spaces import get_space


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out))


class Basic(nn.Module):
    """ResNet basic block with a k x k kernel (residual inside)."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c, k), nn.ReLU(), conv_bn(c, c, k))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1 (residual inside)."""

    def __init__(self, c: int, expand: int = 4) -> None:
        super().__init__()
        h = c * expand
        self.body = nn.Sequential(conv_bn(c, h, 1), nn.ReLU(), conv_bn(h, h, 3, groups=h), nn.ReLU(), conv_bn(h, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def block_choice(c: int, label: str) -> zcpt.Choice:
    return zcpt.Choice({
        "basic3": Basic(c, 3),
        "basic5": Basic(c, 5),
        "mbconv": InvertedResidual(c),
        "skip": nn.Identity(),
    }, label=label)


class Stage(nn.Module):
    """Downsample, two searchable blocks, and the sum of two of the three outputs."""

    def __init__(self, c_in: int, c_out: int, stride: int, name: str) -> None:
        super().__init__()
        self.down = nn.Sequential(conv_bn(c_in, c_out, 3, stride), nn.ReLU())
        self.block1 = block_choice(c_out, f"{name}.block1")
        self.block2 = block_choice(c_out, f"{name}.block2")
        self.merge = zcpt.InputChoice(3, n_chosen=2, label=f"{name}.merge")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.down(x)
        x1 = self.block1(x0)
        x2 = self.block2(x1)
        return self.merge([x0, x1, x2])


class SmallResNet(nn.Module):
    def __init__(self, num_classes: int = 10, widths=(16, 32, 64)) -> None:
        super().__init__()
        stages, c = [], 3
        for i, w in enumerate(widths):
            stages.append(Stage(c, w, 1 if i == 0 else 2, f"stage{i + 1}"))
            c = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.stages(x)), 1))


def build_model(num_classes: int = 10) -> nn.Module:
    """The search space: zcpt calls this after seeding torch (see zcpt.spaces.user)."""
    return SmallResNet(num_classes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="image folder: train/<class>/*.png (optional test/)")
    p.add_argument("--proxy", default="nwot", help="zero-cost proxy or ensemble, e.g. ensemble:nwot+synflow")
    p.add_argument("-N", "--proposals", type=int, default=4)
    p.add_argument("-V", "--validation", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/own-model")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()

    space_name = f"python:{Path(__file__).resolve()}:build_model"
    config = SearchConfig(space=space_name, proxy=args.proxy, order="random", proposals=args.proposals,
                          validation=args.validation, batch_size=args.batch_size, seed=args.seed,
                          dataset="imagefolder", data=args.data)
    with cli_logging():  # progress lines on stderr, as the zcpt command shows them
        result = search(config, out_dir=args.out, resume=args.resume)
    space = get_space(space_name)
    genotype = space.parse(result["genotype"])
    for label, choice in genotype.items():
        print(f"{label:<16} {choice if isinstance(choice, str) else 'sum of inputs ' + str(list(choice))}")
    print(f"{len(result['candidates'])} distinct candidates of {args.proposals} proposals, "
          f"{result['seconds']['total']:.0f} s")

    # The found model: the user's SmallResNet with plain modules where the choices were.
    torch.manual_seed(args.seed)
    model = result.build_model(num_classes=load_dataset("imagefolder", args.data).num_classes).eval()
    print(f"{type(model).__name__}: {sum(p.numel() for p in model.parameters()) / 1e6:.3f} M parameters")
    example = torch.zeros(1, 3, 32, 32)
    exported = torch.export.export(model, (example,))
    torch.export.save(exported, Path(args.out) / "model.pt2")
    print(f"exported to {Path(args.out) / 'model.pt2'} (torch.export; load with torch.export.load)")


if __name__ == "__main__":
    main()
