"""Errors shared by every modelship service."""


class InvalidInput(ValueError):
    """The caller sent something we cannot score; the message says what and is safe to return to the caller."""

    #: A short label of what was wrong (a metrics label, e.g. ``features`` or ``shape``); set by the raiser.
    reason: str | None = None


class ModelNotFound(LookupError):
    """A model, version or alias that does not exist in the registry or is not served."""
