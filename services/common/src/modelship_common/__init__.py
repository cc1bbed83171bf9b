"""Shared library for modelship services: settings, dataset schemas, MLflow registry helpers, the predictions store."""

__all__ = ["__version__"]
__version__ = "0.1.0"
