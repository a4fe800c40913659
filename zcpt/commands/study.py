"""``zcpt study``: the paper's section-3 operation-scoring study on NAS-Bench-201.

Writes ``report.md``, ``initial.png``, ``progressive.png``, ``results.json``
(and ``toy.md`` with ``--toy``) into ``--out``. Defaults are the paper's
settings; the size flags make it affordable on a CPU.
"""
from __future__ import annotations

import argparse
import json
import logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..study.runner import DEFAULT_FUNCTIONS

    p.add_argument("--functions", nargs="+", default=list(DEFAULT_FUNCTIONS), metavar="FN",
                   help="scoring functions, SCORER or SCORER:PROXY, e.g. zc-pt:nwot disc-zc:synflow best-acc "
                        f"tenas darts (default: {' '.join(DEFAULT_FUNCTIONS)})")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3], help="seeds (default: 0 1 2 3)")
    p.add_argument("--batch-size", type=int, default=64, help="scoring minibatch size (default: 64)")
    p.add_argument("--dataset", default="cifar10", help="dataset of the minibatches (default: cifar10)")
    p.add_argument("--data", default=None, metavar="PATH", help="dataset location (default: the bundled CIFAR-10)")
    p.add_argument("--benchmark-data", default=None, metavar="DIR",
                   help="directory of the NB201 tables (default: <data root>/nb201)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--out", default="runs/study", metavar="DIR", help="output directory (default: runs/study)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    g = p.add_argument_group("zero-cost supernet")
    g.add_argument("--channels", type=int, default=16, help="supernet channels (default: 16)")
    g.add_argument("--cells-per-stage", type=int, default=5, help="supernet cells per stage (default: 5)")
    g.add_argument("--bn-mode", choices=("train", "eval"), default=None,
                   help="BN statistics for proxies that take it (default: the proxy's)")
    g.add_argument("--mixed-op", choices=("weighted", "sum"), default=None,
                   help="the supernet's mixed op (default: weighted, the paper's softmax(alpha))")
    g.add_argument("--nwot-codes", choices=("definition", "reference"), default=None,
                   help="nwot's activation sites (default: reference, the Zero-Cost-PT code's hooks)")
    g = p.add_argument_group("progressive setting")
    g.add_argument("--no-progressive", dest="progressive", action="store_false",
                   help="skip the progressive setting")
    g.add_argument("--progressive-choice", choices=("own", "best-acc"), default="own",
                   help="who picks each discretised edge's op: the function itself or best-acc (default: own)")
    g = p.add_argument_group("best-zc (proxy score of every standalone cell, cached)")
    g.add_argument("--best-zc-channels", type=int, default=None,
                   help="cell network channels (default: the benchmark's, 16)")
    g.add_argument("--best-zc-cells-per-stage", type=int, default=None,
                   help="cells per stage (default: the benchmark's, 5)")
    g.add_argument("--best-zc-batch-size", type=int, default=64, help="minibatch size (default: 64)")
    g.add_argument("--best-zc-seed", type=int, default=0, help="seed of weights and batch (default: 0)")
    g = p.add_argument_group("training-based functions (darts, disc-acc, darts-pt); defaults: DARTS-PT's")
    g.add_argument("--train-epochs", type=int, default=100, help="supernet training epochs (default: 100)")
    g.add_argument("--train-images", type=int, default=None,
                   help="training-split images used, halved into weight/alpha halves (default: all)")
    g.add_argument("--train-batch-size", type=int, default=64, help="training batch size (default: 64)")
    g.add_argument("--train-channels", type=int, default=16, help="trained supernet channels (default: 16)")
    g.add_argument("--train-cells-per-stage", type=int, default=5, help="trained supernet cells per stage (default: 5)")
    g.add_argument("--finetune-epochs", type=int, default=5, help="disc-acc fine-tuning epochs (default: 5)")
    g.add_argument("--retrain-epochs", type=int, default=5,
                   help="fine-tuning epochs after each progressive discretisation (default: 5)")
    g.add_argument("--eval-images", type=int, default=None,
                   help="validation images for disc-acc / darts-pt accuracy (default: the whole alpha half)")
    g = p.add_argument_group("tenas")
    g.add_argument("--tenas-ntk-samples", type=int, default=None, help="NTK batch samples (default: whole batch)")
    g.add_argument("--tenas-lr-samples", type=int, default=256, help="linear-region samples (default: 256)")
    g = p.add_argument_group("toy study (appendix)")
    g.add_argument("--toy", action="store_true", help="also run the toy chain study")
    g.add_argument("--toy-min-layers", type=int, default=1, help="smallest N (default: 1)")
    g.add_argument("--toy-max-layers", type=int, default=8, help="largest N (default: 8)")
    g.add_argument("--toy-width", type=int, default=8, help="toy network channels (default: 8)")
    g.add_argument("--toy-batch-size", type=int, default=16, help="toy minibatch size (default: 16)")
    g.add_argument("--toy-proxy", default="nwot", help="toy proxy (default: nwot)")


def run(args: argparse.Namespace) -> int:
    from ..files import RunLock, check_output_dir
    from ..study.report import write_outputs
    from ..study.runner import StudyConfig, run_study, to_json_ready

    config = StudyConfig(
        functions=args.functions, seeds=args.seeds, batch_size=args.batch_size, dataset=args.dataset,
        data=args.data, benchmark_data=args.benchmark_data, device=args.device, channels=args.channels,
        cells_per_stage=args.cells_per_stage, bn_mode=args.bn_mode, mixed_op=args.mixed_op,
        nwot_codes=args.nwot_codes, progressive=args.progressive,
        progressive_choice=args.progressive_choice, best_zc_channels=args.best_zc_channels,
        best_zc_cells_per_stage=args.best_zc_cells_per_stage, best_zc_batch_size=args.best_zc_batch_size,
        best_zc_seed=args.best_zc_seed, train_epochs=args.train_epochs, train_images=args.train_images,
        train_batch_size=args.train_batch_size, train_channels=args.train_channels,
        train_cells_per_stage=args.train_cells_per_stage, finetune_epochs=args.finetune_epochs,
        retrain_epochs=args.retrain_epochs, eval_images=args.eval_images,
        tenas_ntk_samples=args.tenas_ntk_samples, tenas_lr_samples=args.tenas_lr_samples, toy=args.toy,
        toy_min_layers=args.toy_min_layers, toy_max_layers=args.toy_max_layers, toy_width=args.toy_width,
        toy_batch_size=args.toy_batch_size, toy_proxy=args.toy_proxy,
    )
    config.check()  # name errors before any data is loaded
    out = check_output_dir(args.out)  # before hours of work, not after
    with RunLock(out):
        result = run_study(config, log=logging.getLogger("zcpt.study").info, progress=None)
        paths = write_outputs(result, out)
    if args.json:
        print(json.dumps(to_json_ready(result), indent=1))
        return 0
    summary = result["summary"]["functions"]
    width = max(len(label) for label in result["functions"])
    print(f"{'function':<{width}}  rho(best-acc)    rho(avg-acc)     pick error  rank")
    for label in result["functions"]:
        e = summary[label]
        b, a, p = e["rho_best-acc"], e["rho_avg-acc"], e["pick"]
        print(f"{label:<{width}}  {b['mean']:+.3f} ± {b['std']:.3f}  {a['mean']:+.3f} ± {a['std']:.3f}  "
              f"{p['error']:9.2f}%  {p['rank']}")
    print(f"report: {paths['report']}")
    return 0
