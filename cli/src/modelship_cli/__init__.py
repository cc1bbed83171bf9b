"""The ``modelship`` command."""
