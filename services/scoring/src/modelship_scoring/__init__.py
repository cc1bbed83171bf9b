"""modelship scoring core: where the model servers are, how to call them, and the image fan-out; shared by the
gateway (HTTP) and the streaming worker (Kafka). Start with :func:`modelship_scoring.core.open_scoring`."""

__all__ = ["__version__"]
__version__ = "0.1.0"
