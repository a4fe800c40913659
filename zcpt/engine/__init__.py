"""The compute engine: exact nwot kernels, fused inference plans, precision,
per-machine measured choices, and (optional) scale-out.

Nothing here changes what a search computes: every fast path is either exact
(integer kernels, chosen by measurement) or opt-in (bf16).
"""
