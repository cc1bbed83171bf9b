"""The three digits CNNs (Keras 3), from small and quick to larger and more accurate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelship_common.schemas import digits


@dataclass(frozen=True)
class Variant:
    """A CNN architecture and how long to train it."""

    name: str
    build: Callable[[], Any]
    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3


def _input() -> Any:
    import keras

    return keras.Input(shape=digits.INPUT_SHAPE, name="image")


def _head(n_classes: int) -> Any:
    import keras

    return keras.layers.Dense(n_classes, activation="softmax", name="probabilities")


def build_fast() -> Any:
    """One 3x3 convolution (8 filters), 2x2 pooling, softmax: about 14 thousand weights."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            _input(),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            _head(len(digits.CLASSES)),
        ],
        name="digits_fast",
    )


def build_balanced() -> Any:
    """Two convolution blocks (16, 32 filters) and a 64-unit dense layer with dropout."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            _input(),
            layers.Conv2D(16, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(64, activation="relu"),
            _head(len(digits.CLASSES)),
        ],
        name="digits_balanced",
    )


def build_accurate() -> Any:
    """Three convolutions (32, 32, 64 filters), a 128-unit dense layer, and training-time augmentation.

    Small random shifts and rotations (active only while training; identity at inference) keep the larger
    network from memorising the 1,437 training images.
    """
    import keras
    from keras import layers

    return keras.Sequential(
        [
            _input(),
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant"),
            layers.RandomRotation(0.04, fill_mode="constant"),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.4),
            layers.Dense(128, activation="relu"),
            _head(len(digits.CLASSES)),
        ],
        name="digits_accurate",
    )


VARIANTS: dict[str, Variant] = {
    "digits-fast": Variant("digits-fast", build_fast, epochs=8),
    "digits-balanced": Variant("digits-balanced", build_balanced, epochs=12),
    "digits-accurate": Variant("digits-accurate", build_accurate, epochs=15),
}
