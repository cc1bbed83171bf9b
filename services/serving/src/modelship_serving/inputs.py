"""Request payloads -> validated float32 model inputs, for both tasks and both protocols.

Everything here raises :class:`modelship_common.errors.InvalidInput` with a message meant for the caller,
and carries a short ``reason`` (used as a metrics label) on the exception.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelship_common.errors import InvalidInput
from modelship_common.schemas import digits, penguins

#: Metric reasons. ``features``: tabular values; ``image``: undecodable image; ``image_size``: too large;
#: ``shape``/``datatype``/``request``: the payload's structure.
REASON_FEATURES = "features"
REASON_IMAGE = "image"
REASON_IMAGE_SIZE = "image_size"
REASON_SHAPE = "shape"
REASON_DATATYPE = "datatype"
REASON_REQUEST = "request"

FLOAT_DATATYPES = {"FP32": np.float32, "FP64": np.float64}
IMAGE_SHAPE = list(digits.INPUT_SHAPE)


def invalid(message: str, reason: str) -> InvalidInput:
    exc = InvalidInput(message)
    exc.reason = reason
    return exc


def reason_of(exc: InvalidInput) -> str:
    return exc.reason or REASON_FEATURES


# --- tabular -------------------------------------------------------------------------------------------


def tabular_rows(instances: Sequence[Any]) -> np.ndarray:
    """V1 rows (dicts of raw columns, raw lists, encoded lists) -> float32 (n, 9).

    Rows that are all valid and all of one form are encoded column-wise (:func:`_uniform_rows`); anything else
    goes to :func:`modelship_common.schemas.penguins.encode_rows`, row by row, which gives the same batch or the
    error that names the row. ``encode_rows`` checks every value in Python: about 5 us a row, most of a 32-row
    request's time besides the model. Every row is checked either way.
    """
    batch = _uniform_rows(instances) if len(instances) >= _COLUMNWISE_ROWS else None
    return batch if batch is not None else penguins.encode_rows(instances)


#: From this many rows on, the column-wise encoding is the faster one (measured on this 2-core box: 1 row about 5
#: vs 9 us, 4 rows even, 32 rows 140-165 vs 28-39 us); fewer rows are encoded row by row.
_COLUMNWISE_ROWS = 4


_N_NUMERIC = len(penguins.NUMERIC_FEATURES)
_N_RAW = len(penguins.RAW_FEATURES)
_RAW_KEYS = frozenset(penguins.RAW_FEATURES)
_ISLAND_COLUMN = {v: _N_NUMERIC + i for i, v in enumerate(penguins.ISLANDS)}
_SEX_COLUMN = {v: _N_NUMERIC + len(penguins.ISLANDS) + i for i, v in enumerate(penguins.SEXES)}
_LOW = np.array([low for low, _ in penguins.NUMERIC_RANGES.values()])
_HIGH = np.array([high for _, high in penguins.NUMERIC_RANGES.values()])


def _uniform_rows(rows: Sequence[Any]) -> np.ndarray | None:
    """``encode_rows(rows)`` when every row is valid and of the first row's form, else None.

    The forms are those of JSON: dicts with exactly the raw columns, raw lists (island first) and 9-value
    encoded lists. Categories must be spelled as in the dataset (``encode_rows`` also accepts other case and
    spaces) and numbers must be ``int`` or ``float`` (not ``bool``); whatever this does not accept is left to
    ``encode_rows``, so the answer and every error message stay exactly its own.
    """
    first = rows[0]
    if type(first) is list and len(first) == penguins.N_FEATURES:
        if not all(type(r) is list and len(r) == penguins.N_FEATURES for r in rows) or not _numbers(rows):
            return None
        try:  # the whole-array check; its error (a bad value) sends the rows to encode_rows for the message
            return penguins.check_matrix(np.array(rows, dtype=np.float64))
        except (InvalidInput, OverflowError):
            return None
    try:
        if type(first) is dict:
            if not all(type(r) is dict and r.keys() == _RAW_KEYS for r in rows):
                return None
            numeric = [[r[name] for name in penguins.NUMERIC_FEATURES] for r in rows]
            islands = [_ISLAND_COLUMN[r["island"]] for r in rows]
            sexes = [_SEX_COLUMN[r["sex"]] for r in rows]
        elif type(first) is list and len(first) == _N_RAW and type(first[0]) is str:
            if not all(type(r) is list and len(r) == _N_RAW for r in rows):
                return None
            numeric = [r[1 : _N_RAW - 1] for r in rows]
            islands = [_ISLAND_COLUMN[r[0]] for r in rows]
            sexes = [_SEX_COLUMN[r[-1]] for r in rows]
        else:
            return None
    except (KeyError, TypeError):  # a category spelled otherwise, or not even a string (unhashable)
        return None
    if not _numbers(numeric):
        return None
    try:
        values = np.array(numeric, dtype=np.float64)
    except OverflowError:  # an int beyond float's range
        return None
    if not ((values >= _LOW) & (values <= _HIGH)).all():  # NaN and infinities fail too
        return None
    out = np.zeros((len(rows), penguins.N_FEATURES), dtype=np.float32)
    out[:, :_N_NUMERIC] = values
    index = np.arange(len(rows))
    out[index, islands] = 1.0
    out[index, sexes] = 1.0
    return out


def _numbers(rows: Sequence[Sequence[Any]]) -> bool:
    """Every value is an ``int`` or a ``float`` (exactly: ``bool`` is an ``int`` that ``encode_rows`` refuses)."""
    return all(type(v) is float or type(v) is int for row in rows for v in row)


def tabular_tensor(array: np.ndarray) -> np.ndarray:
    """A V2 numeric tensor -> validated float32 (n, 9)."""
    if array.ndim != 2 or array.shape[1] != penguins.N_FEATURES:
        raise invalid(
            f"expected shape [n, {penguins.N_FEATURES}] ({', '.join(penguins.FEATURE_NAMES)}), got {list(array.shape)}",
            REASON_SHAPE,
        )
    return penguins.check_matrix(array)


# --- images --------------------------------------------------------------------------------------------


def _b64_image(text: Any, index: int, max_bytes: int) -> np.ndarray:
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise invalid(
                f"instance {index}: expected PNG/JPEG/GIF bytes or their base64 text, got {len(text)} other bytes",
                REASON_IMAGE,
            ) from None
    if not isinstance(text, str):
        raise invalid(f"instance {index}: b64 must be a base64 string, got {type(text).__name__}", REASON_IMAGE)
    # Refuse oversized images before decoding them: base64 carries 3 bytes in every 4 characters.
    approx = len(text) * 3 // 4
    if approx > max_bytes + 3:
        raise invalid(
            f"instance {index}: image is about {approx} bytes; the limit is {max_bytes} bytes", REASON_IMAGE_SIZE
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"instance {index}: b64 is not valid base64 ({exc})", REASON_IMAGE) from exc
    return _raw_image(data, index, max_bytes)


def _pixel_array(value: Any, index: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise invalid(f"instance {index}: pixel arrays must hold only numbers", REASON_DATATYPE) from exc
    if array.shape not in ((digits.IMAGE_SIZE, digits.IMAGE_SIZE), tuple(IMAGE_SHAPE)):
        raise invalid(
            f"instance {index}: expected a 28x28 (or 28x28x1) array of pixels in [0, 1], got shape {list(array.shape)}",
            REASON_SHAPE,
        )
    return array.reshape(IMAGE_SHAPE)


def image_instances(instances: Sequence[Any], max_bytes: int) -> np.ndarray:
    """V1 image instances -> float32 (n, 28, 28, 1).

    An instance is ``{"b64": ...}``, ``{"image_bytes": {"b64": ...}}`` or a 28x28 numeric array.
    """
    if not instances:
        raise invalid("no instances: send at least one image", REASON_REQUEST)
    out = np.empty((len(instances), *IMAGE_SHAPE), dtype=np.float32)
    for index, instance in enumerate(instances):
        if isinstance(instance, dict):
            if "image_bytes" in instance and isinstance(instance["image_bytes"], dict):
                instance = instance["image_bytes"]
            if set(instance) != {"b64"}:
                raise invalid(
                    f'instance {index}: expected {{"b64": "<base64 PNG/JPEG/GIF>"}} or '
                    f'{{"image_bytes": {{"b64": ...}}}}, got keys {sorted(instance)}',
                    REASON_REQUEST,
                )
            out[index] = _b64_image(instance["b64"], index, max_bytes)
        elif isinstance(instance, list):
            out[index] = _pixel_array(instance, index)
        else:
            raise invalid(
                f"instance {index}: expected an object with b64 or a 28x28 array, got {type(instance).__name__}",
                REASON_REQUEST,
            )
    return check_pixels(out)


def check_pixels(batch: np.ndarray) -> np.ndarray:
    """Pixel tensors must be finite and in [0, 1] (what the models were trained on)."""
    if batch.size and not (np.isfinite(batch).all() and batch.min() >= 0.0 and batch.max() <= 1.0):
        raise invalid("pixel values must be finite and in [0, 1]", REASON_FEATURES)
    return batch


def image_tensor(array: np.ndarray) -> np.ndarray:
    """A V2 numeric image tensor -> validated float32 (n, 28, 28, 1)."""
    if array.ndim == 3 and list(array.shape[1:]) == IMAGE_SHAPE[:2]:
        array = array[..., None]
    if array.ndim != 4 or list(array.shape[1:]) != IMAGE_SHAPE or array.shape[0] == 0:
        raise invalid(f"expected shape [n, 28, 28, 1] (n >= 1), got {list(array.shape)}", REASON_SHAPE)
    return check_pixels(np.ascontiguousarray(array, dtype=np.float32))


#: The first bytes of the image formats the models accept: a BYTES element that starts with one is the image.
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def is_image_bytes(value: Any) -> bool:
    """True for raw PNG/JPEG/GIF bytes (none of them starts with what base64 text can start with)."""
    return isinstance(value, bytes | bytearray | memoryview) and bytes(value[:8]).startswith(_IMAGE_MAGIC)


def _raw_image(data: bytes, index: int, max_bytes: int) -> np.ndarray:
    if len(data) > max_bytes:
        raise invalid(
            f"instance {index}: image is {len(data)} bytes; the limit is {max_bytes} bytes", REASON_IMAGE_SIZE
        )
    try:
        return digits.decode_image(data, max_bytes)
    except InvalidInput as exc:
        raise invalid(f"instance {index}: {exc}", REASON_IMAGE) from exc


def image_bytes_tensor(values: Sequence[Any], max_bytes: int) -> np.ndarray:
    """V2 BYTES [n] -> float32 (n, 28, 28, 1).

    An element is the image itself (PNG/JPEG/GIF bytes, as the binary tensor extension and gRPC carry them) or
    its base64 text (as JSON carries it, or as bytes of ASCII text).
    """
    if len(values) == 0:
        raise invalid("no images: send at least one image (its bytes, or base64 text in JSON)", REASON_REQUEST)
    out = np.empty((len(values), *IMAGE_SHAPE), dtype=np.float32)
    for index, value in enumerate(values):
        if is_image_bytes(value):
            out[index] = _raw_image(bytes(value), index, max_bytes)
        else:
            out[index] = _b64_image(value, index, max_bytes)
    return out
