import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from modelship_common.errors import InvalidInput
from modelship_common.schemas import digits


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return digits.upsample_8x8(load_digits().data[:5])


def test_upsample_shape_and_range(sample):
    assert sample.shape == (5, 28, 28, 1)
    assert sample.dtype == np.float32
    assert sample.min() >= 0.0 and sample.max() <= 1.0
    # Ink stays where it was: the 8x8 centre is brighter than the border.
    assert sample[:, 10:18, 10:18].mean() > sample[:, :3].mean()


def test_png_round_trip_is_within_one_grey_level(sample):
    decoded = digits.decode_image(digits.encode_png(sample[0]), max_bytes=1 << 20)
    assert decoded.shape == digits.INPUT_SHAPE
    assert np.abs(decoded - sample[0]).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("fmt", ["JPEG", "GIF"])
def test_jpeg_and_gif_are_accepted(sample, fmt):
    buf = io.BytesIO()
    Image.fromarray((sample[1, :, :, 0] * 255).astype(np.uint8), mode="L").save(buf, format=fmt)
    decoded = digits.decode_image(buf.getvalue(), max_bytes=1 << 20)
    assert np.abs(decoded - sample[1]).mean() < 0.05


def test_dark_ink_on_paper_is_inverted(sample):
    paper = (255 - sample[2, :, :, 0] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(paper, mode="L").resize((112, 112)).convert("RGB").save(buf, format="PNG")
    decoded = digits.decode_image(buf.getvalue(), max_bytes=1 << 20)
    assert np.abs(decoded - sample[2]).mean() < 0.05


def test_bad_images_are_rejected_with_a_reason(sample):
    with pytest.raises(InvalidInput, match="empty image"):
        digits.decode_image(b"", max_bytes=100)
    with pytest.raises(InvalidInput, match="cannot decode image"):
        digits.decode_image(b"definitely not an image", max_bytes=100)
    png = digits.encode_png(sample[0])
    with pytest.raises(InvalidInput, match=f"image is {len(png)} bytes; the limit is 10 bytes"):
        digits.decode_image(png, max_bytes=10)
    with pytest.raises(InvalidInput, match="cannot decode image"):
        digits.decode_image(png[: len(png) // 2], max_bytes=1 << 20)
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, format="BMP")
    with pytest.raises(InvalidInput, match="unsupported image format BMP"):
        digits.decode_image(buf.getvalue(), max_bytes=1 << 20)
