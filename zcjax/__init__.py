"""zcjax: zero-cost proxies for neural architecture search in JAX."""

__version__ = "0.1.0"
