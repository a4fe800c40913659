import os

import torch

# The suite runs on a 2-core CI machine: keep torch from oversubscribing it.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Tests that decode the bundled CIFAR-10 share the user cache (~/.cache/zcpt or
# ZCPT_CACHE_DIR), so the JPEGs are decoded once per machine; tests that write
# their own data point ZCPT_CACHE_DIR at a temporary directory themselves.
