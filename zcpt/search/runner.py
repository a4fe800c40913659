"""``zcpt.search(config)``: check, claim the run directory, run the method, save the result.

:func:`search` is the Python API and ``zcpt search`` calls nothing else. It
does the same for every method of :data:`~zcpt.search.methods.METHODS`:
checks the configuration (one-line errors before anything is loaded or
written), checks and locks the output directory, opens or resumes its
progress file, calls the method, and writes ``result.json``.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Union

from ..device import resolve_device
from ..engine.executor import get_executor, parse_workers
from ..files import check_output_dir
from ..paths import cache_dir
from .config import SearchConfig
from .methods import METHODS, MethodRun
from .result import SearchResult
from .rundir import RunDir
from .workers import choose_workers


def search(
    config: SearchConfig,
    out_dir: Optional[os.PathLike] = None,
    resume: bool = False,
    workers: Union[int, str] = 1,
    ray_address: Optional[str] = None,
    data: Any = None,
) -> SearchResult:
    """Run ``config.method`` (default: Zero-Cost-PT); returns (and writes) its result.

    With ``resume=True`` finished work in ``out_dir`` is reused (a fresh run
    starts if there is none yet). Progress goes to the ``zcpt`` logger (see
    :mod:`zcpt.progress`): silent unless the caller enables INFO logging.

    ``data`` searches data handed over from Python instead of ``config.dataset``
    / ``config.data``: a torch ``Dataset``, a ``DataLoader``, ``(images, labels)``
    tensors or an :class:`~zcpt.data.ImageDataset` (see :mod:`zcpt.data.inmemory`);
    the config then records its name and a fingerprint of its contents.
    """
    dataset = None
    if data is not None:
        from ..data.inmemory import as_image_dataset, fingerprint

        dataset = as_image_dataset(data)
        config = dataclasses.replace(config, dataset=dataset.name, data=f"python:{fingerprint(dataset)}")
    config.check()
    method = METHODS.get(config.method)
    device = resolve_device(config.device)  # before the output directory is created
    if dataset is not None and parse_workers(workers) != 1:
        from ..errors import ZcptError

        raise ZcptError("data handed over from Python is searched in this process: use workers=1 "
                        "(or an image folder, which workers read themselves)")
    parse_workers(workers)
    cache_dir()  # an unusable cache directory is refused before any work, not at the first measurement
    out = check_output_dir(out_dir) if out_dir is not None else None
    defaults = SearchConfig(method=config.method, method_options=METHODS.entry(config.method).defaults())
    with RunDir(out, config.to_json(), defaults.to_json()) as rundir:  # held until result.json is written
        rundir.open(resume)
        with get_executor(workers, ray_address, device, auto=choose_workers) as executor:
            result = method(MethodRun(config, rundir, device, executor, dataset=dataset))
        return rundir.finish(result)


__all__ = ["search"]
