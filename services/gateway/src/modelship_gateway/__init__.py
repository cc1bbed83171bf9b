"""modelship gateway: REST API in front of the model servers; stores every prediction."""

__all__ = ["__version__"]
__version__ = "0.1.0"
