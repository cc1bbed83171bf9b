"""Handwritten digits: the 28x28 grayscale input the CNNs are trained on, and how an uploaded image gets there.

Training data is scikit-learn's shipped 8x8 digits (ink = high values) upsampled to 28x28, or MNIST for users
with a network. Both are white ink on black, scaled to [0, 1]. Uploaded images are converted the same way;
a picture with a light background (dark ink on paper) is inverted first.
"""

from __future__ import annotations

import io

import numpy as np

from modelship_common.errors import InvalidInput

IMAGE_SIZE = 28
CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)
ACCEPTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF")


def upsample_8x8(images: np.ndarray) -> np.ndarray:
    """scikit-learn digits (n, 64) or (n, 8, 8) with values 0-16 -> float32 (n, 28, 28, 1) in [0, 1]."""
    from PIL import Image

    images = np.asarray(images, dtype=np.float32).reshape(-1, 8, 8) / 16.0
    out = np.empty((images.shape[0], IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for i, img in enumerate(images):
        pil = Image.fromarray(img, mode="F").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        out[i] = np.asarray(pil, dtype=np.float32)
    return np.clip(out, 0.0, 1.0)[..., None]


def to_model_input(gray: np.ndarray) -> np.ndarray:
    """A 2-D grayscale array with values 0-255 (any size) -> float32 (28, 28, 1) in [0, 1], ink bright."""
    from PIL import Image

    img = Image.fromarray(np.asarray(gray, dtype=np.uint8), mode="L")
    if img.size != (IMAGE_SIZE, IMAGE_SIZE):
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    # Training digits are bright ink on a dark background; invert photos of dark ink on paper.
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if float(border.mean()) > 0.5:
        arr = 1.0 - arr
    return arr[..., None]


def decode_image(data: bytes, max_bytes: int) -> np.ndarray:
    """Decode PNG/JPEG/GIF bytes into the model input, or raise :class:`InvalidInput` saying why."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidInput("empty image")
    if len(data) > max_bytes:
        raise InvalidInput(f"image is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in ACCEPTED_FORMATS:
                raise InvalidInput(f"unsupported image format {img.format}; send {', '.join(ACCEPTED_FORMATS)}")
            if img.width * img.height > 4096 * 4096:
                raise InvalidInput(f"image is {img.width}x{img.height} pixels; the limit is 4096x4096")
            img.seek(0)
            gray = np.asarray(img.convert("L"))
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"cannot decode image: {exc}") from exc
    return to_model_input(gray)


def encode_png(image: np.ndarray) -> bytes:
    """A (28, 28[, 1]) array in [0, 1] -> PNG bytes (used by tests, the demo and the benchmarks)."""
    from PIL import Image

    arr = np.clip(np.asarray(image, dtype=np.float32).reshape(IMAGE_SIZE, IMAGE_SIZE) * 255.0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()
