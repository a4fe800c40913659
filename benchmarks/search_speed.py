"""Time one Zero-Cost-PT search on this machine and check the fast path.

Prints, per stage, the seconds, the number of network forward passes and the
seconds per forward pass. With ``--compare`` it also runs the straightforward
computation (contiguous NCHW tensors) for the same seed and checks that the
architecture found is the same.

    python benchmarks/search_speed.py                       # paper config: N=10 V=100 batch 256
    python benchmarks/search_speed.py -N 2 -V 5 --compare   # quick check
    python benchmarks/search_speed.py --micro               # one nwot score: textbook vs zcpt

``--micro`` times single nwot scores (full NB201 supernet and one candidate
network) computed the textbook way (NCHW tensors, every ReLU hooked, two
float64 GEMMs per ReLU, as the reference code) and the way zcpt does it.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import torch

from zcpt.log import cli_logging
from zcpt.search import SearchConfig, search


def run(config: SearchConfig) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = search(config, out_dir=tmp)
        result["wall"] = time.perf_counter() - t0
    return result


def report(label: str, result: dict) -> None:
    sec, fwd = result["seconds"], result["forward_passes"]
    print(f"[{label}] genotype {result['genotype']}")
    for stage in ("proposal", "validation"):
        n = max(fwd[stage], 1)
        print(f"[{label}] {stage:<10} {sec[stage]:8.1f} s  {fwd[stage]:5d} forwards  {sec[stage] / n:6.3f} s/forward")
    print(f"[{label}] total      {result['wall']:8.1f} s")


def textbook_nwot(net, x) -> float:
    """K = sum_ReLU c c^T + (1-c)(1-c)^T in float64, one hook per ReLU call."""
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64)

    def hook(module, inputs, output):
        c = (inputs[0] > 0).reshape(len(x), -1).double()
        kernel.add_(c @ c.T).add_((1 - c) @ (1 - c).T)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    net.eval()
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return float(torch.linalg.slogdet(kernel).logabsdet)


def micro(batch_size: int, repeats: int = 3) -> dict:
    from zcpt.data import BatchSource, load_dataset
    from zcpt.proxies import score_network
    from zcpt.spaces import get_space

    space = get_space("nb201")
    x, y = BatchSource(load_dataset("cifar10"), "train", batch_size, seed=0).batch(0)
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    torch.manual_seed(0)
    nets = {"supernet": space.build_supernet(), "candidate": space.build_network(space.parse(cell))}
    out = {}
    for name, net in nets.items():
        def timed(fn):
            fn()
            t0 = time.perf_counter()
            for _ in range(repeats):
                value = fn()
            return (time.perf_counter() - t0) / repeats, value

        t_plain, v_plain = timed(lambda: textbook_nwot(net, x))
        net_cl = net.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        t_fast, v_fast = timed(lambda: score_network("nwot", net_cl, (x_cl, y)))
        net.to(memory_format=torch.contiguous_format)
        print(f"[micro] {name:<9} batch {batch_size}: textbook {t_plain:6.2f} s  zcpt {t_fast:6.2f} s  "
              f"speed-up {t_plain / t_fast:4.1f}x  (scores {v_plain:.4f} / {v_fast:.4f})")
        out[name] = {"textbook_s": t_plain, "zcpt_s": t_fast, "textbook": v_plain, "zcpt": v_fast}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="nb201")
    p.add_argument("--proxy", default="nwot")
    p.add_argument("--order", default="random")
    p.add_argument("-N", "--proposals", type=int, default=10)
    p.add_argument("-V", "--validation", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compare", action="store_true", help="also run the straightforward NCHW computation")
    p.add_argument("--micro", action="store_true", help="only time single nwot scores, textbook vs zcpt")
    p.add_argument("--json", help="write the numbers to this file")
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    if args.micro:
        numbers = micro(args.batch_size)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(numbers, f, indent=2)
        return
    common = dict(space=args.space, proxy=args.proxy, order=args.order, proposals=args.proposals,
                  validation=args.validation, batch_size=args.batch_size, seed=args.seed, device=args.device)
    numbers = {"config": common}
    fast = run(SearchConfig(**common, channels_last=True))
    report("fast", fast)
    numbers["fast"] = {k: fast[k] for k in ("genotype", "seconds", "forward_passes", "wall")}
    if args.compare:
        plain = run(SearchConfig(**common, channels_last=False))
        report("plain", plain)
        same = plain["genotype"] == fast["genotype"]
        print(f"same architecture as the straightforward computation: {same}")
        numbers["plain"] = {k: plain[k] for k in ("genotype", "seconds", "forward_passes", "wall")}
        numbers["same_architecture"] = same
    if args.json:
        with open(args.json, "w") as f:
            json.dump(numbers, f, indent=2)


if __name__ == "__main__":
    with cli_logging():  # progress bar on a terminal, a line every 30 s in a log
        main()
