"""Errors shared by every modelship service."""


class InvalidInput(ValueError):
    """The caller sent something we cannot score; the message says what and is safe to return to the caller."""


class ModelNotFound(LookupError):
    """A model, version or alias that does not exist in the registry or is not served."""
