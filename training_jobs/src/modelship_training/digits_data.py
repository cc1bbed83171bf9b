"""Digits training data: scikit-learn's shipped 8x8 digits upsampled to 28x28 (offline), or MNIST (network)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelship_common.schemas import digits
from modelship_training.fingerprint import arrays_fingerprint

log = logging.getLogger(__name__)

DigitsSource = Literal["sklearn", "mnist"]
DATASETS: tuple[str, ...] = ("sklearn", "mnist")


@dataclass(frozen=True)
class DigitsData:
    """float32 images (n, 28, 28, 1) in [0, 1] with int64 labels 0-9, split into train and test."""

    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fingerprint: str


def load(source: str = "sklearn", *, test_size: float = 0.2, seed: int = 42) -> DigitsData:
    """Load ``sklearn`` (1,797 images, stratified split of ``test_size``) or ``mnist`` (its own 60k/10k split)."""
    if source == "sklearn":
        return load_sklearn(test_size=test_size, seed=seed)
    if source == "mnist":
        return load_mnist()
    raise ValueError(f"unknown digits dataset {source!r}: choose one of {', '.join(DATASETS)}")


def load_sklearn(*, test_size: float = 0.2, seed: int = 42) -> DigitsData:
    """scikit-learn's 8x8 digits upsampled with :func:`modelship_common.schemas.digits.upsample_8x8`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    raw = load_digits()
    images = digits.upsample_8x8(raw.images)
    labels = np.asarray(raw.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, stratify=labels, random_state=seed
    )
    log.info("sklearn digits: %d train / %d test images (28x28)", len(y_train), len(y_test))
    return DigitsData("sklearn", x_train, y_train, x_test, y_test, arrays_fingerprint(images, labels))


def load_mnist() -> DigitsData:
    """MNIST through ``keras.datasets.mnist.load_data()`` (downloads once into ``~/.keras/datasets``)."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = _scale(x_train)
    x_test = _scale(x_test)
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    log.info("MNIST: %d train / %d test images", len(y_train), len(y_test))
    fingerprint = arrays_fingerprint(x_train, y_train, x_test, y_test)
    return DigitsData("mnist", x_train, y_train, x_test, y_test, fingerprint)


def _scale(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(-1, *digits.INPUT_SHAPE)
