"""The Zero-Cost-PT search (Algorithm 1 of Xiang et al.)."""
from .orders import ORDERS, list_orders  # noqa: F401
from .runner import SearchConfig, describe, search  # noqa: F401
