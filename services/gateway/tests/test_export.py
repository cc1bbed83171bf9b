"""``GET /api/predictions.csv``: the stored predictions as CSV, with the dashboard's filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from services.gateway.tests.test_predict import ROW, digit_png
from services.gateway.tests.testkit import LiveGateway

# A live gateway in front of the stand-in model server (a subprocess).
pytestmark = pytest.mark.integration

# The documented column order (written out here, not imported: this is the contract the route must keep).
HEADER = (  # noqa: SIM905  (one line of text, as the CSV's header line reads)
    "id,created_at,request_id,source,model_name,model_version,n_instances,predicted_class,confidence,latency_ms,"
    "input,output"
).split(",")


def export(gateway: LiveGateway, **params: str) -> list[dict[str, str]]:
    response = gateway.http.get("/api/predictions.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="predictions.csv"' in response.headers["content-disposition"]
    reader = csv.reader(io.StringIO(response.text))
    header, *rows = list(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_export_has_every_stored_prediction_newest_first(gateway: LiveGateway) -> None:
    single = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).json()
    several = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW, ROW]}).json()
    image = gateway.http.post(
        "/api/models/digits-fast/predict-image", files={"file": ("one.png", digit_png(), "image/png")}
    ).json()

    rows = export(gateway)
    assert [r["request_id"] for r in rows] == [image["request_id"], several["request_id"], single["request_id"]]
    listed = {p["request_id"]: p for p in gateway.http.get("/api/predictions").json()}
    for row in rows:
        stored = listed[row["request_id"]]
        created = dt.datetime.fromisoformat(row["created_at"])
        assert created.utcoffset() == dt.timedelta(0), row["created_at"]
        assert abs(created - dt.datetime.fromisoformat(stored["created_at"]).replace(tzinfo=dt.UTC)) < dt.timedelta(
            milliseconds=1
        )
        assert int(row["id"]) == stored["id"] and row["model_name"] == stored["model_name"]
        assert int(row["n_instances"]) == stored["n_instances"]
        assert json.loads(row["input"]) == stored["input"] and json.loads(row["output"]) == stored["output"]
        assert float(row["latency_ms"]) == pytest.approx(stored["latency_ms"])
    one = rows[2]
    assert one["predicted_class"] == single["predictions"][0]["class_name"]
    assert float(one["confidence"]) == max(single["predictions"][0]["probabilities"].values())
    assert rows[1]["predicted_class"] == "" and rows[1]["confidence"] == ""  # two rows: no single class

    assert [r["request_id"] for r in export(gateway, model="penguins")] == [several["request_id"], single["request_id"]]
    assert [r["request_id"] for r in export(gateway, **{"class": one["predicted_class"], "model": "penguins"})] == [
        single["request_id"]
    ]
    assert [r["request_id"] for r in export(gateway, limit="1")] == [image["request_id"]]
    today = dt.datetime.now(dt.UTC).date()
    assert len(export(gateway, date_from=today.isoformat(), date_to=today.isoformat())) == 3
    assert export(gateway, date_from=(today + dt.timedelta(days=1)).isoformat()) == []
    assert export(gateway, source="stream") == []


@pytest.mark.parametrize(
    "params",
    [{"date_from": "yesterday"}, {"limit": "0"}, {"limit": "100001"}],
    ids=["bad-date", "limit-0", "limit-big"],
)
def test_export_rejects_bad_filters_with_a_json_422(gateway: LiveGateway, params: dict[str, str]) -> None:
    response = gateway.http.get("/api/predictions.csv", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"], response.text
