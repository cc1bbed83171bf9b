"""Errors the gateway core raises; the HTTP layer maps each to a status code (see ``app.py``).

:class:`modelship_common.errors.InvalidInput` (bad rows, 422) and :class:`modelship_common.errors.ModelNotFound`
(unknown model, 404) come from the shared library.
"""

from __future__ import annotations

from modelship_common.errors import InvalidInput


class InvalidImage(InvalidInput):
    """An uploaded file that is not a decodable PNG/JPEG/GIF image (400)."""


class PayloadTooLarge(InvalidInput):
    """An upload larger than ``max_upload_bytes`` (413)."""


class UpstreamError(RuntimeError):
    """A model server failed, was unreachable, or rejected the request.

    ``status_code`` is what the gateway answers: the model server's own 4xx (its message relayed), else 502.
    """

    def __init__(self, message: str, status_code: int = 502) -> None:
        super().__init__(message)
        self.status_code = status_code


class StoreUnavailable(RuntimeError):
    """The predictions store could not be written or read (503)."""


class DiscoveryUnavailable(RuntimeError):
    """The served models cannot be listed right now, e.g. the Kubernetes API server never answered (503)."""
