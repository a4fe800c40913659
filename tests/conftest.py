import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# The suite runs on a 2-core CI machine: keep torch from oversubscribing it.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Tests that decode the bundled CIFAR-10 share the user cache (~/.cache/zcpt or
# ZCPT_CACHE_DIR), so the JPEGs are decoded once per machine; tests that write
# their own data point ZCPT_CACHE_DIR at a temporary directory themselves.


@pytest.fixture(scope="session")
def make_image_folder(tmp_path_factory):
    """``make(classes, per_class, size)`` writes an image folder of random PNGs
    (``train/class<c>/<k>.png``) and returns its root."""

    def make(classes: int, per_class: int, size: int) -> Path:
        root = tmp_path_factory.mktemp("imgs")
        rng = np.random.default_rng(0)
        for c in range(classes):
            folder = root / "train" / f"class{c}"
            folder.mkdir(parents=True)
            for k in range(per_class):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{k}.png")
        return root

    return make


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks gain nothing from intra-op threads, which on a shared 2-core
    machine only wait for each other: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def always_plan(monkeypatch):
    """Fused plans for every batch and every new state: tests of the plans must not
    fall back to the plain forward because tiny networks build slower than they run."""
    from zcpt.engine import fusion

    monkeypatch.setattr(fusion, "MIN_BATCH", 2)
    monkeypatch.setattr(fusion, "plans_pay_at_first_use", lambda *args, **kwargs: True)
