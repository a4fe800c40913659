"""zcpt: zero-cost neural architecture search by perturbation (Zero-Cost-PT)."""

__version__ = "0.1.0"
