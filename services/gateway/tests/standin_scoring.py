"""Deterministic scoring used by the stand-in model server (and by the tests to know the right answer).

Plain numpy, no kserve, so the test process can import it cheaply.
"""

from __future__ import annotations

import numpy as np

from modelship_common.schemas import digits, penguins

# Every encoded column gets its own weights, so a swapped one-hot column or a unit slip changes the answer.
_CENTER = np.array([44.0, 17.0, 200.0, 4200.0, 0.5, 0.5, 0.5, 0.5, 0.5], dtype=np.float64)
_SCALE = np.array([5.0, 2.0, 14.0, 800.0, 1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float64)
_WEIGHTS = np.array(
    [
        [-1.2, 1.5, 0.4],
        [0.9, 0.6, -1.4],
        [-0.8, -0.2, 1.6],
        [-0.3, -0.5, 1.1],
        [-0.4, -0.9, 1.3],
        [0.2, 1.1, -0.7],
        [0.8, -0.6, -0.5],
        [0.15, -0.05, -0.1],
        [-0.15, 0.05, 0.1],
    ],
    dtype=np.float64,
)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def score_tabular(matrix: np.ndarray) -> np.ndarray:
    """Encoded penguins rows [N, 9] (float32 as on the wire) -> float32 probabilities [N, 3]."""
    x = (np.asarray(matrix, dtype=np.float32).astype(np.float64) - _CENTER) / _SCALE
    return softmax(x @ _WEIGHTS).astype(np.float32)


def score_images(images: np.ndarray) -> np.ndarray:
    """Model inputs [N, 28, 28, 1] in [0, 1] -> float32 probabilities [N, 10] from ink per horizontal band."""
    arr = np.asarray(images, dtype=np.float64).reshape(-1, digits.IMAGE_SIZE, digits.IMAGE_SIZE)
    bands = np.array_split(arr, len(digits.CLASSES), axis=1)
    ink = np.stack([band.mean(axis=(1, 2)) for band in bands], axis=1)
    return softmax(ink * 8.0).astype(np.float32)


TABULAR_CLASSES = penguins.CLASSES
IMAGE_CLASSES = digits.CLASSES
