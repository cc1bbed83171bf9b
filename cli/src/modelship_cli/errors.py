"""The one error the command reports: a readable line on stderr and exit code 1 (never a traceback)."""

from __future__ import annotations


class CliError(Exception):
    """Something the user can fix or must know (unknown model, nothing to roll back, a server unreachable)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's text (the class name if it has none), cut to ``limit`` characters."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
