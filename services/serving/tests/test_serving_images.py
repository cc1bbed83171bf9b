"""digits-fast (Keras through mlflow.tensorflow) in-process: V1 and V2 image inputs and bad images."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from kserve.errors import InvalidInput
from PIL import Image

from modelship_common.schemas import digits
from services.serving.tests.serving_helpers import call, v2_body, v2_outputs

# A real MLflow server with the digits model logged into it.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    from sklearn.datasets import load_digits

    x8, _ = load_digits(return_X_y=True)
    # What a PNG round trip keeps: 8-bit grey levels.
    return np.round(digits.upsample_8x8(x8[300:304]) * 255.0) / 255.0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_b64(image: np.ndarray) -> str:
    return b64(digits.encode_png(image))


def test_native_keras_model_loaded(digits_model, mlflow_registry):
    assert digits_model.predictor.platform == "mlflow_tensorflow"
    assert digits_model.version == mlflow_registry.digits_version
    assert digits_model.predictor.classes == digits.CLASSES
    assert digits_model.get_input_types() == [{"name": "images", "datatype": "BYTES", "shape": [-1]}]


def test_v1_b64_image_bytes_and_arrays_agree(digits_model, images):
    by_b64 = call(digits_model, {"instances": [{"b64": png_b64(img)} for img in images]})
    by_tf_style = call(digits_model, {"instances": [{"image_bytes": {"b64": png_b64(img)}} for img in images]})
    by_array = call(digits_model, {"instances": images[..., 0].tolist()})
    assert by_b64["model_name"] == "digits-fast"
    assert len(by_b64["predictions"]) == 4
    assert by_tf_style["predictions"] == by_b64["predictions"]
    for a, b in zip(by_array["predictions"], by_b64["predictions"], strict=True):
        assert a["class_id"] == b["class_id"]
        assert a["class_name"] == digits.CLASSES[a["class_id"]]
        for name in digits.CLASSES:
            assert a["probabilities"][name] == pytest.approx(b["probabilities"][name], abs=1e-6)


def test_v2_bytes_and_fp32_agree(digits_model, images):
    body = {"inputs": [{"name": "images", "shape": [4], "datatype": "BYTES", "data": [png_b64(i) for i in images]}]}
    by_bytes = v2_outputs(call(digits_model, body))
    by_tensor = v2_outputs(call(digits_model, v2_body(images.astype(np.float32))))
    assert by_bytes["class_id"]["data"] == by_tensor["class_id"]["data"]
    assert by_bytes["class_name"]["data"] == [digits.CLASSES[i] for i in by_bytes["class_id"]["data"]]
    assert by_bytes["probabilities"]["shape"] == [4, 10]
    np.testing.assert_allclose(by_bytes["probabilities"]["data"], by_tensor["probabilities"]["data"], atol=1e-6)


@pytest.fixture(scope="module")
def one_of_each_digit() -> tuple[np.ndarray, list[int]]:
    """The first held-out image (the model is fit on the first 300) of each digit 0-9, and the digits."""
    from sklearn.datasets import load_digits

    x8, y = load_digits(return_X_y=True)
    first = [300 + int(np.flatnonzero(y[300:] == d)[0]) for d in range(10)]
    return np.round(digits.upsample_8x8(x8[first]) * 255.0) / 255.0, list(range(10))


def test_dark_ink_on_white_paper_is_inverted(digits_model, one_of_each_digit):
    """White-on-black (as trained) and black-on-white versions of ten different digits get the same class each,
    and the ten digits do not all get one class: a constant predictor (or a server that answers one class
    whatever the picture) fails here."""
    images, labels = one_of_each_digit
    light = call(digits_model, {"instances": [{"b64": png_b64(1.0 - image)} for image in images]})
    dark = call(digits_model, {"instances": [{"b64": png_b64(image)} for image in images]})
    light_classes = [p["class_id"] for p in light["predictions"]]
    dark_classes = [p["class_id"] for p in dark["predictions"]]
    seen = f"digits {labels}: white-on-black -> {dark_classes}, black-on-white -> {light_classes}"
    assert light_classes == dark_classes, seen
    assert len(set(dark_classes)) >= 5, seen
    assert sum(c == d for c, d in zip(dark_classes, labels, strict=True)) >= 5, seen


def _encoded(fmt: str, size: int = 28, noise: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size, size), dtype=np.uint8) if noise else np.zeros((size, size), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([{"b64": b64(b"definitely not an image")}], "instance 0: cannot decode image"),
        ([{"b64": "%%% not base64 %%%"}], "instance 0: b64 is not valid base64"),
        ([{"b64": b64(_encoded("BMP"))}], "unsupported image format BMP"),
        ([{"b64": b64(_encoded("PNG", size=400, noise=True))}], "the limit is 20000 bytes"),
        ([{"b64": ""}], "empty image"),
        ([{"b64": 123}], "b64 must be a base64 string"),
        ([{"url": "http://example/x.png"}], "got keys ['url']"),
        ([[[0.5] * 5] * 5], "expected a 28x28 (or 28x28x1) array"),
        ([[[2.0] * 28] * 28], "pixel values must be finite and in [0, 1]"),
        ([[["a"] * 28] * 28], "pixel arrays must hold only numbers"),
        (["abc"], "expected an object with b64 or a 28x28 array"),
        ([], "no instances"),
    ],
)
def test_v1_bad_images(digits_model, instances, message):
    with pytest.raises(InvalidInput) as info:
        call(digits_model, {"instances": instances})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (v2_body(np.zeros((2, 28, 28, 1), np.int32), datatype="INT32"), "unsupported datatype INT32"),
        (v2_body(np.zeros((2, 14, 14, 1), np.float32)), "expected shape [n, 28, 28, 1]"),
        (v2_body(np.full((1, 28, 28, 1), -1.0, np.float32)), "in [0, 1]"),
        (
            {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "BYTES", "data": [b64(_encoded("PNG"))]}]},
            "BYTES image input must have shape [n]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [b64(b"GIF89a garbage")]}]},
            "cannot decode image",
        ),
    ],
)
def test_v2_bad_images(digits_model, body, message):
    with pytest.raises(InvalidInput) as info:
        call(digits_model, body)
    assert message in str(info.value)


def test_oversized_images_are_counted_separately(digits_model):
    version = digits_model.version
    counter = digits_model.metrics.errors.labels("digits-fast", version, "image_size")
    before = counter._value.get()
    with pytest.raises(InvalidInput):
        call(digits_model, {"instances": [{"b64": b64(_encoded("PNG", size=400, noise=True))}]})
    assert counter._value.get() == before + 1
