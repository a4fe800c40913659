"""Zero-cost proxies (higher = better), one small module each.

Every module of this package is found on the first lookup of ``PROXIES`` (a new
proxy is one new file); ``first`` in :mod:`zcpt.proxies.base` is the order
``zcpt list proxies`` prints them in.
"""
from .base import (  # noqa: F401
    PROXIES, Batch, LossFn, ProxySpec, bn_mode_option, get_proxy, list_proxies, proxy_needs_grad,
    register_proxy, require_finite, score_network,
)
