"""Dataset fingerprints: a sha256 that changes exactly when the training data changes."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def frame_fingerprint(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> str:
    """sha256 over ``columns`` of ``frame``, independent of row order and of the database's row ids.

    Each row is rendered as canonical text (floats with 9 significant digits, so SQLite and PostgreSQL round
    trips agree), the rows are sorted, and the header plus rows are hashed.
    """
    digest = hashlib.sha256()
    digest.update(("\t".join(columns) + "\n").encode())
    lines = sorted(
        "\t".join(_canonical(value) for value in row) for row in frame[list(columns)].itertuples(index=False)
    )
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def arrays_fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over the dtype, shape and bytes of each array (for image datasets)."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def _canonical(value: object) -> str:
    if isinstance(value, float | np.floating):
        return format(float(value), ".9g")
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value)
