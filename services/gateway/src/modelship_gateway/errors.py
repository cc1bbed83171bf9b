"""Errors the gateway's HTTP side raises; the HTTP layer maps each to a status code (see ``app.py``).

:class:`modelship_common.errors.InvalidInput` (bad rows, 422) and :class:`modelship_common.errors.ModelNotFound`
(unknown model, 404) come from the shared library; :class:`modelship_scoring.errors.UpstreamError` (a model
server's 4xx, else 502) and :class:`modelship_scoring.errors.DiscoveryUnavailable` (503) from the scoring core.
"""

from __future__ import annotations

from modelship_common.errors import InvalidInput


class InvalidImage(InvalidInput):
    """An uploaded file that is not a decodable PNG/JPEG/GIF image (400)."""


class PayloadTooLarge(InvalidInput):
    """An upload larger than ``max_upload_bytes`` (413)."""


class StoreUnavailable(RuntimeError):
    """The predictions store could not be written or read (503)."""
