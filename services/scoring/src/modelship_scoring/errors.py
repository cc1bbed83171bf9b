"""Errors the scoring core raises. The gateway maps each to a status code (``modelship_gateway.app``); the
streaming worker retries a batch on :class:`TransientFailure`.

:class:`modelship_common.errors.InvalidInput` (bad rows, 422) and :class:`modelship_common.errors.ModelNotFound`
(unknown model, 404) come from the shared library.
"""

from __future__ import annotations


class UpstreamError(RuntimeError):
    """A model server failed, was unreachable, or rejected the request.

    ``status_code`` is what the gateway answers: the model server's own 4xx (its message relayed), else 502.
    """

    def __init__(self, message: str, status_code: int = 502) -> None:
        super().__init__(message)
        self.status_code = status_code


class DiscoveryUnavailable(RuntimeError):
    """The served models cannot be listed right now, e.g. the Kubernetes API server never answered (503)."""


class TransientFailure(RuntimeError):
    """The batch could not be finished for a reason that may pass (model server, database, store); retry it."""


class NoImageModels(TransientFailure):
    """No ready image model is served right now."""
