"""zcpt: zero-cost neural architecture search by perturbation (Zero-Cost-PT).

The public API, importable from here (loaded on first use, so ``import zcpt``
and ``zcpt --help`` stay cheap)::

    import zcpt

    config = zcpt.SearchConfig(space="nb201", proxy="nwot", proposals=10, validation=100)
    result = zcpt.search(config, out_dir="runs/nb201")     # a zcpt.SearchResult
    model = result.build_model(num_classes=10)             # a plain torch.nn.Module
    zcpt.list_methods(), zcpt.list_spaces(), zcpt.list_proxies()

    # which proxy to trust on your own data: K networks trained briefly, each proxy's ranking
    config = zcpt.CalibrationConfig(space="nb201", k=30, training=zcpt.BriefTraining(steps=200))
    report = zcpt.calibrate_proxies(config, "runs/calibration", data=(images, labels))

    # your own model as the search space (zcpt.spaces.user)
    layer = zcpt.Choice({"conv3": conv3, "conv5": conv5, "skip": nn.Identity()}, label="layer1")
    supernet = zcpt.Supernet.from_module(model_with_choices)
"""

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "search": "zcpt.search",  # the module is callable: zcpt.search(config, ...) runs a search
    "SearchConfig": "zcpt.search",
    "SearchResult": "zcpt.search",
    "list_methods": "zcpt.search",
    "register_method": "zcpt.search",
    "list_orders": "zcpt.search",
    "get_space": "zcpt.spaces",
    "list_spaces": "zcpt.spaces",
    "register_space": "zcpt.spaces",
    "list_proxies": "zcpt.proxies",
    "register_proxy": "zcpt.proxies",
    "score_network": "zcpt.proxies",
    "list_scorers": "zcpt.scoring",
    "get_benchmark": "zcpt.benchmarks",
    "list_benchmarks": "zcpt.benchmarks",
    "load_dataset": "zcpt.data",
    "as_image_dataset": "zcpt.data.inmemory",
    "make_budget": "zcpt.budget",
    "export_model": "zcpt.export",
    "load_trained": "zcpt.models",
    "build_report": "zcpt.report",
    "calibrate_proxies": "zcpt.study.calibration_run",
    "CalibrationConfig": "zcpt.study.calibration",
    "BriefTraining": "zcpt.training.brief",
    "Option": "zcpt.registry",
    "Choice": "zcpt.spaces.user",
    "InputChoice": "zcpt.spaces.user",
    "Supernet": "zcpt.spaces.base",
    "ZcptError": "zcpt.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    module_name = _API.get(name)
    if module_name is None:
        raise AttributeError(f"module 'zcpt' has no attribute '{name}'")
    import importlib

    module = importlib.import_module(module_name)
    return module if module_name == f"zcpt.{name}" else getattr(module, name)


def __dir__():
    return sorted(set(globals()) | set(_API))
