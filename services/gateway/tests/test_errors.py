"""Every error is JSON {"detail": "..."} with the right status code."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from services.gateway.tests.test_predict import ROW, digit_png
from services.gateway.tests.testkit import LiveGateway

# Live gateways in front of the stand-in model server (a subprocess).
pytestmark = pytest.mark.integration


def assert_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail, detail


def write_endpoint(directory: Path, name: str, url: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps({"name": name, "url": url}))


def test_unknown_model_is_404(gateway: LiveGateway) -> None:
    assert_error(gateway.http.post("/api/models/nope/predict", json={"instances": [ROW]}), 404, "'nope'", "penguins")
    files = {"file": ("d.png", digit_png(), "image/png")}
    assert_error(gateway.http.post("/api/models/nope/predict-image", files=files), 404, "'nope'")


def test_bad_rows_are_422_with_the_schema_message(gateway: LiveGateway) -> None:
    bad = dict(ROW, island="Atlantis")
    assert_error(
        gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW, bad]}),
        422,
        "row 1: island='Atlantis' is not one of Biscoe, Dream, Torgersen",
    )
    assert_error(
        gateway.http.post("/api/models/penguins/predict", json={"instances": [dict(ROW, body_mass_g=1)]}),
        422,
        "body_mass_g=1 is outside the valid range",
    )
    assert_error(gateway.http.post("/api/models/penguins/predict", json={"instances": []}), 422, "no rows")
    assert_error(gateway.http.post("/api/models/penguins/predict", json={"rows": [ROW]}), 422, "instances")
    assert_error(gateway.http.post("/api/models/penguins/predict", content=b"{not json"), 422)
    assert gateway.http.get("/api/predictions").json() == []


def test_too_large_upload_is_413(start_gateway) -> None:
    gateway = start_gateway(max_upload_bytes=1000)
    big = digit_png() + b"\0" * 2000
    assert_error(
        gateway.http.post("/api/models/digits-fast/predict-image", files={"file": ("d.png", big)}),
        413,
        "limit of 1000 bytes",
    )
    # Far beyond the limit: refused from the Content-Length alone.
    huge = b"\0" * (200 * 1024)
    assert_error(gateway.http.post("/api/models/digits-fast/predict-image", files={"file": ("d.png", huge)}), 413)


def test_undecodable_image_is_400(gateway: LiveGateway) -> None:
    url = "/api/models/digits-fast/predict-image"
    assert_error(gateway.http.post(url, files={"file": ("x.png", b"this is not an image")}), 400, "cannot decode")
    assert_error(gateway.http.post(url, files={"file": ("x.png", b"")}), 400, "empty image")
    assert_error(gateway.http.post(url, data={"other": "field"}), 422, "file")


def test_model_server_failure_is_502_with_its_message(gateway: LiveGateway) -> None:
    assert_error(gateway.http.post("/api/models/broken/predict", json={"instances": [ROW]}), 502, "broken on purpose")


def test_unreachable_model_server_is_502(gateway: LiveGateway, dead_url: str) -> None:
    write_endpoint(gateway.settings.discovery_dir, "gone", dead_url)
    assert_error(gateway.http.post("/api/models/gone/predict", json={"instances": [ROW]}), 502, "unreachable")
    models = {m["name"]: m for m in gateway.http.get("/api/models").json()}
    assert models["gone"]["ready"] is False and models["gone"]["version"] is None


def test_model_server_4xx_is_relayed(gateway: LiveGateway, standin_url: str) -> None:
    # An image sent to a tabular model: the model server's 400 and its reason come back.
    response = gateway.http.post("/api/models/penguins/predict-image", files={"file": ("d.png", digit_png())})
    assert_error(response, 400, "expected FP32")
    # A discovered name the model server does not serve: its 404 comes back.
    write_endpoint(gateway.settings.discovery_dir, "ghost", standin_url)
    assert_error(gateway.http.post("/api/models/ghost/predict", json={"instances": [ROW]}), 404, "ghost")
    assert gateway.http.get("/api/predictions").json() == []


def test_unknown_route_is_json_404(gateway: LiveGateway) -> None:
    assert_error(gateway.http.get("/nowhere"), 404)
