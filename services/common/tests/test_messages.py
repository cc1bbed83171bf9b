"""The image pipeline's messages: ``images.uploaded`` round trip and what a bad one is told."""

from __future__ import annotations

import pytest

from modelship_common.errors import InvalidInput
from modelship_common.messages import UploadedImage


def test_uploaded_image_message_round_trip_and_errors() -> None:
    image = UploadedImage("a" * 36, "ab/x.png", "image/png", "2026-11-22T00:00:00+00:00")
    assert UploadedImage.from_message(image.to_message()) == image
    for bad, why in [
        ([], "JSON object"),
        ({"storage_key": "k"}, "image_id"),
        ({"image_id": "x" * 37, "storage_key": "k"}, "longer"),
        ({"image_id": "x", "storage_key": ""}, "storage_key"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            UploadedImage.from_message(bad)
