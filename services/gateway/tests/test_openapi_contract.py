"""The gateway's OpenAPI document is the truth: schemathesis, every check and every phase (examples, coverage,
fuzzing, stateful), against a live gateway in front of the stand-in model server, on SQLite and on PostgreSQL.

The harness (seed, bounds, phases) is :mod:`devtools.contract`'s. Any server error or contract violation
(undocumented status, body or content type off the document, schema-valid data rejected, invalid data accepted)
fails the test.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import strategies as st
from PIL import Image

from devtools import contract, servers
from devtools.contract import lazy_schema_node_id  # noqa: F401  (the fixture, found here by pytest)
from modelship_common.db import make_engine
from modelship_common.rollout import parse_rollout_spec, record_decision, start_rollout
from modelship_gateway.settings import GatewaySettings
from services.conftest import STANDIN_MODELS
from services.gateway.tests.testkit import LiveGateway, free_port

pytestmark = pytest.mark.integration

#: Per operation and generation mode in the fuzzing phase; the examples and coverage phases add their own cases.
MAX_EXAMPLES = 20
#: Stateful scenarios, each at most this many calls.
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 6

#: The stand-in's working models; its ``broken`` one answers 500 on purpose (test_predict covers the 502).
SERVED = {name: kind for name, (_, kind) in STANDIN_MODELS.items() if kind != "broken"}

# A model server rejects schema-valid input that its kind of model cannot take (rows sent to an image model, an
# image to a tabular one): 400, documented, and no schema can tell the kinds apart by name.
CONFIG = contract.config(
    max_examples=MAX_EXAMPLES, loose_paths="^/api/models/\\{name\\}/predict", loose_statuses=["400", "404"]
)


def encode_image(pixels: bytes, fmt: str) -> bytes:
    """784 bytes of pixels as a 28x28 grayscale image file in ``fmt`` (PNG, JPEG, GIF)."""
    out = io.BytesIO()
    Image.fromarray(np.frombuffer(pixels, dtype=np.uint8).reshape(28, 28), mode="L").save(out, format=fmt)
    return out.getvalue()


def _image(fmt: str) -> st.SearchStrategy[bytes]:
    """Real 28x28 grayscale images in ``fmt``, from drawn pixels."""
    return st.binary(min_size=28 * 28, max_size=28 * 28).map(lambda pixels: encode_image(pixels, fmt))


# The upload routes declare these media types for their file field; without a strategy schemathesis would send
# arbitrary bytes, which the routes rightly answer with 400.
schemathesis.openapi.media_type("image/png", _image("PNG"))
schemathesis.openapi.media_type("image/jpeg", _image("JPEG"))
schemathesis.openapi.media_type("image/gif", _image("GIF"))


def seed_rollouts(database_url: str) -> None:
    """A rolled-back canary and an active one (judged live on every read), so the rollout routes answer items."""
    engine = make_engine(database_url)
    try:
        spec = parse_rollout_spec({"strategy": "Canary"})
        old = start_rollout(engine, model_name="penguins", champion_version="3", candidate_version="4", spec=spec)
        record_decision(engine, old, "rollback", reason="contract test")
        start_rollout(engine, model_name="penguins", champion_version="3", candidate_version="5", spec=spec)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def contract_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, standin_url: str
) -> Iterator[LiveGateway]:
    """A live gateway on the stand-in's working models, MLflow unreachable; its database per ``params``."""
    home: Path = tmp_path_factory.mktemp(f"contract-{request.param}")
    if request.param == "postgresql":
        database_url = servers.create_database(request.getfixturevalue("postgres"), f"c_{uuid.uuid4().hex[:12]}")
    else:
        database_url = f"sqlite:///{home / 'predictions.db'}"
    settings = GatewaySettings(
        database_url=database_url,
        model_servers={name: standin_url for name in SERVED},
        discovery_dir=home / "endpoints",
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        registry_timeout_s=20.0,
    )
    with LiveGateway(settings) as gateway:
        # Something stored before the first listing, so the listings' items are checked too.
        row = {"instances": [["Dream", 39.5, 17.4, 186, 3800, "female"]]}
        assert gateway.http.post("/api/models/penguins/predict", json=row).status_code == 200
        seed_rollouts(database_url)
        yield gateway


@pytest.fixture(scope="module")
def contract_schema(contract_gateway: LiveGateway) -> Any:
    return schemathesis.openapi.from_url(f"{contract_gateway.url}/openapi.json", config=CONFIG)


def test_the_document_names_one_error_body(contract_gateway: LiveGateway) -> None:
    """Every 4xx and 5xx of every route is documented as ErrorBody; FastAPI's HTTPValidationError is gone."""
    document = contract_gateway.http.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            assert "500" in operation["responses"], (method, path)


def test_upload_names_the_database_cannot_hold(contract_gateway: LiveGateway) -> None:
    """A NUL in the file name is dropped, in the uploader's name refused: PostgreSQL text cannot hold one, and the
    failed insert was answered 503 as if the database were down."""
    png = encode_image(bytes(range(256)) * 3 + bytes(16), "PNG")
    # By hand: httpx would percent-encode the NUL in the file name.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--b--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    response = contract_gateway.http.post("/api/images", content=body, headers=headers)
    assert response.status_code == 202, response.text
    image = contract_gateway.http.get(response.json()["url"]).json()
    assert image["filename"] == "ab.png"
    assert image["created_at"].endswith(("Z", "+00:00")), image["created_at"]
    response = contract_gateway.http.post(
        "/api/images", params={"source": "a\x00"}, files={"file": ("a.png", png, "image/png")}
    )
    assert response.status_code == 422, response.text


# Every operation's cases, each answer validated; then chains of calls along the links schemathesis infers
# (upload an image, then read it back, ...).
test_every_operation_keeps_the_contract, test_stateful_scenarios_keep_the_contract = contract.contract_tests(
    scenarios=STATEFUL_SCENARIOS, steps=STATEFUL_STEPS
)
