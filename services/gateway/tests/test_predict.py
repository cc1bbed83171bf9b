"""Predictions through a live gateway in front of a real KServe model server (rows, images, storage)."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from modelship_common.db import Prediction
from modelship_common.schemas import digits, penguins
from services.gateway.tests.standin_scoring import score_images, score_tabular
from services.gateway.tests.testkit import LiveGateway

# Live gateways in front of the stand-in model server (a subprocess).
pytestmark = pytest.mark.integration

ROW = dict(penguins.EXAMPLE_ROW)  # a female Gentoo: Biscoe, 45.2 x 14.8 mm, 212 mm, 5,200 g
RAW_LIST = ["Dream", 39.5, 17.4, 186, 3800, "male"]
ENCODED = [46.5, 17.9, 192.0, 3500.0, 0.0, 1.0, 0.0, 1.0, 0.0]
#: The rows above encoded by hand (measurements, then one-hot island Biscoe/Dream/Torgersen and sex female/male),
#: not by the ``encode_rows`` that the gateway and the stand-in server both use.
HAND_ENCODED = {
    repr(ROW): [45.2, 14.8, 212.0, 5200.0, 1.0, 0.0, 0.0, 1.0, 0.0],
    repr(RAW_LIST): [39.5, 17.4, 186.0, 3800.0, 0.0, 1.0, 0.0, 0.0, 1.0],
    repr(ENCODED): ENCODED,
}


def expected_rows(rows: list) -> list[dict]:
    """What the stand-in model answers for ``rows`` (among ROW, RAW_LIST and ENCODED), from the hand-encoded rows."""
    probs = score_tabular(np.asarray([HAND_ENCODED[repr(row)] for row in rows], dtype=np.float32))
    return [
        {
            "class_id": int(row.argmax()),
            "class_name": ("Adelie", "Chinstrap", "Gentoo")[int(row.argmax())],
            "probabilities": {c: float(p) for c, p in zip(("Adelie", "Chinstrap", "Gentoo"), row, strict=True)},
        }
        for row in probs
    ]


def digit_png(seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), dtype=np.float32)
    image[4:24, 12:16] = 1.0  # a "1"
    image += rng.uniform(0, 0.1, size=image.shape).astype(np.float32)
    return digits.encode_png(np.clip(image, 0, 1))


def test_predict_dict_row_matches_the_model_server_exactly(gateway: LiveGateway) -> None:
    response = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "penguins"
    assert body["version"] == "3"
    assert len(body["request_id"]) == 32
    assert body["latency_ms"] > 0
    # Exact equality: the gateway put the very float32 vector on the wire the server computes from the raw row.
    assert body["predictions"] == expected_rows([ROW])


def test_predict_list_rows_raw_and_encoded(gateway: LiveGateway) -> None:
    rows = [RAW_LIST, ENCODED, ROW]
    response = gateway.http.post("/api/models/penguins/predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected_rows(rows)


def test_every_prediction_is_stored(gateway: LiveGateway) -> None:
    single = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).json()
    several = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW, RAW_LIST]}).json()
    image = gateway.http.post(
        "/api/models/digits-fast/predict-image", files={"file": ("one.png", digit_png(), "image/png")}
    ).json()

    engine = sa.create_engine(gateway.settings.database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Prediction)).scalar_one() == 3
    engine.dispose()

    listed = gateway.http.get("/api/predictions").json()
    assert [p["request_id"] for p in listed] == [image["request_id"], several["request_id"], single["request_id"]]

    penguins_rows = gateway.http.get("/api/predictions", params={"model": "penguins"}).json()
    assert [p["request_id"] for p in penguins_rows] == [several["request_id"], single["request_id"]]
    multi, one = penguins_rows
    assert one["source"] == "api"
    assert one["model_name"] == "penguins" and one["model_version"] == "3"
    assert one["n_instances"] == 1
    assert one["predicted_class"] == single["predictions"][0]["class_name"]
    assert one["confidence"] == max(single["predictions"][0]["probabilities"].values())
    assert one["input"] == {"instances": [ROW]}
    assert one["output"] == {"predictions": single["predictions"]}
    assert one["latency_ms"] == single["latency_ms"] or abs(one["latency_ms"] - single["latency_ms"]) < 0.01
    assert multi["n_instances"] == 2
    assert multi["predicted_class"] is None and multi["confidence"] is None

    page = gateway.http.get("/api/predictions", params={"limit": 1, "offset": 1}).json()
    assert [p["request_id"] for p in page] == [several["request_id"]]

    stored_image = listed[0]
    assert stored_image["model_name"] == "digits-fast"
    assert stored_image["input"]["filename"] == "one.png"
    assert stored_image["input"]["bytes"] == len(digit_png())
    assert len(stored_image["input"]["sha256"]) == 64


def test_replayed_request_id_is_stored_once(gateway: LiveGateway) -> None:
    headers = {"X-Request-ID": "replay-1"}
    for _ in range(2):
        response = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["request_id"] == "replay-1"
    stored = gateway.http.get("/api/predictions").json()
    assert [p["request_id"] for p in stored] == ["replay-1"]


def test_predict_image(gateway: LiveGateway) -> None:
    png = digit_png()
    response = gateway.http.post(
        "/api/models/digits-fast/predict-image", files={"file": ("digit.png", png, "image/png")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "digits-fast" and body["version"] == "1"
    probs = score_images(digits.decode_image(png, 10**6)[None])[0]
    (prediction,) = body["predictions"]
    assert prediction["class_id"] == int(probs.argmax())
    assert prediction["class_name"] == digits.CLASSES[int(probs.argmax())]
    assert prediction["probabilities"] == {c: float(p) for c, p in zip(digits.CLASSES, probs, strict=True)}


def test_v1_protocol_gives_the_same_answers(start_gateway) -> None:
    gateway = start_gateway(protocol="v1")
    rows = [ROW, RAW_LIST, ENCODED]
    response = gateway.http.post("/api/models/penguins/predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == "3"
    assert response.json()["predictions"] == expected_rows(rows)
    image = gateway.http.post("/api/models/digits-fast/predict-image", files={"file": ("d.png", digit_png())})
    assert image.status_code == 200, image.text
    models = {m["name"]: m for m in gateway.http.get("/api/models").json()}
    assert models["penguins"]["ready"] is True
