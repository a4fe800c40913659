import os

import pytest
import torch

# The suite runs on a 2-core CI machine: keep torch from oversubscribing it.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches that tests write go to a per-session temp dir, except the decoded
    CIFAR-10 cache, which is shared so the JPEGs are decoded once per machine."""
    monkeypatch.setenv("ZCPT_TEST", "1")
    yield
