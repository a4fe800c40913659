"""Zero-cost proxies (higher = better), one small module each.

Import order below is the order ``zcpt list proxies`` prints.
"""
from .base import (  # noqa: F401
    PROXIES, Batch, LossFn, bn_mode_option, get_proxy, list_proxies, proxy_needs_grad,
    register_proxy, require_finite, score_network,
)
from . import (  # noqa: F401,E402  (each module registers its proxies)
    nwot, synflow, snip, grasp, fisher, grad_norm, jacob_cov, zen, tenas, counts, zico, meco, swap, az_nas,
    ensemble,  # the ensemble:A+B family, after the proxies it combines
    calibrated,  # calibrated:FILE, an ensemble read from a calibration file
)
